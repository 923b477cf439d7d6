"""Save and load autoencoders together with their training configuration.

A checkpoint is a ``torch.save`` file holding one dict of tensors and plain Python types only::

    {
        "format_version": 1,
        "aeutils_version": "0.1.0",
        "class_name": "MLPAutoencoder",     # a key of aeutils.models.MODEL_CLASSES
        "init_kwargs": {...},               # model.init_kwargs
        "state_dict": {...},                # model.state_dict()
        "config": {...} or None,            # dataclasses.asdict(TrainConfig) or a dict
        "extra": {...} or None,             # anything else: history, metrics, notes
    }

Because nothing else is stored, :func:`load_checkpoint` reads files with
``torch.load(weights_only=True)``, which never runs code from the file: a file that contains
other pickled objects is refused with a ``ValueError``. :func:`save_checkpoint` checks ``config``
and ``extra`` up front so that what it writes can always be read back.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from aeutils.models import MODEL_CLASSES, Autoencoder

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]

FORMAT_VERSION = 1
_REQUIRED_KEYS = ("class_name", "init_kwargs", "state_dict")
_PLAIN_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_SAFE_OBJECTS = (torch.Tensor, torch.device, torch.dtype)

MapLocation = str | torch.device | Mapping[str, str] | Callable[..., Any] | None


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns.

    Attributes:
        model: The rebuilt model with its saved weights, in eval mode.
        config: The training configuration as a plain dict, or None if none was saved.
        extra: The ``extra`` dict given to :func:`save_checkpoint`, or None.
        aeutils_version: The aeutils version that wrote the file (None if not recorded).
    """

    model: Autoencoder
    config: dict[str, Any] | None
    extra: dict[str, Any] | None
    aeutils_version: str | None = None


def _aeutils_version() -> str:
    try:
        return metadata.version("aeutils")
    except metadata.PackageNotFoundError:
        return "unknown"


def _check_plain(value: Any, where: str) -> None:
    """Raise TypeError unless ``value`` is made of tensors and plain Python types only.

    These are the types ``torch.load(weights_only=True)`` accepts. Exact types are required:
    e.g. ``numpy.float64`` (a ``float`` subclass) would be refused when loading.
    """
    if type(value) in _PLAIN_SCALARS or isinstance(value, _SAFE_OBJECTS):
        return
    if type(value) in (list, tuple, set):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) not in _PLAIN_SCALARS:
                raise TypeError(
                    f"{where} has a key of type {type(key).__name__} ({key!r}); "
                    "checkpoint keys must be str, int, float, bool or None"
                )
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"{where} has type {type(value).__module__}.{type(value).__qualname__}, which "
        "torch.load(weights_only=True) cannot read back; use tensors and plain Python types "
        "(None, bool, int, float, str, list, tuple, dict), e.g. float(x) or array.tolist()"
    )


def _config_dict(config: Any) -> dict[str, Any] | None:
    """Convert a dataclass instance (e.g. TrainConfig) or a mapping to a plain dict."""
    if config is None:
        return None
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return dict(config)
    raise TypeError(
        "config must be a dataclass instance (e.g. TrainConfig), a dict or None; "
        f"got {type(config).__name__}"
    )


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Autoencoder,
    config: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Save a model, its constructor arguments and (optionally) its training config.

    The file is written to a temporary file next to ``path`` and then renamed, so an
    interrupted save never leaves a half-written checkpoint behind. Parent folders are created.

    Args:
        path: Destination file, conventionally ending in ``.pt``.
        model: A model whose class is registered in ``aeutils.models.MODEL_CLASSES``.
        config: The training configuration: a dataclass instance such as ``TrainConfig``
            (stored via ``dataclasses.asdict``), a dict, or None.
        extra: Anything else to keep (history, metrics, notes), made of tensors and plain
            Python types.

    Returns:
        The path written, as a ``Path``.

    Raises:
        TypeError: If ``model`` is not a registered autoencoder, or ``config``/``extra``
            contain values that ``torch.load(weights_only=True)`` could not read back.
    """
    class_name = type(model).__name__
    if not isinstance(model, Autoencoder) or MODEL_CLASSES.get(class_name) is not type(model):
        raise TypeError(
            "model must be an instance of a class in aeutils.models.MODEL_CLASSES "
            f"({', '.join(sorted(MODEL_CLASSES))}); got {type(model).__module__}.{class_name}"
        )
    config_dict = _config_dict(config)
    if extra is not None and not isinstance(extra, Mapping):
        raise TypeError(f"extra must be a dict or None; got {type(extra).__name__}")
    extra_dict = None if extra is None else dict(extra)
    _check_plain(model.init_kwargs, "model.init_kwargs")
    _check_plain(config_dict, "config")
    _check_plain(extra_dict, "extra")

    payload = {
        "format_version": FORMAT_VERSION,
        "aeutils_version": _aeutils_version(),
        "class_name": class_name,
        "init_kwargs": dict(model.init_kwargs),
        "state_dict": model.state_dict(),
        "config": config_dict,
        "extra": extra_dict,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _read_payload(path: Path, map_location: MapLocation) -> Any:
    """``torch.load(weights_only=True)`` with the failure modes turned into ValueErrors."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        message = str(err)
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", message)
        if refused:
            raise ValueError(
                f"checkpoint '{path}' contains a pickled object ({refused.group(1)}) that "
                "torch.load(weights_only=True) refuses to load; aeutils checkpoints hold only "
                "tensors and plain Python types, so this file was not written by "
                "save_checkpoint (or was altered). Load it with torch.load(weights_only=False) "
                "only if you trust its source."
            ) from err
        first_line = message.strip().splitlines()[0] if message.strip() else "no details"
        raise ValueError(
            f"checkpoint '{path}' could not be read: the file is corrupt, truncated or not a "
            f"PyTorch checkpoint ({type(err).__name__}: {first_line})"
        ) from err


def load_checkpoint(path: str | os.PathLike[str], map_location: MapLocation = "cpu") -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` and rebuild the model.

    The file is read with ``torch.load(weights_only=True)``, so loading never executes code
    from the file. The model is rebuilt as ``MODEL_CLASSES[class_name](**init_kwargs)``, its
    weights are loaded strictly, it is moved to ``map_location`` when that is a device, and it
    is returned in eval mode (call ``.train()`` to continue training).

    Args:
        path: The checkpoint file.
        map_location: Passed to ``torch.load`` (a device, a device string, a dict or a
            function); when it is a device or a string, the model is moved there as well.

    Returns:
        A :class:`Checkpoint` with ``model``, ``config`` (plain dict or None), ``extra`` and
        ``aeutils_version``.

    Raises:
        FileNotFoundError: If ``path`` does not exist or is not a file.
        ValueError: If the file is corrupt or not a PyTorch file, contains objects that
            ``weights_only=True`` refuses, lacks the checkpoint keys, names a model class that is
            not in ``MODEL_CLASSES``, or its weights do not fit the rebuilt model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: '{path}'")
    payload = _read_payload(path, map_location)

    if not isinstance(payload, dict):
        raise ValueError(
            f"checkpoint '{path}' holds a {type(payload).__name__}, not the dict written by "
            "aeutils.checkpoints.save_checkpoint"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in payload]
    if missing:
        raise ValueError(
            f"checkpoint '{path}' is missing the keys {missing}; it was not written by "
            "aeutils.checkpoints.save_checkpoint (for a bare state_dict, build the model "
            "yourself and call model.load_state_dict)"
        )
    class_name = payload["class_name"]
    if not isinstance(class_name, str) or class_name not in MODEL_CLASSES:
        raise ValueError(
            f"checkpoint '{path}' names the model class {class_name!r}, which is not in "
            f"aeutils.models.MODEL_CLASSES (known: {', '.join(sorted(MODEL_CLASSES))})"
        )
    init_kwargs = payload["init_kwargs"]
    if not isinstance(init_kwargs, dict):
        raise ValueError(
            f"checkpoint '{path}' has init_kwargs of type {type(init_kwargs).__name__}; "
            "expected a dict"
        )
    try:
        model = MODEL_CLASSES[class_name](**init_kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"checkpoint '{path}': could not rebuild {class_name}(**{init_kwargs!r}): {err}"
        ) from err
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ValueError(
            f"checkpoint '{path}': the saved state_dict does not fit {class_name}"
            f"(**{init_kwargs!r}): {err}"
        ) from err
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    model.eval()
    return Checkpoint(
        model=model,
        config=payload.get("config"),
        extra=payload.get("extra"),
        aeutils_version=payload.get("aeutils_version"),
    )

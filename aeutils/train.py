"""One training loop for every autoencoder in the book.

Plain, sparse, denoising and contractive autoencoders differ only in their objective,
so they share :func:`fit`. An objective is any function ``loss_fn(model, x)`` returning
either a scalar tensor or a dict of scalar tensors with a ``"loss"`` key (the one that is
minimised); every key is logged per epoch, averaged over samples (not over batches).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from aeutils.loader import TensorLoader
from aeutils.losses import LossFn
from aeutils.validation import check_bool, check_int, check_real

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "History",
    "NonFiniteLossError",
    "TrainConfig",
    "encode_all",
    "evaluate",
    "fit",
    "pick_device",
    "reconstruct_all",
    "seed_everything",
]


class NonFiniteLossError(FloatingPointError):
    """Raised by :func:`fit` when a loss was NaN or infinite, naming the first such batch.

    :func:`fit` checks the losses once per epoch (not after every batch, which would make the
    loop wait for the device), so the error comes at the end of the epoch in which the first
    non-finite loss occurred; the model has then taken that epoch's remaining steps too.
    """


def pick_device(preferred: str | None = None) -> torch.device:
    """Return ``preferred`` if given, else CUDA, else Apple MPS, else CPU."""
    if preferred is not None:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (libraries still draw from the global RNG)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _default_progress() -> bool:
    return os.environ.get("AEUTILS_PROGRESS", "1").strip().lower() not in {"0", "false", "no"}


@dataclass(frozen=True)
class TrainConfig:
    """Everything :func:`fit` needs besides the model, the data and the objective.

    Args:
        epochs: Passes over the training data.
        lr: Adam's learning rate.
        weight_decay: L2 penalty coefficient, added to the gradient by Adam
            (``torch.optim.Adam(weight_decay=...)``, the classical coupled form).
        batch_size: Samples per optimisation step.
        device: ``"cuda"``, ``"mps"``, ``"cpu"``... ``None`` picks CUDA, then MPS, then CPU.
        seed: Seeds every generator at the start of :func:`fit` (shuffling and noise).
        grad_clip: Clip the global gradient norm to this value; ``None`` disables it.
        amp: Mixed precision (bfloat16 autocast) on CUDA; ignored on other devices.
        progress: Show a progress bar (tqdm: a widget in Jupyter, text elsewhere).
            Defaults to on unless the environment variable ``AEUTILS_PROGRESS=0``.

    Raises:
        TypeError: If a number has the wrong type (``epochs=2.0``, ``batch_size=True``, a string)
            or ``amp``/``progress`` is not a bool.
        ValueError: On a non-positive ``epochs``, ``lr`` or ``batch_size``, a negative
            ``weight_decay``, a non-positive ``grad_clip``, or a value that is not finite.
    """

    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    device: str | None = None
    seed: int = 0
    grad_clip: float | None = None
    amp: bool = False
    progress: bool = field(default_factory=_default_progress)

    def __post_init__(self) -> None:
        check_int(self.epochs, "epochs", minimum=1)
        check_real(self.lr, "lr", minimum=0, low_open=True)
        check_real(self.weight_decay, "weight_decay", minimum=0)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_int(self.seed, "seed")
        if self.grad_clip is not None:
            check_real(self.grad_clip, "grad_clip", minimum=0, low_open=True)
        check_bool(self.amp, "amp")
        check_bool(self.progress, "progress")


@dataclass
class History:
    """Per-epoch, sample-weighted averages of every key the objective returned.

    Attributes:
        train: ``{"loss": [epoch 1, epoch 2, ...], "recon": [...], ...}`` on training data.
        val: The same on validation data (empty when no validation data was given).
        epoch_seconds: Wall time of each epoch, validation included.
    """

    train: dict[str, list[float]] = field(default_factory=dict)
    val: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.epoch_seconds)

    @property
    def seconds(self) -> float:
        """Total training time in seconds."""
        return float(sum(self.epoch_seconds))

    def plot(self, keys: list[str] | None = None) -> Figure:
        """Training (and validation) curves, one panel per key; returns the Figure."""
        from aeutils.plotting import training_curves

        return training_curves(self, keys=keys)


def _as_loader(
    data: Tensor | TensorLoader | tuple[Tensor, ...],
    batch_size: int,
    shuffle: bool,
    device: torch.device,
    seed: int | None,
) -> TensorLoader:
    if isinstance(data, TensorLoader):
        if data.device != device:
            raise ValueError(
                f"the TensorLoader keeps its data on {data.device} but training runs on {device}: "
                f"build it with device={str(device)!r}"
            )
        return data
    if isinstance(data, Tensor):
        data = (data,)
    if isinstance(data, tuple | list) and data and all(isinstance(t, Tensor) for t in data):
        return TensorLoader(*data, batch_size=batch_size, shuffle=shuffle, device=device, seed=seed)
    raise TypeError(
        f"data must be a Tensor, a tuple of Tensors or a TensorLoader, got {type(data).__name__}"
    )


def _as_dict(out: Tensor | Mapping[str, Tensor]) -> Mapping[str, Tensor]:
    if isinstance(out, Tensor):
        return {"loss": out}
    if isinstance(out, Mapping) and "loss" in out:
        return out
    raise TypeError(
        "loss_fn(model, x) must return a scalar tensor or a dict with a 'loss' key, "
        f"got {type(out).__name__}"
        + (f" with keys {sorted(out)}" if isinstance(out, Mapping) else "")
    )


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        # The fused kernel updates all parameters at once: on a 2-core CPU it makes an
        # MLP autoencoder's step about 1.4x faster than the default per-tensor loop.
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError):  # devices or torch versions without the fused kernel
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


class _EpochLog:
    """Per-batch values of every key, kept on their device until the end of the epoch.

    Adding a batch costs a ``detach`` and two list appends per key: no arithmetic and no copy
    to the host, so the training loop never waits for the device. Every ``_CHUNK`` batches the
    pending values of a key are stacked into one tensor (one operation on the device), so a
    long epoch keeps a few tensors alive, not one per batch. :meth:`result` copies everything to
    the host once (one synchronisation per epoch) and averages it there in float64.
    """

    _CHUNK = 256

    def __init__(self) -> None:
        self.pending: dict[str, list[Tensor]] = {}
        self.chunks: dict[str, list[Tensor]] = {}
        self.sizes: dict[str, list[int]] = {}
        self.count = 0

    def add(self, values: Mapping[str, Tensor], n: int) -> None:
        for key, value in values.items():
            pending = self.pending.get(key)
            if pending is None:
                pending = self.pending[key] = []
                self.chunks[key], self.sizes[key] = [], []
            pending.append(value.detach())
            self.sizes[key].append(n)
            if len(pending) == self._CHUNK:
                self._flush(key)
        self.count += n

    def _flush(self, key: str) -> None:
        pending = self.pending[key]
        if pending:
            self.chunks[key].append(torch.stack(pending).reshape(len(pending), -1))
            pending.clear()

    def values(self) -> dict[str, Tensor]:
        """Every key's per-batch values, in batch order, as float64 tensors on the CPU."""
        out = {}
        for key in self.pending:
            self._flush(key)
            stacked = torch.cat([c.detach().to("cpu", torch.float64) for c in self.chunks[key]])
            if stacked.shape[1] != 1:
                raise TypeError(
                    f"loss_fn(model, x) must return scalar tensors, got {key!r} with "
                    f"{stacked.shape[1]} elements"
                )
            out[key] = stacked[:, 0]
        return out

    def result(self, values: Mapping[str, Tensor] | None = None) -> dict[str, float]:
        """Sample-weighted means of every key (of ``values``, as given by :meth:`values`)."""
        values = self.values() if values is None else values
        return {
            key: float((v * torch.tensor(self.sizes[key], dtype=torch.float64)).sum()) / self.count
            for key, v in values.items()
        }


def _check_finite(losses: Tensor, epoch: int, lr: float) -> None:
    """Raise NonFiniteLossError naming the first batch of ``losses`` that is NaN or infinite."""
    bad = torch.nonzero(~torch.isfinite(losses))
    if len(bad):
        batch = int(bad[0, 0])
        raise NonFiniteLossError(
            f"loss became {float(losses[batch])} at epoch {epoch}, batch {batch} "
            f"(of {len(losses)}): lower the learning rate ({lr}), "
            "clip gradients (grad_clip) or check the inputs"
        )


def fit(
    model: nn.Module,
    data: Tensor | TensorLoader | tuple[Tensor, ...],
    loss_fn: LossFn,
    config: TrainConfig | None = None,
    *,
    val_data: Tensor | TensorLoader | tuple[Tensor, ...] | None = None,
) -> History:
    """Train ``model`` in place to minimise ``loss_fn`` with Adam; return its history.

    Args:
        model: Any ``nn.Module``; moved to the configured device.
        data: Training inputs: a tensor (batched and shuffled here with
            :class:`~aeutils.loader.TensorLoader`), a tuple of tensors whose first is
            the input, or a ready ``TensorLoader`` on the training device.
        loss_fn: ``loss_fn(model, x)`` returning a scalar tensor or a dict with a
            ``"loss"`` key (see :mod:`aeutils.losses` for the book's objectives).
        config: A :class:`TrainConfig`; ``TrainConfig()`` if omitted.
        val_data: Optional validation inputs, scored after every epoch with
            :func:`evaluate`.

    Returns:
        A :class:`History` of per-epoch, sample-weighted averages of every key.

    Raises:
        NonFiniteLossError: At the end of the epoch in which a loss was NaN or infinite,
            naming that epoch and its first such batch.
        TypeError: If ``data`` or the objective's return value has the wrong type.

    Shape:
        - data: ``(N, *input_shape)``; each batch ``x`` is ``(B, *input_shape)``.
    """
    config = config or TrainConfig()
    device = pick_device(config.device)
    seed_everything(config.seed)
    model.to(device)
    loader = _as_loader(data, config.batch_size, shuffle=True, device=device, seed=config.seed)
    optimizer = _make_optimizer(model, config)
    use_amp = config.amp and device.type == "cuda"
    history = History()

    bar = tqdm(
        range(1, config.epochs + 1),
        desc="epochs",
        unit="epoch",
        disable=not config.progress,
        dynamic_ncols=True,
    )
    # Nothing in the loop copies a value to the host: per-batch logs stay on the device and the
    # loss is checked once per epoch, so the loop never waits for the device to catch up.
    autocast = (
        functools.partial(torch.autocast, device.type, dtype=torch.bfloat16)
        if use_amp
        else contextlib.nullcontext
    )
    params = [p for p in model.parameters() if p.requires_grad]
    # Validation data moves to the device once, not once per epoch.
    val_loader = None
    if val_data is not None:
        val_batch = max(config.batch_size, 1024)
        val_loader = _as_loader(val_data, val_batch, shuffle=False, device=device, seed=0)
    try:
        for epoch in bar:
            start = time.perf_counter()
            model.train()
            log = _EpochLog()
            for x, *_ in loader:
                with autocast():
                    out = _as_dict(loss_fn(model, x))
                loss = out["loss"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(params, config.grad_clip)
                optimizer.step()
                log.add(out, x.shape[0])
            values = log.values()
            _check_finite(values["loss"], epoch, config.lr)
            for key, value in log.result(values).items():
                history.train.setdefault(key, []).append(value)
            if val_loader is not None:
                scores = evaluate(model, val_loader, loss_fn)
                for key, value in scores.items():
                    history.val.setdefault(key, []).append(value)
            history.epoch_seconds.append(time.perf_counter() - start)
            postfix = {"loss": f"{history.train['loss'][-1]:.4g}"}
            if history.val:
                postfix["val_loss"] = f"{history.val['loss'][-1]:.4g}"
            bar.set_postfix(postfix)
    finally:
        bar.close()
    model.eval()
    return history


def _device_of(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def evaluate(
    model: nn.Module,
    data: Tensor | TensorLoader | tuple[Tensor, ...],
    loss_fn: LossFn,
    *,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Score ``model`` on ``data`` with ``loss_fn``, in eval mode and without gradients.

    Objectives that need gradients inside (the contractive penalty) enable them
    themselves; nothing here updates the model.

    Args:
        model: The model to score; stays on its device.
        data: A tensor, a tuple whose first tensor is the input, or a TensorLoader.
        loss_fn: As for :func:`fit`.
        batch_size: Samples per forward pass.

    Returns:
        Sample-weighted averages of every key returned by ``loss_fn``.

    Shape:
        - data: ``(N, *input_shape)``.
    """
    device = _device_of(model)
    loader = _as_loader(data, batch_size, shuffle=False, device=device, seed=0)
    was_training = model.training
    model.eval()
    log = _EpochLog()
    with torch.no_grad():
        for x, *_ in loader:
            log.add(_as_dict(loss_fn(model, x)), x.shape[0])
    model.train(was_training)
    return log.result()


def _batched(
    fn: Callable[[Tensor], Tensor], model: nn.Module, x: Tensor, batch_size: int
) -> Tensor:
    device = _device_of(model)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        outs = [fn(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outs)


def encode_all(model: nn.Module, x: Tensor, *, batch_size: int = 1024) -> Tensor:
    """Codes of a whole data set, computed in batches on the model's device.

    Shape:
        - x: ``(N, *input_shape)``
        - returns: ``(N, code_size)`` on the CPU.
    """
    return _batched(model.encode, model, x, batch_size)


def reconstruct_all(model: nn.Module, x: Tensor, *, batch_size: int = 1024) -> Tensor:
    """Reconstructions of a whole data set, computed in batches on the model's device.

    Shape:
        - x: ``(N, *input_shape)``
        - returns: ``(N, *input_shape)`` on the CPU.
    """
    return _batched(model, model, x, batch_size)

"""Records of runs: where, when and how a number was produced, written as JSON one way.

Every committed result of the project (the reproductions under ``reproductions/results/``, the
benchmarks under ``benchmarks/results/``) is a JSON object written by :func:`write_record`: the
run's own fields plus the keys of :func:`provenance`, which every record carries:

``device`` (``"cuda"``, ``"mps"``, ``"cpu"``), ``device_name`` (the GPU's name, or the CPU model
and its core count; never empty), ``cpu_cores``, ``torch_threads``, ``load_average`` (the machine's
1, 5 and 15-minute load when the record was written, ``None`` where the system does not report it
or, in three reproduction records older than the field, where it was not recorded), ``versions``
(python, torch, numpy, sklearn, aeutils), ``git_commit`` and ``git_dirty`` (whether the code
differed from that commit; both ``None`` outside a git checkout), ``date_utc`` (ISO 8601) and
``command`` (the command line, from the repository root).

:func:`write_record` refuses a record that lacks one of these keys or has an empty device name,
converts NumPy and torch values to plain JSON, and never prints.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "PROVENANCE_KEYS",
    "command_line",
    "device_name",
    "git_commit",
    "git_dirty",
    "provenance",
    "repository_root",
    "to_json",
    "write_record",
]

#: The keys :func:`provenance` returns and :func:`write_record` requires.
PROVENANCE_KEYS: tuple[str, ...] = (
    "device",
    "device_name",
    "cpu_cores",
    "torch_threads",
    "load_average",
    "versions",
    "git_commit",
    "git_dirty",
    "date_utc",
    "command",
)

# The code a result depends on: a change there makes ``git_dirty`` true. Results, notebooks and
# prose may change without it.
_CODE_PATHS = ("aeutils", "reproductions/*.py", "benchmarks/*.py", "scripts/*.py")


@functools.cache
def repository_root() -> Path | None:
    """The git checkout this package lives in (an editable install), or ``None``.

    Returns:
        The top folder of the git work tree whose ``aeutils/`` is this package; ``None`` when
        the package is installed elsewhere (a wheel in site-packages) or git is missing. The
        answer is cached for the process.
    """
    package = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=package,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    root = Path(out.stdout.strip()).resolve()
    return root if root / "aeutils" == package else None


def _git(*args: str) -> str | None:
    root = repository_root()
    if root is None:
        return None
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout


def git_commit() -> str | None:
    """The checked-out commit (``git rev-parse HEAD``), or ``None`` outside a git checkout."""
    out = _git("rev-parse", "HEAD")
    if out is None or not out.strip():
        return None
    return out.strip()


def git_dirty() -> bool | None:
    """Whether the code (the package, the scripts) differs from the checked-out commit.

    A result computed from uncommitted code names a commit that does not hold that code.

    Returns:
        ``True`` if ``git status`` lists a change under ``aeutils/`` or a ``.py`` file of
        ``reproductions/``, ``benchmarks/`` or ``scripts/``; ``None`` outside a git checkout.
    """
    out = _git("status", "--porcelain", "--", *_CODE_PATHS)
    return None if out is None else bool(out.strip())


def _cpu_model() -> str:
    """The CPU's model name: ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                name = line.split(":", 1)[1].strip()
                if name:
                    return name
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: torch.device | str) -> str:
    """A human-readable, never empty, name for ``device``.

    Args:
        device: The device that ran the computation.

    Returns:
        The GPU's name for CUDA, ``"Apple MPS"`` for MPS, else the CPU model (from
        ``/proc/cpuinfo``, or the ``platform`` module) followed by the number of cores.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device) or "unnamed CUDA device"
    if device.type == "mps":
        return "Apple MPS"
    return f"{_cpu_model()}, {os.cpu_count()} cores"


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that ran this process, as it can be pasted into a shell.

    Args:
        argv: The arguments, script first; ``None`` means ``sys.argv``.

    Returns:
        ``python <script> <arguments>``, the script relative to the repository root when it
        lies inside it.
    """
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]) if argv else Path("-")
    root = repository_root()
    if root is not None:
        try:
            script = script.resolve().relative_to(root)
        except ValueError:
            pass
    return shlex.join(["python", str(script), *argv[1:]])


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def provenance(device: torch.device | str) -> dict[str, Any]:
    """Everything needed to say where, when and how a number was produced.

    Args:
        device: The device that ran the computation.

    Returns:
        A dict with exactly the keys :data:`PROVENANCE_KEYS` (see the module docstring).
    """
    device = torch.device(device)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "device": device.type,
        "device_name": device_name(device),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": None if load is None else [round(value, 2) for value in load],
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "sklearn": _version("scikit-learn"),
            "aeutils": _version("aeutils"),
        },
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
    }


def to_json(value: Any) -> Any:
    """Convert NumPy and torch values, paths and tuples to JSON types; NaN and inf to ``None``.

    Args:
        value: Nested dicts, lists and tuples of numbers, strings, bools, None, paths, NumPy
            scalars or arrays, and tensors.

    Returns:
        The same structure made of dicts (string keys), lists, numbers, strings, bools and None.

    Raises:
        TypeError: If a value is of another type.
    """
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, torch.Tensor | np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, np.generic):
        return to_json(value.item())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot write a {type(value).__name__} to a JSON record: {value!r}")


def write_record(path: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Write ``record`` as indented JSON to ``path``, creating its folder.

    Args:
        path: Destination file, conventionally ending in ``.json``.
        record: The run's fields together with the keys of :func:`provenance`, typically
            ``{**fields, **provenance(device)}``.

    Returns:
        The path written, as a ``Path``.

    Raises:
        TypeError: If ``record`` is not a mapping or holds a value :func:`to_json` cannot
            convert.
        ValueError: If a provenance key is missing or ``device_name`` is empty.
    """
    if not isinstance(record, Mapping):
        raise TypeError(f"record must be a dict, got {type(record).__name__}")
    missing = [key for key in PROVENANCE_KEYS if key not in record]
    if missing:
        raise ValueError(
            f"record lacks the provenance keys {missing}: build it as "
            "{**fields, **aeutils.records.provenance(device)}"
        )
    if not isinstance(record["device_name"], str) or not record["device_name"].strip():
        raise ValueError(f"record has an empty device_name ({record['device_name']!r})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(record), indent=2) + "\n")
    return path

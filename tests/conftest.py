"""Shared test set-up: point aeutils at the read-only MNIST copy beside the project."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "AEUTILS_DATA" not in os.environ and (_SHARED / "MNIST" / "raw").is_dir():
    os.environ["AEUTILS_DATA"] = str(_SHARED)
os.environ.setdefault("AEUTILS_PROGRESS", "0")


def _mnist_present() -> bool:
    root = os.environ.get("AEUTILS_DATA")
    return bool(root) and (Path(root) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()


requires_mnist = pytest.mark.skipif(
    not _mnist_present(), reason="MNIST not found under $AEUTILS_DATA (set it to the data root)"
)

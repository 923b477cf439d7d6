"""Tests of reproductions/common.py: the result record, its check, the PCA helpers."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from aeutils.records import PROVENANCE_KEYS

ROOT = Path(__file__).resolve().parents[1]
REPRODUCTIONS = ROOT / "reproductions"


def _load_common():
    """reproductions/common.py as a module, loaded from its file (it is not a package)."""
    spec = importlib.util.spec_from_file_location("common", REPRODUCTIONS / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common = _load_common()


def _result(quick: bool = True) -> dict:
    return common.build_result(
        protocol="demo",
        title="A demo protocol",
        citation="hinton2006reducing",
        quick=quick,
        device=torch.device("cpu"),
        wall_seconds=1.23456,
        rows=[common.row("error", 1.5, published=1.0, baseline=2.0, baseline_name="PCA")],
        metrics={"error": np.float32(1.5), "per_class": {1: torch.tensor(0.25)}, "bad": math.nan},
        target="error at most 1",
        target_met=np.bool_(False),
        hyperparameters={"epochs": 3, "path": Path("a/b")},
        seeds=[np.int64(0)],
        notes="demo",
    )


def test_write_result_round_trips_plain_json(tmp_path: Path) -> None:
    path = common.write_result(_result(), tmp_path / "deep" / "demo.json")
    loaded = json.loads(path.read_text())
    assert loaded["protocol"] == "demo" and loaded["quick"] is True
    assert loaded["metrics"] == {"error": 1.5, "per_class": {"1": 0.25}, "bad": None}
    assert loaded["target"] == {"description": "error at most 1", "met": False}
    assert loaded["seeds"] == [0] and loaded["hyperparameters"]["path"] == "a/b"
    assert loaded["wall_seconds"] == 1.23
    assert loaded["rows"][0] == {
        "quantity": "error",
        "published": 1.0,
        "ours": 1.5,
        "baseline": 2.0,
        "baseline_name": "PCA",
    }
    for key in ("device_name", "versions", "git_commit", "git_dirty", "date_utc", "command"):
        assert key in loaded
    assert set(loaded["versions"]) == {"python", "torch", "numpy", "sklearn", "aeutils"}
    assert loaded["device"] == "cpu" and "cores" in loaded["device_name"]
    common.check_result(path, "demo", quick=True)


def test_write_result_rejects_unknown_types(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot write"):
        common.write_result({**_result(), "x": object()}, tmp_path / "x.json")
    with pytest.raises(ValueError, match="lacks the provenance keys"):
        common.write_result({"x": 1}, tmp_path / "x.json")


def test_check_result_names_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps({"protocol": "demo"}))
    with pytest.raises(ValueError, match="missing keys"):
        common.check_result(path, "demo", quick=True)
    common.write_result(_result(quick=False), path)
    with pytest.raises(ValueError, match="quick"):
        common.check_result(path, "demo", quick=True)


def test_quick_runs_never_write_committed_results() -> None:
    assert common.default_out("x", quick=False) == common.RESULTS_DIR / "x.json"
    assert common.default_out("x", quick=True).parent == common.QUICK_DIR
    assert common.QUICK_DIR.parts[-2] == "_build"


def test_pca_basis_is_orthonormal_and_reconstructs_a_subspace_exactly() -> None:
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(10, 3, generator=gen, dtype=torch.float64))[0]  # (10, 3)
    x = (torch.randn(200, 3, generator=gen, dtype=torch.float64) @ basis.T + 0.5).reshape(200, 2, 5)
    mean, components = common.pca_basis(x, 3)
    assert components.shape == (3, 10)
    torch.testing.assert_close(components @ components.T, torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(common.pca_reconstruct(x, mean, components), x)


def test_print_estimate_scales_linearly(capsys: pytest.CaptureFixture[str]) -> None:
    assert common.print_estimate("demo", 2.0, 0.5, 10) == pytest.approx(40.0)
    assert "about 0.7 min" in capsys.readouterr().out


# What book/results.ipynb reads from every committed record.
PAGE_KEYS = {
    "reproductions": (
        "protocol", "citation", "target", "device_name", "date_utc", "command", "quick", "rows",
        "wall_seconds", "git_commit", "seeds", "notes", "torch_threads",
    ),
    "benchmarks/loader_speed": ("device", "textbook_seconds", "aeutils_seconds", "speedup"),
    "benchmarks/book_time": ("device", "date", "size", "total_seconds", "seconds", "command"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "keys"),
    [
        ("reproductions/results/*.json", PAGE_KEYS["reproductions"]),
        ("benchmarks/results/loader_speed*.json", PAGE_KEYS["benchmarks/loader_speed"]),
        ("benchmarks/results/book_time*.json", PAGE_KEYS["benchmarks/book_time"]),
    ],
)
def test_committed_records_name_their_device_and_keep_what_the_results_page_reads(pattern, keys):
    paths = sorted(ROOT.glob(pattern))
    assert paths, f"no committed record matches {pattern}"
    for path in paths:
        record = json.loads(path.read_text())
        assert isinstance(record.get("device_name"), str) and record["device_name"].strip(), path
        assert [key for key in keys if key not in record] == [], path
        # The one writer's schema: write_record refuses a record without these keys.
        assert [key for key in PROVENANCE_KEYS if key not in record] == [], path

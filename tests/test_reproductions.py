"""Tests of reproductions/common.py (JSON writer, provenance, PCA helpers) and run_all's check."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPRODUCTIONS = Path(__file__).resolve().parents[1] / "reproductions"
sys.path.insert(0, str(REPRODUCTIONS))

import common  # noqa: E402
import run_all  # noqa: E402


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
    run_all.check_result(path, "demo", quick=True)


def test_write_result_rejects_unknown_types(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot write"):
        common.write_result({"x": object()}, tmp_path / "x.json")


def test_check_result_names_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps({"protocol": "demo"}))
    with pytest.raises(ValueError, match="missing keys"):
        run_all.check_result(path, "demo", quick=True)
    common.write_result(_result(quick=False), path)
    with pytest.raises(ValueError, match="quick"):
        run_all.check_result(path, "demo", quick=True)


def test_quick_runs_never_write_committed_results() -> None:
    assert common.default_out("x", quick=False) == common.RESULTS_DIR / "x.json"
    assert common.default_out("x", quick=True).parent == common.QUICK_DIR
    assert common.QUICK_DIR.parts[-2] == "_build"


def test_git_commit_and_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    commit = common.git_commit()
    assert commit is None or len(commit) == 40
    monkeypatch.setattr(sys, "argv", [str(REPRODUCTIONS / "demo.py"), "--quick", "--out", "a b"])
    assert common.command_line() == "python reproductions/demo.py --quick --out 'a b'"


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

"""Tests for aeutils.records: provenance against git, os and sys, and the JSON writer."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aeutils import records
from aeutils.records import PROVENANCE_KEYS, provenance, to_json, write_record

ROOT = Path(__file__).resolve().parents[1]


def test_provenance_has_every_key_and_describes_this_process() -> None:
    info = provenance("cpu")
    assert tuple(info) == PROVENANCE_KEYS
    assert info["device"] == "cpu"
    assert info["device_name"].endswith(f", {os.cpu_count()} cores")
    assert info["device_name"].removesuffix(f", {os.cpu_count()} cores").strip()
    assert info["cpu_cores"] == os.cpu_count()
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["versions"]["torch"] == torch.__version__
    assert info["versions"]["numpy"] == np.__version__
    assert set(info["versions"]) == {"python", "torch", "numpy", "sklearn", "aeutils"}
    if hasattr(os, "getloadavg"):
        assert len(info["load_average"]) == 3 and all(v >= 0 for v in info["load_average"])
    assert info["date_utc"].endswith("+00:00")


def test_git_fields_agree_with_git_itself() -> None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    assert records.repository_root() == ROOT
    assert records.git_commit() == head
    assert isinstance(records.git_dirty(), bool)


def test_command_line_is_relative_to_the_repository_and_shell_quoted(monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(ROOT / "reproductions" / "demo.py"), "--out", "a b"])
    if records.repository_root() is None:
        pytest.skip("not a git checkout")
    assert records.command_line() == "python reproductions/demo.py --out 'a b'"
    assert records.command_line(["/elsewhere/x.py", "-v"]) == "python /elsewhere/x.py -v"


def test_device_name_is_never_empty(monkeypatch) -> None:
    def unreadable(self, *args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(Path, "read_text", unreadable)
    monkeypatch.setattr("platform.processor", lambda: "")
    monkeypatch.setattr("platform.machine", lambda: "")
    assert records.device_name("cpu") == f"unknown CPU, {os.cpu_count()} cores"
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert records.device_name(torch.device("cpu")) == f"x86_64, {os.cpu_count()} cores"
    assert records.device_name("mps") == "Apple MPS"
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA Test GPU")
    assert records.device_name("cuda") == "NVIDIA Test GPU"


def test_write_record_round_trips_plain_json(tmp_path: Path) -> None:
    fields = {
        "array": np.arange(3),
        "tensor": torch.tensor([0.5, 1.5]),
        "scalar": np.float32(0.25),
        "nested": {1: (np.int64(2), math.inf), "path": Path("a/b")},
    }
    path = write_record(tmp_path / "deep" / "run.json", {**fields, **provenance("cpu")})
    loaded = json.loads(path.read_text())
    assert loaded["array"] == [0, 1, 2] and loaded["tensor"] == [0.5, 1.5]
    assert loaded["scalar"] == 0.25
    assert loaded["nested"] == {"1": [2, None], "path": "a/b"}
    assert set(PROVENANCE_KEYS) <= set(loaded)


def test_write_record_refuses_records_without_provenance_or_device_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"lacks the provenance keys \['device', "):
        write_record(tmp_path / "x.json", {"speedup": 2.0})
    with pytest.raises(ValueError, match="empty device_name"):
        write_record(tmp_path / "x.json", {**provenance("cpu"), "device_name": " "})
    with pytest.raises(TypeError, match="record must be a dict, got list"):
        write_record(tmp_path / "x.json", [1, 2])
    with pytest.raises(TypeError, match="cannot write a object to a JSON record"):
        to_json({"x": object()})
    assert not (tmp_path / "x.json").exists()

"""Tests for aeutils.checkpoints (the per-model round trip is also in the contract suite)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from aeutils import checkpoints
from aeutils.checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from aeutils.models import ConvAutoencoder, MLPAutoencoder


@dataclasses.dataclass(frozen=True)
class _Config:
    """Stands in for aeutils.train.TrainConfig (any frozen dataclass of plain fields)."""

    epochs: int = 3
    lr: float = 1e-3
    device: str = "cpu"
    grad_clip: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)


def _small_model() -> MLPAutoencoder:
    torch.manual_seed(0)
    return MLPAutoencoder(input_shape=(1, 8, 8), hidden_sizes=(16,), code_size=4)


def _mark(path: str) -> None:
    """Side effect a malicious pickle would trigger when unpickled without weights_only."""
    Path(path).write_text("code ran")


class _Malicious:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_mark, (self.marker,))


def _valid_payload(model: MLPAutoencoder, **changes: Any) -> dict[str, Any]:
    payload = {
        "format_version": 1,
        "class_name": type(model).__name__,
        "init_kwargs": dict(model.init_kwargs),
        "state_dict": model.state_dict(),
        "config": None,
        "extra": None,
    }
    payload.update(changes)
    return payload


# ---------------------------------------------------------------------------------------------
# Round trip
# ---------------------------------------------------------------------------------------------


def test_round_trip_with_dataclass_config_and_extra(tmp_path: Path) -> None:
    model = _small_model()
    extra = {"history": {"loss": [0.5, 0.25]}, "codes": torch.arange(6.0), "note": "ch. 3"}
    path = save_checkpoint(tmp_path / "nested" / "dir" / "ae.pt", model, _Config(), extra)
    assert path == tmp_path / "nested" / "dir" / "ae.pt" and path.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["ae.pt"]  # no temp files left

    loaded = load_checkpoint(path)
    assert isinstance(loaded, Checkpoint)
    assert loaded.config == dataclasses.asdict(_Config())
    assert loaded.config["betas"] == (0.9, 0.999)
    assert loaded.extra["history"] == {"loss": [0.5, 0.25]}
    assert loaded.extra["note"] == "ch. 3"
    assert torch.equal(loaded.extra["codes"], torch.arange(6.0))
    assert isinstance(loaded.aeutils_version, str) and loaded.aeutils_version
    assert type(loaded.model) is MLPAutoencoder
    assert not loaded.model.training  # returned in eval mode
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_round_trip_with_dict_config_and_no_extra(tmp_path: Path) -> None:
    model = ConvAutoencoder(input_shape=(3, 16, 16), channels=(2, 4), code_size=3)
    config = {"epochs": 2, "lr": 0.01, "device": torch.device("cpu"), "dtype": torch.float32}
    loaded = load_checkpoint(save_checkpoint(str(tmp_path / "c.pt"), model, config=config))
    assert loaded.config == config
    assert loaded.extra is None
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))


def test_file_layout_read_directly_with_torch_load(tmp_path: Path) -> None:
    model = _small_model()
    path = save_checkpoint(tmp_path / "m.pt", model, config=_Config(), extra={"seed": 0})
    payload = torch.load(path, weights_only=True)  # independent reader
    assert set(payload) == {
        "format_version",
        "aeutils_version",
        "class_name",
        "init_kwargs",
        "state_dict",
        "config",
        "extra",
    }
    assert payload["class_name"] == "MLPAutoencoder"
    assert payload["init_kwargs"] == model.init_kwargs
    assert payload["config"] == {
        "epochs": 3,
        "lr": 1e-3,
        "device": "cpu",
        "grad_clip": None,
        "betas": (0.9, 0.999),
    }
    assert payload["extra"] == {"seed": 0}
    assert set(payload["state_dict"]) == set(model.state_dict())


def test_version_falls_back_when_aeutils_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_installed(name: str) -> str:
        raise checkpoints.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(checkpoints.metadata, "version", not_installed)
    path = save_checkpoint(tmp_path / "m.pt", _small_model())
    assert load_checkpoint(path).aeutils_version == "unknown"


def test_saving_over_an_existing_file_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, _small_model(), extra={"version": 1})
    save_checkpoint(path, _small_model(), extra={"version": 2})
    assert load_checkpoint(path).extra == {"version": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_failed_save_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, _small_model(), extra={"version": 1})

    def broken_save(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _small_model(), extra={"version": 2})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    assert load_checkpoint(path).extra == {"version": 1}


# ---------------------------------------------------------------------------------------------
# Loading is safe: weights_only=True
# ---------------------------------------------------------------------------------------------


def test_load_calls_torch_load_with_weights_only_and_map_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_checkpoint(tmp_path / "m.pt", _small_model())
    calls: list[dict[str, Any]] = []
    real_load = torch.load

    def recording_load(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "load", recording_load)
    device = torch.device("cpu")
    load_checkpoint(path, map_location=device)
    assert len(calls) == 1
    assert calls[0]["weights_only"] is True
    assert calls[0]["map_location"] is device


def test_file_with_a_non_allowlisted_object_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pt"
    torch.save(_valid_payload(_small_model(), extra={"x": _Malicious(marker)}), path)
    message = (
        r"contains a pickled object \(.*_mark\) that torch\.load\(weights_only=True\) refuses "
        r"to load; .*not written by save_checkpoint"
    )
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)
    assert not marker.exists()
    # The oracle: an unsafe load of the same file really would have run the code.
    torch.load(path, weights_only=False)
    assert marker.read_text() == "code ran"


def test_save_refuses_values_that_could_not_be_loaded_back(tmp_path: Path) -> None:
    model = _small_model()
    with pytest.raises(TypeError, match=r"extra\['psnr'\] has type numpy\.float64, which"):
        save_checkpoint(tmp_path / "a.pt", model, extra={"psnr": np.float64(30.0)})
    with pytest.raises(TypeError, match=r"extra\['layers'\]\[1\] has type .*Linear"):
        save_checkpoint(tmp_path / "a.pt", model, extra={"layers": [1, nn.Linear(2, 2)]})
    with pytest.raises(TypeError, match=r"config\['loss_fn'\] has type builtins\.function"):
        save_checkpoint(tmp_path / "a.pt", model, config={"loss_fn": lambda x: x})
    with pytest.raises(TypeError, match=r"extra has a key of type \w*Path \("):
        save_checkpoint(tmp_path / "a.pt", model, extra={Path("a"): 1})
    with pytest.raises(TypeError, match=r"config must be a dataclass instance.*got list"):
        save_checkpoint(tmp_path / "a.pt", model, config=[1, 2])
    with pytest.raises(TypeError, match=r"config must be a dataclass instance.*got type"):
        save_checkpoint(tmp_path / "a.pt", model, config=_Config)  # the class, not an instance
    with pytest.raises(TypeError, match="extra must be a dict or None; got list"):
        save_checkpoint(tmp_path / "a.pt", model, extra=[1])
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_save_refuses_models_that_load_could_not_rebuild(tmp_path: Path) -> None:
    class MyAutoencoder(MLPAutoencoder):
        pass

    with pytest.raises(TypeError, match=r"MODEL_CLASSES \(.*Autoencoder\); got .*MyAutoencoder"):
        save_checkpoint(tmp_path / "a.pt", MyAutoencoder())
    with pytest.raises(TypeError, match=r"MODEL_CLASSES .*got torch\.nn\.modules\.linear\.Linear"):
        save_checkpoint(tmp_path / "a.pt", nn.Linear(2, 2))


# ---------------------------------------------------------------------------------------------
# Clear errors for bad files
# ---------------------------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "model.pt"
    with pytest.raises(FileNotFoundError, match=re.escape(f"checkpoint file not found: '{path}'")):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        load_checkpoint(tmp_path)  # a folder is not a checkpoint file


@pytest.mark.parametrize("contents", ["random", "empty", "truncated", "text"])
def test_corrupt_file_gives_a_clear_value_error(tmp_path: Path, contents: str) -> None:
    path = tmp_path / "bad.pt"
    if contents == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif contents == "empty":
        path.write_bytes(b"")
    elif contents == "truncated":
        good = save_checkpoint(tmp_path / "good.pt", _small_model()).read_bytes()
        path.write_bytes(good[: len(good) // 2])
    else:
        path.write_text("epochs: 3\nlr: 0.001\n")
    message = re.escape(f"checkpoint '{path}' could not be read: the file is corrupt, truncated")
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)


def test_unknown_class_name(tmp_path: Path) -> None:
    path = tmp_path / "vqvae.pt"
    torch.save(_valid_payload(_small_model(), class_name="VQAutoencoder"), path)
    message = (
        r"names the model class 'VQAutoencoder', which is not in "
        r"aeutils\.models\.MODEL_CLASSES \(known: ConvAutoencoder, LinearAutoencoder, "
        r"MLPAutoencoder, SemanticHashingAutoencoder, SparseAutoencoder, "
        r"VariationalAutoencoder\)"
    )
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)


def test_bare_state_dict_reports_the_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(_small_model().state_dict(), path)
    message = (
        r"is missing the keys \['class_name', 'init_kwargs', 'state_dict'\]; it was not written "
        r"by aeutils\.checkpoints\.save_checkpoint \(for a bare state_dict"
    )
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)


def test_other_malformed_payloads(tmp_path: Path) -> None:
    model = _small_model()
    cases = {
        "list.pt": ([1, 2, 3], r"holds a list, not the dict written by"),
        "kwargs.pt": (_valid_payload(model, init_kwargs=[4]), r"init_kwargs of type list"),
        "badkw.pt": (
            _valid_payload(model, init_kwargs={**model.init_kwargs, "code_size": 0}),
            r"could not rebuild MLPAutoencoder\(.*\): code_size must be a positive integer",
        ),
        "unknownkw.pt": (
            _valid_payload(model, init_kwargs={**model.init_kwargs, "dropout": 0.1}),
            r"could not rebuild MLPAutoencoder.*unexpected keyword argument 'dropout'",
        ),
        "mismatch.pt": (
            _valid_payload(model, init_kwargs={**model.init_kwargs, "code_size": 5}),
            r"(?s)the saved state_dict does not fit MLPAutoencoder\(.*'code_size': 5"
            r".*size mismatch for encoder",
        ),
    }
    for name, (payload, message) in cases.items():
        torch.save(payload, tmp_path / name)
        with pytest.raises(ValueError, match=message):
            load_checkpoint(tmp_path / name)


# ---------------------------------------------------------------------------------------------
# map_location
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "map_location",
    ["cpu", torch.device("cpu"), {"cpu": "cpu"}, lambda storage, location: storage],
    ids=["str", "device", "dict", "callable"],
)
def test_map_location_forms(tmp_path: Path, map_location: Any) -> None:
    model = _small_model()
    loaded = load_checkpoint(save_checkpoint(tmp_path / "m.pt", model), map_location=map_location)
    assert all(p.device.type == "cpu" for p in loaded.model.parameters())
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_checkpoint_loads_on_cpu_and_back_on_gpu(tmp_path: Path) -> None:
    model = _small_model().cuda()
    path = save_checkpoint(tmp_path / "gpu.pt", model, extra={"t": torch.ones(2, device="cuda")})
    on_cpu = load_checkpoint(path)  # default map_location="cpu"
    assert all(p.device.type == "cpu" for p in on_cpu.model.parameters())
    assert on_cpu.extra["t"].device.type == "cpu"
    on_gpu = load_checkpoint(path, map_location="cuda")
    assert all(p.device.type == "cuda" for p in on_gpu.model.parameters())
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(on_cpu.model(x), model(x.cuda()).cpu())
        torch.testing.assert_close(on_gpu.model(x.cuda()), model(x.cuda()))

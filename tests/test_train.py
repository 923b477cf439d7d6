"""fit / evaluate: sample-weighted logging, clear failures, reproducibility, and real learning."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import requires_mnist
from matplotlib.figure import Figure
from torch import nn

from aeutils.loader import TensorLoader
from aeutils.train import (
    History,
    NonFiniteLossError,
    TrainConfig,
    encode_all,
    evaluate,
    fit,
    pick_device,
    reconstruct_all,
    seed_everything,
)


class TinyAE(nn.Module):
    """A 6-2-6 linear autoencoder, independent of aeutils.models."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(6, 2)
        self.decoder = nn.Linear(2, 6)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x))


def mse(model, x):
    return ((model(x) - x) ** 2).sum(dim=1).mean()


def cfg(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 4, "device": "cpu", "progress": False, **kw})


def test_config_is_frozen_and_validated():
    c = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0  # type: ignore[misc]
    for kwargs, match in [
        ({"epochs": 0}, "epochs must be a positive integer, got 0"),
        ({"lr": 0.0}, r"lr must be a finite number > 0, got 0\.0"),
        ({"lr": float("inf")}, "lr must be a finite number > 0, got inf"),
        ({"weight_decay": -1.0}, "weight_decay must be a finite number >= 0"),
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"grad_clip": 0.0}, "grad_clip must be a finite number > 0"),
    ]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(**kwargs)
    for kwargs, match in [
        ({"epochs": True}, "epochs must be an integer, got bool"),
        ({"batch_size": 2.5}, "batch_size must be an integer, got float"),
        ({"batch_size": True}, "batch_size must be an integer, got bool"),
        ({"lr": "1e-3"}, "lr must be a real number, got str"),
        ({"seed": 0.5}, "seed must be an integer, got float"),
        ({"amp": 1}, "amp must be True or False, got int"),
        ({"progress": "no"}, "progress must be True or False, got str"),
    ]:
        with pytest.raises(TypeError, match=match):
            TrainConfig(**kwargs)


def test_logged_values_are_sample_weighted_averages():
    x = torch.randn(10, 6)  # batches of 4, 4 and 2

    def objective(model, xb):
        return {"loss": mse(model, xb), "batch_mean": xb.mean()}

    history = fit(TinyAE(), x, objective, cfg(epochs=3))
    # Averaging batch means weighted by batch size gives the data set's mean; an
    # unweighted average over the uneven batches would not.
    for value in history.train["batch_mean"]:
        assert value == pytest.approx(x.mean().item(), abs=1e-6)
    assert history.epochs == 3
    assert len(history.train["loss"]) == 3
    assert history.seconds > 0


def test_evaluate_matches_a_single_full_batch_computation_and_changes_nothing():
    torch.manual_seed(0)
    model = TinyAE()
    x = torch.randn(37, 6)
    before = [p.clone() for p in model.parameters()]
    scores = evaluate(model, x, mse, batch_size=5)
    with torch.no_grad():
        direct = mse(model, x).item()
    assert scores["loss"] == pytest.approx(direct, rel=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_training_lowers_the_loss_and_logs_validation():
    torch.manual_seed(0)
    basis = torch.randn(2, 6)
    x = torch.randn(256, 2) @ basis  # rank-2 data: a 2-d code can reconstruct it
    history = fit(TinyAE(), x, mse, cfg(epochs=30, batch_size=32, lr=1e-2), val_data=x[:64])
    assert history.train["loss"][-1] < 0.05 * history.train["loss"][0]
    assert len(history.val["loss"]) == 30
    assert isinstance(history.plot(), Figure)


def test_same_seed_gives_identical_models():
    x = torch.randn(40, 6)
    models = []
    for _ in range(2):
        seed_everything(5)
        model = TinyAE()
        fit(model, x, mse, cfg(seed=7))
        models.append(model)
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(a, b)


def test_non_finite_loss_stops_with_epoch_and_batch_named():
    calls = {"n": 0}

    def exploding(model, x):
        calls["n"] += 1
        loss = mse(model, x)
        return loss * float("inf") if calls["n"] == 5 else loss  # epoch 2, batch index 1

    with pytest.raises(NonFiniteLossError, match=r"loss became inf at epoch 2, batch 1 \(of 3\)"):
        fit(TinyAE(), torch.randn(10, 6), exploding, cfg(epochs=3))


def test_non_finite_loss_names_the_first_bad_batch_at_the_end_of_its_epoch():
    calls = {"n": 0}

    def poisoned(model, x):
        calls["n"] += 1
        loss = mse(model, x)
        # Epoch 1 has batches 1 to 5 (calls 1-5); epoch 2 is poisoned from its batch 2 on.
        return loss * float("nan") if calls["n"] >= 8 else loss

    with pytest.raises(NonFiniteLossError, match=r"loss became nan at epoch 2, batch 2 \(of 5\)"):
        fit(TinyAE(), torch.randn(20, 6), poisoned, cfg(epochs=4))
    # The losses are checked once per epoch, on the host: epoch 2 ran to its end, epoch 3 not.
    assert calls["n"] == 10


def test_logs_of_a_long_epoch_are_sample_weighted_averages_of_every_key():
    x = torch.randn(601, 6, dtype=torch.float64).float()  # 300 batches of 2 and one of 1

    def objective(model, xb):
        return {
            "loss": mse(model, xb),
            "batch_mean": xb.mean(),
            "batch_mean_half": xb.mean().half(),
            "size": torch.tensor(xb.shape[0]),  # an integer tensor
        }

    history = fit(TinyAE(), x, objective, cfg(epochs=1, batch_size=2))
    oracle = x.double().mean().item()
    assert history.train["batch_mean"][0] == pytest.approx(oracle, abs=1e-7)
    assert history.train["batch_mean_half"][0] == pytest.approx(oracle, abs=1e-3)
    # Weighted by batch size: (300 * 2 * 2 + 1 * 1) / 601.
    assert history.train["size"][0] == pytest.approx(1201 / 601)


def test_objective_values_must_be_scalars():
    def vector(model, xb):
        return {"loss": mse(model, xb), "per_feature": xb.mean(dim=0)}

    with pytest.raises(TypeError, match="must return scalar tensors, got 'per_feature' with 6"):
        fit(TinyAE(), torch.randn(8, 6), vector, cfg())


def test_the_training_loop_reads_no_value_back_per_batch(monkeypatch):
    """Reading a value (``item``, ``float``, ``bool``...) waits for the device: once per epoch."""
    reads = {"n": 0}
    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            reads["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    counts = []
    for n in (8, 80):  # 2 and 20 batches per epoch
        reads["n"] = 0
        fit(TinyAE(), torch.randn(n, 6), mse, cfg(epochs=2))
        counts.append(reads["n"])
    assert counts[0] == counts[1]


def test_gradient_clipping_bounds_the_last_gradient():
    x = 100 * torch.randn(16, 6)
    model = TinyAE()
    fit(model, x, mse, cfg(epochs=1, batch_size=16, grad_clip=0.5))
    norm = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters()))
    assert norm.item() == pytest.approx(0.5, rel=1e-4)  # clipped from a far larger norm


def test_weight_decay_shrinks_weights_of_an_objective_without_signal():
    def nothing(model, x):
        return 0.0 * mse(model, x)

    model = TinyAE()
    start = sum(p.norm() ** 2 for p in model.parameters()).item()
    fit(model, torch.randn(8, 6), nothing, cfg(epochs=20, weight_decay=1.0, lr=1e-2))
    assert sum(p.norm() ** 2 for p in model.parameters()).item() < 0.5 * start


def test_tuple_and_loader_inputs_and_amp_flag_on_cpu():
    x, y = torch.randn(12, 6), torch.arange(12)
    fit(TinyAE(), (x, y), mse, cfg(amp=True))
    fit(TinyAE(), TensorLoader(x, batch_size=4, device="cpu"), mse, cfg())


@pytest.mark.parametrize(
    ("data", "loss_fn", "error", "match"),
    [
        ([1.0, 2.0], mse, TypeError, "data must be a Tensor, a tuple of Tensors or a TensorLoader"),
        (
            torch.randn(8, 6),
            lambda m, x: {"recon": mse(m, x)},
            TypeError,
            r"'loss' key.*\['recon'\]",
        ),
        (torch.randn(8, 6), lambda m, x: 3.0, TypeError, "got float"),
        (
            TensorLoader(torch.randn(8, 6), device="meta"),
            mse,
            ValueError,
            "keeps its data on meta but training runs on cpu",
        ),
    ],
)
def test_bad_inputs_give_clear_errors(data, loss_fn, error, match):
    with pytest.raises(error, match=match):
        fit(TinyAE(), data, loss_fn, cfg())


def test_progress_bar_is_shown_when_asked(capsys):
    fit(TinyAE(), torch.randn(8, 6), mse, cfg(progress=True))
    assert "epochs" in capsys.readouterr().err


def test_progress_default_follows_environment(monkeypatch):
    monkeypatch.setenv("AEUTILS_PROGRESS", "0")
    assert TrainConfig().progress is False
    monkeypatch.setenv("AEUTILS_PROGRESS", "1")
    assert TrainConfig().progress is True


def test_encode_all_and_reconstruct_all_match_direct_calls():
    model = TinyAE()
    x = torch.randn(11, 6)
    with torch.no_grad():
        assert torch.allclose(encode_all(model, x, batch_size=3), model.encode(x), atol=1e-6)
        assert torch.allclose(reconstruct_all(model, x, batch_size=3), model(x), atol=1e-6)


def test_pick_device_honours_a_preference():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type in {"cpu", "cuda", "mps"}


def test_history_defaults_are_empty():
    h = History()
    assert h.epochs == 0 and h.seconds == 0.0 and h.train == {} and h.val == {}


@requires_mnist
def test_an_mlp_autoencoder_learns_real_digits():
    from aeutils import MLPAutoencoder, load_mnist, mse_loss

    images, _ = load_mnist("test")
    train, held_out = images[:2000], images[2000:2500]
    seed_everything(0)
    model = MLPAutoencoder(hidden_sizes=(128,), code_size=16)
    untrained = evaluate(model, held_out, lambda m, x: mse_loss(m(x), x))["loss"]
    history = fit(model, train, lambda m, x: mse_loss(m(x), x), cfg(epochs=10, batch_size=64))
    trained = evaluate(model, held_out, lambda m, x: mse_loss(m(x), x))["loss"]
    assert history.train["loss"][-1] < history.train["loss"][0]
    # Predicting the mean image scores about 52 per image on MNIST; the model must do better.
    mean_image_error = ((held_out - train.mean(0)) ** 2).sum(dim=(1, 2, 3)).mean().item()
    assert trained < 0.8 * mean_image_error < untrained


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", [False, True])
def test_fit_and_evaluate_on_cuda(amp):
    torch.manual_seed(0)
    basis = torch.randn(2, 6)
    x = torch.randn(512, 2) @ basis
    model = TinyAE()
    config = TrainConfig(epochs=20, batch_size=64, lr=1e-2, device="cuda", amp=amp, progress=False)
    history = fit(model, TensorLoader(x, batch_size=64, device="cuda"), mse, config)
    assert next(model.parameters()).device.type == "cuda"
    assert history.train["loss"][-1] < 0.1 * history.train["loss"][0]
    scores = evaluate(model, x, mse)  # CPU data is moved to the model's device
    assert scores["loss"] == pytest.approx(history.train["loss"][-1], rel=0.5, abs=0.05)
    assert encode_all(model, x).device.type == "cpu"

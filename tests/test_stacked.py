"""fit_stacked: M models trained together agree with M separate fit runs, and bad input fails.

The oracle is :func:`aeutils.train.fit` itself, run once per model with the same initial
weights, data, objective and config. The stacked matrix products add in another order than
separate ones, so float32 results agree to rounding, not bit for bit: after a few epochs of Adam
the weights differ by about 1e-7; the tests allow ``atol=1e-5, rtol=1e-4`` on weights and a
relative 1e-5 on logged losses, far below any difference a changed batch order, seed or update
rule would make (the tests also check that such changes are detected).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from aeutils.loader import TensorLoader
from aeutils.losses import denoising_objective, l1_objective, reconstruction_objective
from aeutils.models import Autoencoder, LinearAutoencoder, MLPAutoencoder
from aeutils.stacked import _batch_orders, fit_stacked
from aeutils.train import NonFiniteLossError, TrainConfig, fit, seed_everything

SEEDS = (0, 1, 2)
SHAPE = (1, 4, 4)
WEIGHTS = {"atol": 1e-5, "rtol": 1e-4}  # float32 rounding after a few epochs (see above)


def cfg(seed: int = 0, **kw) -> TrainConfig:
    defaults = {"epochs": 3, "batch_size": 16, "lr": 1e-2, "device": "cpu", "progress": False}
    return TrainConfig(**{**defaults, "seed": seed, **kw})


def data(n: int = 70) -> torch.Tensor:
    """Images in [0, 1]; 70 = 4 batches of 16 and one of 6, so the last batch weighs less."""
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(123))


def make(seed: int, **kw) -> MLPAutoencoder:
    seed_everything(seed)
    return MLPAutoencoder(**{"input_shape": SHAPE, "hidden_sizes": (8,), "code_size": 3, **kw})


def assert_same_training(separate, stacked, histories_separate, histories_stacked):
    for m, (a, b) in enumerate(zip(separate, stacked, strict=True)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(q, p, **WEIGHTS, msg=f"model {m}, {name}")
    for h1, h2 in zip(histories_separate, histories_stacked, strict=True):
        for logs1, logs2 in ((h1.train, h2.train), (h1.val, h2.val)):
            assert logs2.keys() == logs1.keys()
            for key in logs1:
                assert logs2[key] == pytest.approx(logs1[key], rel=1e-5)
        assert h2.epochs == h1.epochs


@pytest.mark.parametrize(
    "model_kwargs",
    [
        {"output_activation": "sigmoid"},
        {"output_activation": None},
        {"hidden_sizes": (8, 5), "activation": "tanh", "tied_weights": True},
    ],
    ids=["sigmoid-output", "linear-output", "tied-tanh"],
)
@pytest.mark.parametrize(
    "extra",
    [{}, {"weight_decay": 1e-2}, {"grad_clip": 0.05}],
    ids=["plain", "weight-decay", "grad-clip"],
)
def test_stacked_training_matches_separate_fit_runs(model_kwargs, extra):
    x = data()
    configs = [cfg(s, **extra) for s in SEEDS]
    separate = [make(s, **model_kwargs) for s in SEEDS]
    expected = [
        fit(m, x, reconstruction_objective(), c, val_data=x[:20])
        for m, c in zip(separate, configs, strict=True)
    ]
    stacked = [make(s, **model_kwargs) for s in SEEDS]
    got = fit_stacked(stacked, x, reconstruction_objective(), configs, val_data=x[:20])
    assert_same_training(separate, stacked, expected, got)
    assert all(not m.training for m in stacked)  # eval mode, as after fit


def test_clipping_is_per_model_and_active():
    """A clip that binds changes the result, and each model is clipped to its own norm."""
    x = data()
    unclipped = [make(s) for s in SEEDS]
    fit_stacked(unclipped, x, reconstruction_objective(), [cfg(s) for s in SEEDS])
    clipped = [make(s) for s in SEEDS]
    fit_stacked(clipped, x, reconstruction_objective(), [cfg(s, grad_clip=0.05) for s in SEEDS])
    for a, b in zip(unclipped, clipped, strict=True):
        assert not torch.allclose(a.decoder[0].weight, b.decoder[0].weight, **WEIGHTS)


@pytest.mark.parametrize(
    "objective",
    [
        l1_objective(0.1),  # model.encode(x), then model.decode(code): the stacked path
        reconstruction_objective("bce"),  # a loss that checks its inputs' values
        denoising_objective(lambda x: 0.5 * x),  # model(another input): each member alone
        lambda model, x: (model(x) - x).pow(2).flatten(1).sum(dim=1).mean(),  # a bare scalar
    ],
    ids=["l1", "bce", "denoising", "scalar"],
)
def test_any_objective_is_logged_and_trained_per_model(objective):
    x = data()
    separate = [make(s) for s in SEEDS]
    expected = [fit(m, x, objective, cfg(s)) for m, s in zip(separate, SEEDS, strict=True)]
    stacked = [make(s) for s in SEEDS]
    got = fit_stacked(stacked, (x, torch.zeros(len(x))), objective, [cfg(s) for s in SEEDS])
    assert_same_training(separate, stacked, expected, got)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_autoencoders_match_separate_fit_runs(bias):
    def build(seed):
        seed_everything(seed)
        return LinearAutoencoder(input_shape=SHAPE, code_size=3, bias=bias)

    x = data()
    separate = [build(s) for s in SEEDS]
    objective = reconstruction_objective()
    expected = [fit(m, x, objective, cfg(s)) for m, s in zip(separate, SEEDS, strict=True)]
    stacked = [build(s) for s in SEEDS]
    got = fit_stacked(stacked, x, objective, [cfg(s) for s in SEEDS])
    assert_same_training(separate, stacked, expected, got)


def test_each_model_draws_the_batch_order_fit_gives_its_seed():
    """fit's batches, recorded by the objective, are the stacked loop's index batches."""
    n, batch_size, epochs = 23, 5, 3
    x = torch.arange(n, dtype=torch.float32)[:, None]  # (n, 1): each sample holds its index
    recorded = {}
    for seed in SEEDS:
        seen = recorded[seed] = []

        def record(model, xb, seen=seen):
            seen.append(xb[:, 0].long())
            return model(xb).pow(2).mean()

        fit(nn.Linear(1, 1), x, record, cfg(seed, epochs=epochs, batch_size=batch_size))
    orders = list(_batch_orders(n, batch_size, SEEDS, torch.device("cpu"), epochs))
    assert len(orders) == epochs
    steps = [idx for epoch in orders for idx in epoch]  # each (M, B)
    for m, seed in enumerate(SEEDS):
        assert len(steps) == len(recorded[seed])
        for idx, seen in zip(steps, recorded[seed], strict=True):
            assert torch.equal(idx[m], seen)
    # Different seeds shuffle differently (the check above is not vacuous).
    assert not torch.equal(steps[0][0], steps[0][1])


def test_one_config_for_all_gives_every_model_the_same_batches():
    x = data()
    first = make(7)
    copies = [make(7) for _ in range(3)]
    expected = fit(first, x, reconstruction_objective(), cfg(4))
    got = fit_stacked(copies, x, reconstruction_objective(), cfg(4))
    for model, history in zip(copies, got, strict=True):
        assert_same_training([first], [model], [expected], [history])


def test_a_changed_seed_or_learning_rate_is_detected():
    """The parity tolerance is tight enough to see a different batch order or update."""
    x = data()
    reference = make(0)
    fit(reference, x, reconstruction_objective(), cfg(0))
    for config in (cfg(1), cfg(0, lr=1.1e-2)):
        model = make(0)
        fit_stacked([model], x, reconstruction_objective(), [config])
        assert not torch.allclose(model.decoder[0].weight, reference.decoder[0].weight, **WEIGHTS)


def test_history_seconds_are_each_models_share_of_the_wall_time():
    histories = fit_stacked([make(s) for s in SEEDS], data(), reconstruction_objective(), cfg())
    assert all(h.epochs == 3 for h in histories)
    assert all(h.epoch_seconds == histories[0].epoch_seconds for h in histories)
    assert histories[0].val == {}


def test_progress_bar_is_shown_when_asked(capsys):
    fit_stacked([make(s) for s in SEEDS], data(), reconstruction_objective(), cfg(progress=True))
    assert "epochs (3 models)" in capsys.readouterr().err


def test_non_finite_loss_names_the_model_and_keeps_the_weights():
    models = [make(s) for s in SEEDS]
    with torch.no_grad():
        models[1].decoder[0].bias.fill_(float("nan"))
    before = models[0].encoder[1].weight.detach().clone()
    match = r"loss of models\[1\] became nan at epoch 1, batch 0 \(of 5\)"
    with pytest.raises(NonFiniteLossError, match=match):
        fit_stacked(models, data(), reconstruction_objective(), cfg())
    # The epoch that failed was trained, and its weights were copied back into the models.
    assert not torch.equal(models[0].encoder[1].weight, before)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_models_must_be_a_non_empty_list_of_distinct_modules():
    x, objective = data(), reconstruction_objective()
    with pytest.raises(ValueError, match="needs at least one model, got an empty list"):
        fit_stacked([], x, objective, cfg())
    with pytest.raises(
        TypeError, match=r"models must be a list of nn\.Modules, got MLPAutoencoder"
    ):
        fit_stacked(make(0), x, objective, cfg())
    with pytest.raises(TypeError, match=r"models\[1\] must be an nn.Module, got str"):
        fit_stacked([make(0), "model"], x, objective, cfg())
    model = make(0)
    with pytest.raises(ValueError, match=r"models\[1\] appears twice in models"):
        fit_stacked([model, model], x, objective, cfg())


@pytest.mark.parametrize(
    ("other", "match"),
    [
        (
            lambda: LinearAutoencoder(input_shape=SHAPE, code_size=3),
            r"models\[1\] is of class LinearAutoencoder, models\[0\] of class MLPAutoencoder",
        ),
        (
            lambda: make(1, hidden_sizes=(6,)),
            r"parameter 'encoder.1.weight' is \(6, 16\) float32 in models\[1\] and "
            r"\(8, 16\) float32 in models\[0\]",
        ),
        (
            lambda: make(1, hidden_sizes=(8, 4)),
            r"parameter 'encoder.3.weight' is \(4, 8\) float32 in models\[1\] and \(3, 8\)",
        ),
        (lambda: make(1, activation="tanh"), r"same parameters but other layers or buffers"),
        (lambda: make(1).double(), r"is \(8, 16\) float64 in models\[1\] and \(8, 16\) float32"),
    ],
    ids=["class", "shape", "depth", "activation", "dtype"],
)
def test_models_of_another_architecture_are_refused(other, match):
    with pytest.raises(ValueError, match=match):
        fit_stacked([make(0), other()], data(), reconstruction_objective(), cfg())


class _Custom(Autoencoder):
    """An autoencoder with the given encoder and decoder, for the refusals below."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__(input_shape=SHAPE, code_size=3, init_kwargs={})
        self.encoder, self.decoder = encoder, decoder


class _OwnEncode(_Custom):
    def encode(self, x):
        return 2 * self.encoder(x)


def _linear_sides() -> tuple[nn.Module, nn.Module]:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), nn.Sequential(nn.Linear(3, 16))


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: nn.Linear(16, 16), r"models\[0\] is a Linear, not an Autoencoder: fit_stacked"),
        (lambda: _OwnEncode(*_linear_sides()), "_OwnEncode overrides Autoencoder.encode"),
        (
            lambda: _Custom(nn.Linear(16, 3), _linear_sides()[1]),
            r"models\[0\].encoder is a Linear, not an nn.Sequential",
        ),
        (
            lambda: _Custom(
                nn.Sequential(nn.Flatten(), nn.Dropout(), nn.Linear(16, 3)), _linear_sides()[1]
            ),
            r"models\[0\].encoder\[1\] is a Dropout: fit_stacked stacks Autoencoders whose",
        ),
        (
            lambda: _Custom(_linear_sides()[0], nn.Sequential(nn.Linear(3, 16), nn.PReLU())),
            r"models\[0\].decoder\[1\] is a PReLU",  # an activation with a parameter
        ),
    ],
    ids=["not-an-autoencoder", "own-encode", "not-sequential", "dropout", "prelu"],
)
def test_models_whose_layers_cannot_be_stacked_are_refused(build, match):
    with pytest.raises(ValueError, match=match):
        fit_stacked([build(), build()], data(), reconstruction_objective(), cfg())


def test_the_objective_gets_a_stand_in_that_says_what_it_offers():
    def uses_encoder(model, x):
        return (model.encoder(x) ** 2).mean()

    def uses_code_size(model, x):
        assert (model.code_size, model.input_shape) == (3, SHAPE)
        return (model(x) - x).pow(2).mean()

    models = [make(0), make(1)]
    fit_stacked(models, data(), uses_code_size, cfg(epochs=1))
    with pytest.raises(AttributeError, match=r"the objective asked for model\.encoder, but"):
        fit_stacked(models, data(), uses_encoder, cfg())


def test_a_frozen_parameter_in_one_model_only_is_refused():
    frozen = make(1)
    frozen.encoder[1].bias.requires_grad_(False)
    match = r"parameter 'encoder.1.bias' is \(8,\) float32 \(frozen\) in models\[1\]"
    with pytest.raises(ValueError, match=match):
        fit_stacked([make(0), frozen], data(), reconstruction_objective(), cfg())


def test_configs_must_match_except_for_the_seed():
    models, x, objective = [make(0), make(1)], data(), reconstruction_objective()
    with pytest.raises(ValueError, match=r"configs\[1\].lr is 0.02, configs\[0\].lr is 0.01"):
        fit_stacked(models, x, objective, [cfg(0), cfg(1, lr=2e-2)])
    with pytest.raises(ValueError, match=r"configs\[1\].epochs is 4, configs\[0\].epochs is 3"):
        fit_stacked(models, x, objective, [cfg(0), cfg(1, epochs=4)])
    with pytest.raises(ValueError, match="one TrainConfig per model: 3 for 2"):
        fit_stacked(models, x, objective, [cfg(0), cfg(1), cfg(2)])
    with pytest.raises(TypeError, match="configs must be a TrainConfig or a list of TrainConfigs"):
        fit_stacked(models, x, objective, [cfg(0), dataclasses.asdict(cfg(1))])


def test_data_must_be_tensors():
    models, objective = [make(0), make(1)], reconstruction_objective()
    loader = TensorLoader(data(), batch_size=16)
    with pytest.raises(TypeError, match="data must be a Tensor or a tuple of Tensors, not a Tens"):
        fit_stacked(models, loader, objective, cfg())
    with pytest.raises(TypeError, match="val_data must be a Tensor or a tuple of Tensors, got int"):
        fit_stacked(models, data(), objective, cfg(), val_data=3)
    with pytest.raises(ValueError, match="empty data set"):
        fit_stacked(models, data()[:0], objective, cfg())
    match = r"data must be floating-point inputs shaped \(N, 1, 4, 4\) for these models, got"
    with pytest.raises(ValueError, match=match):
        fit_stacked(models, torch.rand(10, 16), objective, cfg())
    with pytest.raises(ValueError, match=match):
        fit_stacked(models, (255 * data()).to(torch.uint8), objective, cfg())


def test_objectives_that_return_the_wrong_thing_fail_clearly():
    models, x = [make(0), make(1)], data()

    def vector(model, xb):
        return {"loss": (model(xb) - xb).pow(2).mean(), "per_pixel": xb.flatten(1).mean(dim=0)}

    with pytest.raises(TypeError, match="must return scalar tensors, got 'per_pixel' with 16"):
        fit_stacked(models, x, vector, cfg())
    with pytest.raises(
        TypeError, match=r"a dict with a 'loss' key, got dict with keys \['recon'\]"
    ):
        fit_stacked(models, x, lambda model, xb: {"recon": model(xb).mean()}, cfg())
    with pytest.raises(TypeError, match="a scalar tensor or a dict with a 'loss' key, got float"):
        fit_stacked(models, x, lambda model, xb: 1.0, cfg())


def test_data_per_model_matches_separate_fit_runs_on_each_models_data():
    sets = [data(70) * 0.5, data(70).flip(0), torch.rand(70, *SHAPE)]
    configs = [cfg(s) for s in SEEDS]
    separate = [make(s) for s in SEEDS]
    expected = [
        fit(m, x, reconstruction_objective(), c, val_data=sets[0][:20])
        for m, x, c in zip(separate, sets, configs, strict=True)
    ]
    stacked = [make(s) for s in SEEDS]
    got = fit_stacked(
        stacked,
        sets,
        reconstruction_objective(),
        configs,
        val_data=sets[0][:20],
        data_per_model=True,
    )
    assert_same_training(separate, stacked, expected, got)
    # And the data matter: the same models trained on the first set alone end elsewhere.
    shared = [make(s) for s in SEEDS]
    fit_stacked(shared, sets[0], reconstruction_objective(), configs)
    assert not torch.allclose(shared[1].encoder[1].weight, stacked[1].encoder[1].weight, atol=1e-3)


@pytest.mark.parametrize(
    ("sets", "match"),
    [
        (lambda: data(), "a sequence of one input tensor per model \\(3\\), got Tensor"),
        (lambda: [data(), data()], "one input tensor per model \\(3\\), got 2 items"),
        (
            lambda: [data(70), data(70), data(60)],
            "must have the same shape, got \\[\\(60, 1, 4, 4\\), \\(70",
        ),
        (
            lambda: [data(), data(), torch.rand(70, 2, 4)],
            r"data\[2\] must be floating-point inputs shaped \(N, 1, 4, 4\)",
        ),
    ],
    ids=["a-tensor", "too-few", "different-lengths", "wrong-shape"],
)
def test_data_per_model_must_be_one_tensor_per_model_of_one_shape(sets, match):
    models = [make(s) for s in SEEDS]
    with pytest.raises(ValueError, match=match):
        fit_stacked(
            models, sets(), reconstruction_objective(), [cfg(s) for s in SEEDS], data_per_model=True
        )


def test_data_per_model_must_be_a_bool():
    models = [make(s) for s in SEEDS]
    with pytest.raises(TypeError, match="data_per_model must be True or False, got int"):
        fit_stacked(
            models, data(), reconstruction_objective(), [cfg(s) for s in SEEDS], data_per_model=1
        )

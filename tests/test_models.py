"""Tests for aeutils.models.

The first half is ONE contract suite run over every class in MODEL_CLASSES (a test below fails if
a new Autoencoder subclass is added without being registered and configured here). The second half
checks model-specific facts against independent oracles: hand-computed parameter counts, numpy's
matrix_rank, PyTorch's convolution output-size formula and the chain rule for shared weights.
"""

from __future__ import annotations

import copy
import inspect
import math
import re
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from aeutils import models
from aeutils.checkpoints import load_checkpoint, save_checkpoint
from aeutils.models import (
    MODEL_CLASSES,
    Autoencoder,
    ConvAutoencoder,
    LinearAutoencoder,
    MLPAutoencoder,
    SemanticHashingAutoencoder,
    SparseAutoencoder,
    TiedLinear,
    VariationalAutoencoder,
    count_parameters,
)

# (class, constructor kwargs): a couple of small configurations per registered class.
CONFIGS: list[tuple[type[Autoencoder], dict[str, Any]]] = [
    (LinearAutoencoder, {"input_shape": (1, 8, 8), "code_size": 5}),
    (LinearAutoencoder, {"input_shape": [20], "code_size": 3, "bias": False}),
    (MLPAutoencoder, {"input_shape": (1, 8, 8), "hidden_sizes": (16, 8), "code_size": 4}),
    (
        MLPAutoencoder,
        {
            "input_shape": (1, 8, 8),
            "hidden_sizes": [16, 8],
            "code_size": 4,
            "activation": "tanh",
            "tied_weights": True,
        },
    ),
    (
        MLPAutoencoder,
        {
            "input_shape": (1, 8, 8),
            "hidden_sizes": (),
            "code_size": 6,
            "code_activation": "sigmoid",
        },
    ),
    (
        MLPAutoencoder,
        {
            "input_shape": (3, 4, 4),
            "hidden_sizes": (16,),
            "code_size": 4,
            "activation": "leaky_relu",
            "code_activation": "sigmoid",
            "output_activation": None,
            "decoder_hidden_sizes": (8, 12),
        },
    ),
    (ConvAutoencoder, {"input_shape": (1, 28, 28), "channels": (4, 8), "code_size": 6}),
    (
        ConvAutoencoder,
        {"input_shape": (3, 32, 32), "channels": [4, 8], "code_size": 5, "activation": "elu"},
    ),
    (
        ConvAutoencoder,
        {
            "input_shape": (2, 9, 11),
            "channels": (3,),
            "code_size": 3,
            "kernel_size": 4,
            "activation": "gelu",
            "output_activation": "identity",
        },
    ),
    (
        ConvAutoencoder,
        {"input_shape": (1, 12, 12), "channels": (3, 4), "code_size": 4, "upsample": "nearest"},
    ),
    (
        ConvAutoencoder,
        {
            "input_shape": (2, 9, 11),
            "channels": (3,),
            "code_size": 3,
            "kernel_size": 4,
            "upsample": "bilinear",
        },
    ),
    (SemanticHashingAutoencoder, {"input_shape": (1, 8, 8), "hidden_sizes": (16,), "code_size": 6}),
    (SemanticHashingAutoencoder, {"input_shape": [12], "hidden_sizes": (), "code_size": 3}),
    (SparseAutoencoder, {"input_size": 6, "dictionary_size": 10}),
    (SparseAutoencoder, {"input_size": 5, "dictionary_size": 12, "k": 3}),
    (VariationalAutoencoder, {"input_shape": (1, 8, 8), "hidden_sizes": (16, 8), "code_size": 3}),
    (
        VariationalAutoencoder,
        {"input_shape": [12], "hidden_sizes": (), "code_size": 2, "activation": "tanh"},
    ),
]
# The constructor argument that sets code_size, where it is not called code_size.
CODE_SIZE_ARGUMENT: dict[type[Autoencoder], str] = {SparseAutoencoder: "dictionary_size"}
CONFIG_IDS = [
    f"{cls.__name__}-{i}-" + ",".join(f"{k}={v}" for k, v in kw.items() if k != "input_shape")
    for i, (cls, kw) in enumerate(CONFIGS)
]


@pytest.fixture(params=CONFIGS, ids=CONFIG_IDS)
def model(request: pytest.FixtureRequest) -> Autoencoder:
    cls, kwargs = request.param
    torch.manual_seed(0)
    return cls(**kwargs)


def _batch(model: Autoencoder, batch_size: int = 3, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch_size, *model.input_shape, generator=generator)  # in [0, 1]


def _shape_pattern(shape: tuple[int, ...]) -> str:
    return re.escape("(B, " + ", ".join(str(s) for s in shape) + ")")


# ---------------------------------------------------------------------------------------------
# Registry completeness: a new model cannot skip the contract suite
# ---------------------------------------------------------------------------------------------


def test_model_classes_registers_every_autoencoder_subclass_in_the_module() -> None:
    defined = {
        obj
        for _, obj in inspect.getmembers(models, inspect.isclass)
        if issubclass(obj, Autoencoder)
        and obj is not Autoencoder
        and obj.__module__ == models.__name__
    }
    assert defined  # the scan itself must find something
    assert set(MODEL_CLASSES.values()) == defined
    assert all(name == cls.__name__ for name, cls in MODEL_CLASSES.items())


def test_contract_suite_configures_every_registered_class() -> None:
    configured = {cls for cls, _ in CONFIGS}
    assert configured == set(MODEL_CLASSES.values())


# ---------------------------------------------------------------------------------------------
# Contract suite (parametrised over CONFIGS through the `model` fixture)
# ---------------------------------------------------------------------------------------------


def test_encode_and_decode_shapes(model: Autoencoder) -> None:
    cls_kwargs = model.init_kwargs
    assert model.code_size == cls_kwargs[CODE_SIZE_ARGUMENT.get(type(model), "code_size")]
    assert isinstance(model.input_shape, tuple)
    x = _batch(model)
    z = model.encode(x)
    assert z.shape == (3, model.code_size)
    assert model.decode(z).shape == x.shape
    assert model.encoder(x).shape == (3, model.code_size)  # encoder attribute alone works too
    assert model.decoder(z).shape == x.shape


def test_forward_equals_decode_of_encode(model: Autoencoder) -> None:
    x = _batch(model)
    assert torch.equal(model(x), model.decode(model.encode(x)))


def test_gradients_reach_every_parameter(model: Autoencoder) -> None:
    x = _batch(model, batch_size=4)
    loss = ((model(x) - x) ** 2).sum()
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, f"{name} got no gradient"
        assert param.grad.abs().sum() > 0, f"{name} got an all-zero gradient"


def test_eval_mode_is_deterministic(model: Autoencoder) -> None:
    model.eval()
    x = _batch(model)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        assert torch.equal(model.encode(x), model.encode(x.clone()))


def test_init_kwargs_are_plain_python_types(model: Autoencoder) -> None:
    def plain(value: Any) -> bool:
        if isinstance(value, tuple):
            return all(type(v) is int for v in value)
        return type(value) in (int, bool, str, type(None))

    assert all(isinstance(k, str) for k in model.init_kwargs)
    bad = {k: v for k, v in model.init_kwargs.items() if not plain(v)}
    assert not bad
    params = inspect.signature(type(model)).parameters
    assert set(model.init_kwargs) == set(params)  # every argument is recorded, defaults too


def test_rebuild_from_init_kwargs_gives_same_architecture(model: Autoencoder) -> None:
    rebuilt = type(model)(**model.init_kwargs)
    assert rebuilt.init_kwargs == model.init_kwargs
    assert [(n, p.shape) for n, p in rebuilt.state_dict().items()] == [
        (n, p.shape) for n, p in model.state_dict().items()
    ]
    assert count_parameters(rebuilt) == count_parameters(model)
    rebuilt.load_state_dict(model.state_dict())
    x = _batch(model)
    assert torch.equal(rebuilt(x), model(x))


def test_checkpoint_round_trip_gives_identical_outputs(model: Autoencoder, tmp_path) -> None:
    path = save_checkpoint(tmp_path / "model.pt", model)
    loaded = load_checkpoint(path).model
    assert type(loaded) is type(model)
    assert loaded.init_kwargs == model.init_kwargs
    model.eval()
    x = _batch(model)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
        assert torch.equal(loaded.encode(x), model.encode(x))


def test_batch_of_one(model: Autoencoder) -> None:
    model.eval()  # BatchNorm (SemanticHashingAutoencoder) needs two samples in training mode
    x = _batch(model, batch_size=1)
    assert model.encode(x).shape == (1, model.code_size)
    assert model(x).shape == x.shape


def test_float32_parameters_and_outputs(model: Autoencoder) -> None:
    assert all(p.dtype == torch.float32 for p in model.parameters())
    x = _batch(model)
    assert model.encode(x).dtype == torch.float32
    assert model(x).dtype == torch.float32


def test_wrong_input_shape_names_expected_and_got(model: Autoencoder) -> None:
    x = _batch(model, batch_size=2)
    flat = x.reshape(2, -1, 1)  # same numbers, wrong shape
    expected = _shape_pattern(model.input_shape)
    for method in ("encode", "forward"):
        with pytest.raises(ValueError, match=rf"{method} expected x of shape {expected}; got"):
            getattr(model, method)(flat)
    with pytest.raises(ValueError, match=rf"expected x of shape {expected}; got \({x.shape[1]},"):
        model(x[0])  # a single example without the batch dimension


def test_wrong_code_shape_names_expected_and_got(model: Autoencoder) -> None:
    z = torch.zeros(2, model.code_size + 1)
    expected = re.escape(f"(B, {model.code_size})")
    with pytest.raises(ValueError, match=rf"decode expected z of shape {expected}; got \(2, "):
        model.decode(z)
    with pytest.raises(
        ValueError, match=rf"expected z of shape {expected}; got \({model.code_size},\)"
    ):
        model.decode(torch.zeros(model.code_size))


def test_wrong_input_types_are_refused(model: Autoencoder) -> None:
    x = _batch(model)
    with pytest.raises(TypeError, match=r"expected x to be a torch\.Tensor; got ndarray"):
        model.encode(x.numpy())
    with pytest.raises(
        TypeError, match=r"expected a floating-point tensor x; got dtype torch.uint8"
    ):
        model(x.to(torch.uint8))
    with pytest.raises(
        TypeError, match=r"expected a floating-point tensor z; got dtype torch\.int64"
    ):
        model.decode(torch.zeros(2, model.code_size, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"expected z to be a torch\.Tensor; got list"):
        model.decode([[0.0] * model.code_size])


@pytest.mark.parametrize("cls", list(MODEL_CLASSES.values()), ids=list(MODEL_CLASSES))
@pytest.mark.parametrize(
    ("code_size", "error", "message"),
    [
        (0, ValueError, "code_size must be a positive integer, got 0"),
        (-3, ValueError, "code_size must be a positive integer, got -3"),
        (2.5, TypeError, r"code_size must be an integer, got float"),
        (True, TypeError, r"code_size must be an integer, got bool"),
    ],
)
def test_bad_code_size_is_refused(
    cls: type[Autoencoder], code_size: Any, error: type[Exception], message: str
) -> None:
    argument = CODE_SIZE_ARGUMENT.get(cls, "code_size")
    others = {"input_size": 4} if cls is SparseAutoencoder else {}  # it has no default input
    with pytest.raises(error, match=message.replace("code_size", argument)):
        cls(**others, **{argument: code_size})


# SparseAutoencoder takes an input_size, not an input_shape (test_sparse_autoencoder_errors).
SHAPED_CLASSES = {name: cls for name, cls in MODEL_CLASSES.items() if cls is not SparseAutoencoder}


@pytest.mark.parametrize("cls", list(SHAPED_CLASSES.values()), ids=list(SHAPED_CLASSES))
def test_bad_input_shape_is_refused(cls: type[Autoencoder]) -> None:
    with pytest.raises(ValueError, match=r"input_shape must contain at least one entry, got \(\)"):
        cls(input_shape=())
    with pytest.raises(ValueError, match=r"input_shape\[1\] must be a positive integer, got 0"):
        cls(input_shape=(1, 0, 28))
    with pytest.raises(TypeError, match="input_shape must be a tuple or list of positive integers"):
        cls(input_shape="1x28x28")


def test_numpy_integers_are_stored_as_plain_ints() -> None:
    model = MLPAutoencoder(
        input_shape=np.array([1, 8, 8]).tolist(),
        hidden_sizes=(np.int64(16),),
        code_size=np.int32(4),
    )
    assert model.init_kwargs["hidden_sizes"] == (16,)
    assert type(model.init_kwargs["hidden_sizes"][0]) is int
    assert type(model.init_kwargs["code_size"]) is int
    assert model.init_kwargs["input_shape"] == (1, 8, 8)


# ---------------------------------------------------------------------------------------------
# Activations and other argument validation
# ---------------------------------------------------------------------------------------------

VALID_NAMES = "('elu', 'gelu', 'identity', 'leaky_relu', 'relu', 'sigmoid', 'tanh', None)"


@pytest.mark.parametrize(
    ("cls", "argument"),
    [
        (MLPAutoencoder, "activation"),
        (MLPAutoencoder, "code_activation"),
        (MLPAutoencoder, "output_activation"),
        (ConvAutoencoder, "activation"),
        (ConvAutoencoder, "output_activation"),
        (VariationalAutoencoder, "activation"),
    ],
)
def test_unknown_activation_lists_the_valid_names(cls: type[Autoencoder], argument: str) -> None:
    message = re.escape(f"{argument} must be one of {VALID_NAMES}, got 'swish'")
    with pytest.raises(ValueError, match=f"^{message}$"):
        cls(**{argument: "swish"})
    with pytest.raises(TypeError, match=rf"{argument} must be an activation name \(str\) or None"):
        cls(**{argument: nn.ReLU()})


@pytest.mark.parametrize(
    ("name", "module_type"),
    [
        ("relu", nn.ReLU),
        ("sigmoid", nn.Sigmoid),
        ("tanh", nn.Tanh),
        ("elu", nn.ELU),
        ("gelu", nn.GELU),
        ("leaky_relu", nn.LeakyReLU),
    ],
)
def test_activation_names_build_the_matching_module(name: str, module_type: type) -> None:
    model = MLPAutoencoder(input_shape=(4,), hidden_sizes=(3,), code_size=2, activation=name)
    assert [type(m) for m in model.encoder] == [nn.Flatten, nn.Linear, module_type, nn.Linear]


@pytest.mark.parametrize("none_like", [None, "identity"])
def test_identity_or_none_adds_no_layer(none_like: str | None) -> None:
    torch.manual_seed(0)
    model = MLPAutoencoder(
        input_shape=(4,), hidden_sizes=(3,), code_size=2, output_activation=none_like
    )
    assert [type(m) for m in model.decoder] == [nn.Linear, nn.ReLU, nn.Linear, nn.Unflatten]
    torch.manual_seed(0)
    x = torch.randn(5, 4)
    assert (model(x) < 0).any()  # no squashing into [0, 1]


def test_other_argument_errors() -> None:
    with pytest.raises(TypeError, match=r"bias must be True or False, got str"):
        LinearAutoencoder(bias="yes")
    with pytest.raises(TypeError, match=r"tied_weights must be True or False, got int"):
        MLPAutoencoder(tied_weights=1)
    with pytest.raises(ValueError, match=r"hidden_sizes\[1\] must be a positive integer, got 0"):
        MLPAutoencoder(hidden_sizes=(16, 0))
    with pytest.raises(
        TypeError, match="hidden_sizes must be a tuple or list of positive integers"
    ):
        MLPAutoencoder(hidden_sizes=16)
    with pytest.raises(ValueError, match=r"decoder_hidden_sizes\[0\] must be a positive integer"):
        MLPAutoencoder(decoder_hidden_sizes=(-1,))
    with pytest.raises(ValueError, match=r"channels must contain at least one entry, got \(\)"):
        ConvAutoencoder(channels=())
    with pytest.raises(ValueError, match="kernel_size must be a positive integer, got 0"):
        ConvAutoencoder(kernel_size=0)


def test_tied_weights_require_the_mirror_decoder() -> None:
    message = re.escape(
        "tied_weights=True requires the mirror decoder: decoder_hidden_sizes must be None or "
        "(8, 16) (reversed hidden_sizes); got (16, 8)"
    )
    with pytest.raises(ValueError, match=message):
        MLPAutoencoder(hidden_sizes=(16, 8), decoder_hidden_sizes=(16, 8), tied_weights=True)
    # Spelling out the mirror is allowed and builds the same model as leaving it None.
    explicit = MLPAutoencoder(hidden_sizes=(16, 8), decoder_hidden_sizes=[8, 16], tied_weights=True)
    implicit = MLPAutoencoder(hidden_sizes=(16, 8), tied_weights=True)
    assert explicit.init_kwargs["decoder_hidden_sizes"] == (8, 16)
    assert count_parameters(explicit) == count_parameters(implicit)


def test_conv_input_shape_must_be_three_dimensional() -> None:
    message = re.escape("input_shape must be 3-d (C, H, W) for ConvAutoencoder; got (28, 28) (2-d)")
    with pytest.raises(ValueError, match=message):
        ConvAutoencoder(input_shape=(28, 28))
    with pytest.raises(ValueError, match=r"must be 3-d \(C, H, W\).*got \(784,\) \(1-d\)"):
        ConvAutoencoder(input_shape=(784,))


def test_conv_spatial_size_must_fit_the_stride_2_layers() -> None:
    message = re.escape(
        "input_shape spatial size 7x8 is too small for 3 stride-2 conv layers "
        "(channels=(2, 2, 2)): need at least 8x8"
    )
    with pytest.raises(ValueError, match=message):
        ConvAutoencoder(input_shape=(1, 7, 8), channels=(2, 2, 2))
    with pytest.raises(ValueError, match="need at least 16x16"):
        ConvAutoencoder(input_shape=(1, 28, 8), channels=(2, 2, 2, 2))
    # Exactly 2 ** n_layers still works and ends in a 1x1 feature map.
    model = ConvAutoencoder(input_shape=(1, 8, 8), channels=(2, 2, 2), code_size=2)
    assert model.feature_shape == (2, 1, 1)
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)


def test_count_parameters() -> None:
    assert count_parameters(nn.Linear(3, 2)) == 3 * 2 + 2
    with pytest.raises(TypeError, match=r"model must be an nn\.Module, got dict"):
        count_parameters({})


# ---------------------------------------------------------------------------------------------
# Linear autoencoder
# ---------------------------------------------------------------------------------------------


def test_linear_autoencoder_parameter_count_closed_form() -> None:
    d, k = 784, 30
    assert count_parameters(LinearAutoencoder()) == d * k + k + k * d + d
    assert count_parameters(LinearAutoencoder(bias=False)) == 2 * d * k


@pytest.mark.parametrize("k", [1, 5])
def test_linear_autoencoder_reconstructions_have_rank_k(k: int) -> None:
    torch.manual_seed(0)
    x = torch.rand(20, 1, 8, 8)
    assert np.linalg.matrix_rank(x.reshape(20, -1).numpy()) == 20  # the data itself is full rank

    no_bias = LinearAutoencoder(input_shape=(1, 8, 8), code_size=k, bias=False)
    with torch.no_grad():
        x_hat = no_bias(x).reshape(20, -1).numpy()
    assert np.linalg.matrix_rank(x_hat) == k

    # With biases the reconstructions lie in an affine k-dimensional subspace:
    # x_hat - decode(0) has rank k, x_hat itself rank k + 1.
    affine = LinearAutoencoder(input_shape=(1, 8, 8), code_size=k, bias=True)
    with torch.no_grad():
        x_hat = affine(x).reshape(20, -1).numpy()
        offset = affine.decode(torch.zeros(1, k)).reshape(1, -1).numpy()
    assert np.linalg.matrix_rank(x_hat - offset) == k
    assert np.linalg.matrix_rank(x_hat) == k + 1


# ---------------------------------------------------------------------------------------------
# MLP autoencoder
# ---------------------------------------------------------------------------------------------


def test_mlp_parameter_count_for_784_512_256_32_mirror() -> None:
    # Computed by hand: weights + biases of 784->512->256->32 and 32->256->512->784.
    encoder = (784 * 512 + 512) + (512 * 256 + 256) + (256 * 32 + 32)  # 541_472
    decoder = (32 * 256 + 256) + (256 * 512 + 512) + (512 * 784 + 784)  # 542_224
    assert encoder + decoder == 1_083_696
    model = MLPAutoencoder(input_shape=(1, 28, 28), hidden_sizes=(512, 256), code_size=32)
    assert count_parameters(model) == 1_083_696
    assert count_parameters(model.encoder) == 541_472
    assert count_parameters(MLPAutoencoder()) == 1_083_696  # the defaults are this model


def test_mlp_asymmetric_decoder_widths_and_parameter_count() -> None:
    model = MLPAutoencoder(
        input_shape=(1, 28, 28), hidden_sizes=(128, 64), code_size=10, decoder_hidden_sizes=(32,)
    )
    dec_widths = [
        (m.in_features, m.out_features) for m in model.decoder if isinstance(m, nn.Linear)
    ]
    assert dec_widths == [(10, 32), (32, 784)]
    by_hand = (
        (784 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10) + (10 * 32 + 32) + (32 * 784 + 784)
    )
    assert count_parameters(model) == by_hand


def test_mlp_without_hidden_layers_is_linear_then_code_activation() -> None:
    # The structure contractive_penalty(method="sigmoid") relies on.
    model = MLPAutoencoder(
        input_shape=(1, 8, 8), hidden_sizes=(), code_size=5, code_activation="sigmoid"
    )
    assert [type(m) for m in model.encoder] == [nn.Flatten, nn.Linear, nn.Sigmoid]
    x = torch.rand(3, 1, 8, 8)
    linear = model.encoder[1]
    by_hand = 1 / (
        1
        + np.exp(
            -(
                x.reshape(3, -1).numpy() @ linear.weight.detach().numpy().T
                + linear.bias.detach().numpy()
            )
        )
    )
    np.testing.assert_allclose(model.encode(x).detach().numpy(), by_hand, rtol=1e-5, atol=1e-6)


def _tied_pairs(model: MLPAutoencoder) -> list[tuple[nn.Linear, TiedLinear]]:
    enc = [m for m in model.encoder if isinstance(m, nn.Linear)]
    dec = [m for m in model.decoder if isinstance(m, TiedLinear)]
    assert len(enc) == len(dec)
    return list(zip(enc, reversed(dec), strict=True))


def test_tied_weights_share_storage_and_are_used_transposed() -> None:
    torch.manual_seed(0)
    model = MLPAutoencoder(
        input_shape=(1, 8, 8), hidden_sizes=(16, 8), code_size=4, tied_weights=True
    )
    pairs = _tied_pairs(model)
    assert len(pairs) == 3
    for enc, dec in pairs:
        assert dec.weight is enc.weight
        assert dec.weight.data_ptr() == enc.weight.data_ptr()
        h = torch.randn(2, enc.out_features)
        by_hand = h.numpy() @ enc.weight.detach().numpy() + dec.bias.detach().numpy()
        np.testing.assert_allclose(dec(h).detach().numpy(), by_hand, rtol=1e-5, atol=1e-6)

    # Editing the encoder weight in place changes the decoder too (one storage, not a copy).
    enc, dec = pairs[0]
    h = torch.randn(2, enc.out_features)
    with torch.no_grad():
        enc.weight.mul_(2.0)
        by_hand = h.numpy() @ enc.weight.numpy() + dec.bias.numpy()
        np.testing.assert_allclose(dec(h).numpy(), by_hand, rtol=1e-5, atol=1e-6)


def test_tied_linear_refuses_other_layers_and_says_tied_in_its_repr() -> None:
    with pytest.raises(TypeError, match=r"source must be an nn\.Linear; got Conv2d"):
        TiedLinear(nn.Conv2d(1, 1, 3))
    assert (
        repr(TiedLinear(nn.Linear(5, 3))) == "TiedLinear(in_features=3, out_features=5, tied=True)"
    )


def test_tied_parameter_count_is_smaller_by_the_encoder_weights() -> None:
    untied = MLPAutoencoder(hidden_sizes=(512, 256), code_size=32)
    tied = MLPAutoencoder(hidden_sizes=(512, 256), code_size=32, tied_weights=True)
    saved = 784 * 512 + 512 * 256 + 256 * 32  # the decoder weight matrices: 540_672
    assert count_parameters(untied) - count_parameters(tied) == saved
    assert count_parameters(tied) == 1_083_696 - 540_672
    # parameters() lists each shared matrix once.
    assert len(list(tied.parameters())) == len(list(untied.parameters())) - 3


def test_tied_gradient_is_the_sum_of_both_uses() -> None:
    # Chain rule oracle: an untied copy whose decoder weights equal the transposed encoder
    # weights computes the same function; the tied gradient must be grad_enc + grad_dec^T.
    torch.manual_seed(0)
    kwargs = {"input_shape": (1, 8, 8), "hidden_sizes": (16, 8), "code_size": 4}
    tied = MLPAutoencoder(**kwargs, tied_weights=True)
    untied = MLPAutoencoder(**kwargs)
    untied_dec = [m for m in untied.decoder if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for (enc, dec), u_enc, u_dec in zip(
            _tied_pairs(tied),
            [m for m in untied.encoder if isinstance(m, nn.Linear)],
            reversed(untied_dec),
            strict=True,
        ):
            u_enc.weight.copy_(enc.weight)
            u_enc.bias.copy_(enc.bias)
            u_dec.weight.copy_(enc.weight.T)
            u_dec.bias.copy_(dec.bias)
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(tied(x), untied(x))
    ((tied(x) - x) ** 2).sum().backward()
    ((untied(x) - x) ** 2).sum().backward()
    for (enc, _), u_enc, u_dec in zip(
        _tied_pairs(tied),
        [m for m in untied.encoder if isinstance(m, nn.Linear)],
        reversed(untied_dec),
        strict=True,
    ):
        torch.testing.assert_close(enc.weight.grad, u_enc.weight.grad + u_dec.weight.grad.T)


def test_tying_survives_deepcopy_and_checkpoints(tmp_path) -> None:
    model = MLPAutoencoder(
        input_shape=(1, 8, 8), hidden_sizes=(16,), code_size=4, tied_weights=True
    )
    for clone in (
        copy.deepcopy(model),
        load_checkpoint(save_checkpoint(tmp_path / "t.pt", model)).model,
    ):
        for enc, dec in _tied_pairs(clone):
            assert dec.weight is enc.weight
        assert count_parameters(clone) == count_parameters(model)


# ---------------------------------------------------------------------------------------------
# Convolutional autoencoder
# ---------------------------------------------------------------------------------------------


def _conv_size_by_formula(size: int, kernel_size: int, n_layers: int) -> list[int]:
    """PyTorch's Conv2d output size, floor((n + 2p - k) / s) + 1, with the documented p, s."""
    padding, stride = (kernel_size - 1) // 2, 2
    sizes = [size]
    for _ in range(n_layers):
        sizes.append(math.floor((sizes[-1] + 2 * padding - kernel_size) / stride) + 1)
    return sizes


@pytest.mark.parametrize(
    ("input_shape", "channels", "kernel_size", "expected_hw"),
    [
        ((1, 28, 28), (4, 8), 3, [28, 14, 7]),
        ((3, 32, 32), (4, 8), 3, [32, 16, 8]),
        ((1, 64, 64), (2, 4, 8), 3, [64, 32, 16, 8]),
        ((1, 28, 28), (4, 8), 5, [28, 14, 7]),
        ((1, 28, 28), (4, 8), 4, [28, 14, 7]),
        ((1, 15, 15), (2, 2), 3, [15, 8, 4]),
        ((1, 15, 15), (2, 2), 2, [15, 7, 3]),
    ],
)
def test_conv_encoder_feature_sizes_follow_the_formula(
    input_shape: tuple[int, int, int],
    channels: tuple[int, ...],
    kernel_size: int,
    expected_hw: list[int],
) -> None:
    assert _conv_size_by_formula(input_shape[1], kernel_size, len(channels)) == expected_hw
    model = ConvAutoencoder(
        input_shape=input_shape, channels=channels, code_size=3, kernel_size=kernel_size
    )
    assert model.feature_shape == (channels[-1], expected_hw[-1], expected_hw[-1])
    # Run the convolutions and check each layer's output against the formula.
    h = torch.rand(2, *input_shape)
    convs = [m for m in model.encoder if isinstance(m, nn.Conv2d)]
    assert len(convs) == len(channels)
    for conv, c_out, size in zip(convs, channels, expected_hw[1:], strict=True):
        h = conv(h)
        assert h.shape == (2, c_out, size, size)


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_conv_output_has_exactly_the_input_size(size: int, in_channels: int) -> None:
    model = ConvAutoencoder(input_shape=(in_channels, size, size), channels=(2, 4), code_size=3)
    x = torch.rand(2, in_channels, size, size)
    assert model(x).shape == x.shape
    out = model(x)
    assert ((out >= 0) & (out <= 1)).all()  # default sigmoid output


@pytest.mark.parametrize("upsample", ConvAutoencoder.UPSAMPLE_CHOICES)
@pytest.mark.parametrize("shape", [(1, 7, 7), (2, 9, 12), (1, 13, 10)])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 5])
def test_conv_output_size_for_odd_and_rectangular_inputs(
    shape: tuple[int, int, int], kernel_size: int, upsample: str
) -> None:
    model = ConvAutoencoder(
        input_shape=shape, channels=(2, 2), code_size=2, kernel_size=kernel_size, upsample=upsample
    )
    x = torch.rand(1, *shape)
    assert model(x).shape == x.shape


@pytest.mark.parametrize("kernel_size", [2, 3, 4])
def test_conv_upsampling_choices_have_equal_parameter_counts(kernel_size: int) -> None:
    counts = {
        u: count_parameters(
            ConvAutoencoder(channels=(8, 16), code_size=10, kernel_size=kernel_size, upsample=u)
        )
        for u in ConvAutoencoder.UPSAMPLE_CHOICES
    }
    # By hand: the encoder and the linear layers, then two k x k layers 16->8 and 8->1.
    p = (kernel_size - 1) // 2
    h = (28 + 2 * p - kernel_size) // 2 + 1
    h = (h + 2 * p - kernel_size) // 2 + 1
    k2 = kernel_size**2
    by_hand = (
        (1 * 8 * k2 + 8)
        + (8 * 16 * k2 + 16)
        + (16 * h * h * 10 + 10)
        + (10 * 16 * h * h + 16 * h * h)
        + (16 * 8 * k2 + 8)
        + (8 * 1 * k2 + 1)
    )
    assert counts == dict.fromkeys(ConvAutoencoder.UPSAMPLE_CHOICES, by_hand)


def test_conv_resize_layers_match_torch_interpolate_and_same_padding() -> None:
    # Oracle: F.interpolate followed by F.conv2d with padding="same", written out.
    torch.manual_seed(0)
    model = ConvAutoencoder(
        input_shape=(1, 12, 12), channels=(3,), code_size=4, kernel_size=4, upsample="bilinear"
    )
    layers = list(model.decoder)
    conv = layers[-2]
    assert isinstance(conv, nn.Conv2d) and conv.stride == (1, 1)
    h = torch.rand(2, 3, 6, 6)
    up = torch.nn.functional.interpolate(h, size=(12, 12), mode="bilinear")
    with pytest.warns(UserWarning, match="even kernel"):  # torch's own "same" for even kernels
        expected = torch.nn.functional.conv2d(up, conv.weight, conv.bias, padding="same")
    out = torch.nn.Sequential(*layers[-4:-1])(h)  # Upsample, ZeroPad2d, Conv2d
    torch.testing.assert_close(out, expected)


def test_conv_transposed_decoder_prints_a_checkerboard_and_resize_does_not() -> None:
    # Odena et al. (2016): a 3x3 transposed convolution at stride 2 overlaps unevenly, so with
    # all-ones weights a constant input gives interior outputs that alternate with period 2
    # (1, 2 or 4 taps per pixel); a resize-convolution gives a constant interior.
    outputs = {}
    for upsample in ("transposed", "nearest"):
        model = ConvAutoencoder(
            input_shape=(1, 16, 16), channels=(1,), code_size=2, upsample=upsample,
            output_activation=None,
        )  # fmt: skip
        up = next(m for m in model.decoder if isinstance(m, nn.ConvTranspose2d | nn.Conv2d))
        with torch.no_grad():
            up.weight.fill_(1.0)
            up.bias.zero_()
        layers = list(model.decoder)[3:]  # after Linear, activation, Unflatten
        outputs[upsample] = nn.Sequential(*layers)(torch.ones(1, 1, 8, 8))[0, 0, 2:-2, 2:-2]
    assert set(outputs["transposed"].unique().tolist()) == {1.0, 2.0, 4.0}
    assert outputs["nearest"].unique().tolist() == [9.0]


def test_conv_refuses_an_unknown_upsampling() -> None:
    with pytest.raises(ValueError, match=r"upsample must be one of .*'transposed'.*got 'pixel'"):
        ConvAutoencoder(upsample="pixel")


def test_conv_parameter_count_closed_form() -> None:
    # Default model, by hand: conv 1->32 and 32->64 (3x3), linear 64*7*7 -> 32 and back,
    # transposed conv 64->32 and 32->1 (3x3); weights + biases.
    by_hand = (
        (1 * 32 * 9 + 32)
        + (32 * 64 * 9 + 64)
        + (64 * 7 * 7 * 32 + 32)
        + (32 * 64 * 7 * 7 + 64 * 7 * 7)
        + (64 * 32 * 9 + 32)
        + (32 * 1 * 9 + 1)
    )
    assert by_hand == 241_441
    assert count_parameters(ConvAutoencoder()) == by_hand


# ---------------------------------------------------------------------------------------------
# Semantic-hashing autoencoder
# ---------------------------------------------------------------------------------------------


def test_semantic_hashing_equals_the_hand_written_model_of_the_retrieval_chapter() -> None:
    # The model chapter 10 and reproductions/hashing_retrieval.py used to define themselves,
    # written out with plain layers: same seed, same weights, same logits and reconstructions.
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 32), nn.BatchNorm1d(32))
    decoder = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid())
    torch.manual_seed(0)
    model = SemanticHashingAutoencoder(input_shape=(784,), hidden_sizes=(256,), code_size=32)
    x = torch.rand(16, 784, generator=torch.Generator().manual_seed(1))
    a = encoder(x)  # (16, 32) logits, batch statistics (training mode)
    torch.testing.assert_close(model.encode(x), a, rtol=0, atol=0)
    noisy = a + 4.0 * torch.randn(a.shape, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(model.decode(noisy), decoder(torch.sigmoid(noisy)), rtol=0, atol=0)
    assert count_parameters(model) == (784 * 256 + 256) + (256 * 32 + 32) + 2 * 32 + (
        32 * 256 + 256
    ) + (256 * 784 + 784)


def test_semantic_hashing_layers_and_eval_mode_encodes_one_item_as_in_a_batch() -> None:
    torch.manual_seed(0)
    model = SemanticHashingAutoencoder(input_shape=(1, 8, 8), hidden_sizes=(16, 8), code_size=4)
    assert [type(m) for m in model.encoder] == [
        nn.Flatten, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.BatchNorm1d
    ]  # fmt: skip
    assert [type(m) for m in model.decoder] == [
        nn.Sigmoid, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.Sigmoid, nn.Unflatten
    ]  # fmt: skip
    x = torch.rand(10, 1, 8, 8)
    model(x)  # one training-mode pass updates the running statistics
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.encode(x[3:4]), model.encode(x)[3:4])
        out = model(x)
    assert out.shape == x.shape and ((out > 0) & (out < 1)).all()


# ---------------------------------------------------------------------------------------------
# Sparse autoencoder
# ---------------------------------------------------------------------------------------------


def _numpy_pre_activations(model: SparseAutoencoder, x: torch.Tensor) -> np.ndarray:
    """W_enc (x - b_pre) + b_enc, computed in NumPy from the parameters."""
    weight = model.encoder.weight.detach().numpy().astype(np.float64)  # (K, D)
    bias = model.encoder.bias.detach().numpy().astype(np.float64)  # (K,)
    pre_bias = model.decoder.pre_bias.detach().numpy().astype(np.float64)  # (D,)
    return (x.numpy().astype(np.float64) - pre_bias) @ weight.T + bias


def test_sparse_autoencoder_relu_codes_and_decoder_against_numpy() -> None:
    torch.manual_seed(0)
    model = SparseAutoencoder(input_size=7, dictionary_size=11)
    with torch.no_grad():  # move away from the initial values so that every term matters
        model.encoder.bias.normal_()
        model.decoder.pre_bias.normal_()
        model.decoder.weight.mul_(torch.rand(11, 1) * 3 + 0.5)  # rows of any norm
    x = torch.randn(9, 7, generator=torch.Generator().manual_seed(1))
    codes = np.maximum(_numpy_pre_activations(model, x), 0)  # (B, K)
    np.testing.assert_allclose(model.encode(x).detach().numpy(), codes, rtol=1e-5, atol=1e-6)
    raw = model.decoder.weight.detach().numpy().astype(np.float64)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)  # (K, D)
    np.testing.assert_allclose(model.dictionary.numpy(), unit, rtol=1e-5, atol=1e-6)
    pre_bias = model.decoder.pre_bias.detach().numpy()
    expected = codes @ unit + pre_bias  # (B, D)
    np.testing.assert_allclose(model(x).detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    assert model.dictionary.shape == (11, 7) and not model.dictionary.requires_grad


@pytest.mark.parametrize(("k", "shift"), [(1, 0.0), (4, 0.0), (4, 10.0), (11, 0.0)])
def test_top_k_codes_keep_the_k_largest_pre_activations(k: int, shift: float) -> None:
    torch.manual_seed(0)
    model = SparseAutoencoder(input_size=6, dictionary_size=11, k=k)
    with torch.no_grad():
        model.encoder.bias.normal_().add_(shift)  # shift 10: every pre-activation positive
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(2))
    a = _numpy_pre_activations(model, x)  # (B, K)
    expected = np.zeros_like(a)
    top = np.argsort(-a, axis=1)[:, :k]  # (B, k) the k largest, by NumPy
    np.put_along_axis(expected, top, np.maximum(np.take_along_axis(a, top, axis=1), 0), axis=1)
    z = model.encode(x).detach().numpy()
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)
    nonzero = (z != 0).sum(axis=1)
    np.testing.assert_array_equal(nonzero, np.minimum(k, (a > 0).sum(axis=1)))
    if shift:
        assert (nonzero == k).all()  # exactly k non-zeros per row
    torch.testing.assert_close(model.activate(model.pre_activations(x)), model.encode(x))


def test_sparse_autoencoder_initialisation() -> None:
    torch.manual_seed(0)
    model = SparseAutoencoder(input_size=16, dictionary_size=40, k=5)
    raw = model.decoder.weight.detach()
    torch.testing.assert_close(raw.norm(dim=1), torch.ones(40))  # unit rows from the start
    torch.testing.assert_close(model.encoder.weight.detach(), model.dictionary)  # W_enc = D
    assert model.encoder.weight.data_ptr() != raw.data_ptr()  # a copy, trained separately
    assert (model.encoder.bias == 0).all() and (model.decoder.pre_bias == 0).all()
    assert model.encoder.pre_bias is model.decoder.pre_bias  # one offset, used on both sides
    assert count_parameters(model) == 2 * 40 * 16 + 40 + 16
    assert model.samples_since_fired.dtype == torch.int64
    assert (model.samples_since_fired == 0).all()


def test_gradient_reaching_a_dictionary_row_has_no_component_along_it() -> None:
    torch.manual_seed(0)
    model = SparseAutoencoder(input_size=8, dictionary_size=20).double()
    x = torch.randn(32, 8, dtype=torch.float64)
    ((model(x) - x) ** 2).sum().backward()
    rows, grad = model.decoder.weight.detach(), model.decoder.weight.grad
    assert grad.abs().sum() > 1
    along = (rows * grad).sum(dim=1)  # (K,) component of each row's gradient along the row
    torch.testing.assert_close(along, torch.zeros(20, dtype=torch.float64), atol=1e-12, rtol=0)


def test_normalize_decoder_keeps_the_function_and_firing_counts() -> None:
    torch.manual_seed(0)
    model = SparseAutoencoder(input_size=4, dictionary_size=6, k=2)
    with torch.no_grad():
        model.decoder.weight.mul_(torch.arange(1.0, 7.0)[:, None])  # norms 1..6
    x = torch.randn(5, 4)
    before = model(x).detach()
    model.normalize_decoder_()
    torch.testing.assert_close(model.decoder.weight.detach().norm(dim=1), torch.ones(6))
    torch.testing.assert_close(model(x).detach(), before)
    z = torch.zeros(3, 6)
    z[0, 1], z[2, 4] = 1.0, 0.5  # latents 1 and 4 fire in a batch of 3
    model.record_firing_(z)
    assert model.samples_since_fired.tolist() == [3, 0, 3, 3, 0, 3]
    model.record_firing_(torch.zeros(2, 6).index_fill_(1, torch.tensor([0]), 2.0))
    assert model.samples_since_fired.tolist() == [0, 2, 5, 5, 2, 5]
    assert model.dead_latents(5).tolist() == [False, False, True, True, False, True]
    assert model.dead_latents(1).tolist() == [False, True, True, True, True, True]


def test_init_pre_bias_is_the_geometric_median() -> None:
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(200, 3)), rng.normal(20, 1, size=(40, 3))])  # outliers
    model = SparseAutoencoder(input_size=3, dictionary_size=4)
    median = model.init_pre_bias_(torch.from_numpy(x).float(), iterations=200)
    oracle = minimize(lambda m: np.linalg.norm(x - m, axis=1).sum(), x.mean(axis=0)).x
    np.testing.assert_allclose(median.numpy(), oracle, atol=1e-3)
    assert np.linalg.norm(median.numpy()) < 1.5 < np.linalg.norm(x.mean(axis=0))  # robust
    torch.testing.assert_close(model.decoder.pre_bias.detach(), median)
    torch.testing.assert_close(model.encoder.pre_bias.detach(), median)  # one shared offset
    with pytest.raises(ValueError, match=r"init_pre_bias_ expected x of shape \(B, 3\)"):
        model.init_pre_bias_(torch.zeros(5, 2))


def test_sparse_autoencoder_errors() -> None:
    with pytest.raises(ValueError, match=r"input_size must be a positive integer, got 0"):
        SparseAutoencoder(input_size=0, dictionary_size=4)
    with pytest.raises(TypeError, match=r"input_size must be an integer, got tuple"):
        SparseAutoencoder(input_size=(4,), dictionary_size=4)
    with pytest.raises(ValueError, match=r"dictionary_size must be a positive integer, got -2"):
        SparseAutoencoder(input_size=4, dictionary_size=-2)
    message = re.escape("k must be at most dictionary_size (8), got 9")
    with pytest.raises(ValueError, match=message):
        SparseAutoencoder(input_size=4, dictionary_size=8, k=9)
    with pytest.raises(ValueError, match=r"k must be a positive integer, got 0"):
        SparseAutoencoder(input_size=4, dictionary_size=8, k=0)
    with pytest.raises(TypeError, match=r"k must be an integer, got bool"):
        SparseAutoencoder(input_size=4, dictionary_size=8, k=True)
    with pytest.raises(TypeError, match=r"missing 2 required keyword-only arguments"):
        SparseAutoencoder()
    model = SparseAutoencoder(input_size=4, dictionary_size=8, k=2)
    with pytest.raises(ValueError, match=r"pre_activations expected x of shape \(B, 4\); got"):
        model.pre_activations(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"encode expected x of shape \(B, 4\); got \(3, 5\)"):
        model.encode(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"after must be a positive integer, got 0"):
        model.dead_latents(0)

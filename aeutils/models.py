"""Autoencoder models: linear, fully connected (MLP), convolutional, semantic hashing, sparse,
variational.

Every model subclasses :class:`Autoencoder` and follows one contract:

- ``encode(x)`` maps a batch ``(B, *input_shape)`` to codes ``(B, code_size)``;
- ``decode(z)`` maps codes back to ``(B, *input_shape)``;
- ``forward(x) == decode(encode(x))``;
- ``encoder`` and ``decoder`` are plain ``nn.Module`` attributes (so that, for example,
  ``contractive_penalty(model.encoder, x)`` works);
- ``code_size``, ``input_shape`` and ``init_kwargs`` describe the model, and
  ``type(model)(**model.init_kwargs)`` rebuilds an identically shaped model (this is what
  :mod:`aeutils.checkpoints` relies on).

``init_kwargs`` holds every constructor argument (defaults included) after validation, as plain
Python types: ``int``, ``bool``, ``str``, ``None`` and tuples of ``int`` (lists given by the caller
are stored as tuples). Storing the defaults too means a checkpoint still rebuilds the same model if
a default changes in a later version.

Activations are given by name: ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"elu"``, ``"gelu"``,
``"leaky_relu"`` (negative slope 0.01) or ``"identity"``/``None`` (no activation layer at all).

Weight initialisation: all layers keep PyTorch's default initialisation (Kaiming-uniform weights
with ``a=sqrt(5)`` and uniform biases in ``±1/sqrt(fan_in)``, see ``nn.Linear.reset_parameters``).
The only parameters that are not an ordinary PyTorch layer's are the biases of a tied decoder
(:class:`TiedLinear`), which use the same uniform rule with ``fan_in`` = the layer's input width,
and those of :class:`SparseAutoencoder` (its docstring says how they start). Seed with
``torch.manual_seed`` before construction for reproducible weights.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aeutils.validation import check_bool, check_choice, check_int, check_module

__all__ = [
    "ACTIVATION_NAMES",
    "MODEL_CLASSES",
    "Autoencoder",
    "ConvAutoencoder",
    "LinearAutoencoder",
    "MLPAutoencoder",
    "SemanticHashingAutoencoder",
    "SparseAutoencoder",
    "TiedLinear",
    "VariationalAutoencoder",
    "count_parameters",
]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "identity": nn.Identity,
}
#: Accepted activation names; ``"identity"`` and ``None`` both mean no activation layer.
ACTIVATION_NAMES: tuple[str | None, ...] = (*sorted(_ACTIVATIONS), None)


# ---------------------------------------------------------------------------------------------
# Argument validation (each helper returns the normalised plain-Python value)
# ---------------------------------------------------------------------------------------------


def _positive_int(value: Any, name: str) -> int:
    return check_int(value, name, minimum=1)


def _int_tuple(value: Any, name: str, *, allow_empty: bool) -> tuple[int, ...]:
    """Return a sequence of positive integers as a tuple of ``int``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(
            f"{name} must be a tuple or list of positive integers, got {type(value).__name__}"
        )
    if not value and not allow_empty:
        raise ValueError(f"{name} must contain at least one entry, got {tuple(value)}")
    return tuple(_positive_int(item, f"{name}[{i}]") for i, item in enumerate(value))


def _activation_name(value: Any, name: str) -> str | None:
    """Check that ``value`` names a known activation (or is None) and return it unchanged."""
    if value is not None and not isinstance(value, str):
        raise TypeError(
            f"{name} must be an activation name (str) or None, got {type(value).__name__}"
        )
    return check_choice(value, name, ACTIVATION_NAMES)


def _append_activation(layers: list[nn.Module], name: str | None) -> None:
    """Append the named activation to ``layers``; "identity"/None appends nothing."""
    if name is not None and name != "identity":
        layers.append(_ACTIVATIONS[name]())


def _with_activations(
    linears: Sequence[nn.Module], activation: str | None, last_activation: str | None
) -> list[nn.Module]:
    """Interleave ``linears`` with ``activation``, ending in ``last_activation``."""
    layers: list[nn.Module] = []
    for i, linear in enumerate(linears):
        layers.append(linear)
        last = i == len(linears) - 1
        _append_activation(layers, last_activation if last else activation)
    return layers


def _shape_str(shape: Sequence[int]) -> str:
    return "(B, " + ", ".join(str(s) for s in shape) + ")"


# ---------------------------------------------------------------------------------------------
# Base class
# ---------------------------------------------------------------------------------------------


class Autoencoder(nn.Module):
    """Base class of all autoencoders in aeutils.

    Subclasses build ``self.encoder`` and ``self.decoder`` (any ``nn.Module``) in their
    constructor after calling ``super().__init__``; the base class checks input shapes and wires
    ``encode``, ``decode`` and ``forward``. Subclasses that need more than one module per side
    may override ``encode``/``decode`` instead (call ``self._check_input``/``self._check_code``).

    Args:
        input_shape: Shape of one input without the batch dimension, e.g. ``(1, 28, 28)``.
        code_size: Width of the code (latent vector).
        init_kwargs: The constructor's keyword arguments as plain Python types, such that
            ``type(model)(**init_kwargs)`` rebuilds the model.

    Attributes:
        input_shape: Shape of one input, without the batch dimension.
        code_size: Width of the code.
        init_kwargs: Constructor arguments (plain Python types).
        encoder: Module mapping ``(B, *input_shape)`` to ``(B, code_size)``.
        decoder: Module mapping ``(B, code_size)`` to ``(B, *input_shape)``.
    """

    encoder: nn.Module
    decoder: nn.Module

    def __init__(
        self, *, input_shape: Sequence[int], code_size: int, init_kwargs: dict[str, Any]
    ) -> None:
        super().__init__()
        self.input_shape: tuple[int, ...] = _int_tuple(
            input_shape, "input_shape", allow_empty=False
        )
        self.code_size: int = _positive_int(code_size, "code_size")
        self.init_kwargs: dict[str, Any] = dict(init_kwargs)

    def _check_input(self, x: Any, method: str = "encode") -> None:
        """Raise TypeError/ValueError unless ``x`` is a float ``(B, *input_shape)`` tensor."""
        where = f"{type(self).__name__}.{method}"
        if not isinstance(x, Tensor):
            raise TypeError(f"{where} expected x to be a torch.Tensor; got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"{where} expected a floating-point tensor x; got dtype {x.dtype}")
        if x.dim() != len(self.input_shape) + 1 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"{where} expected x of shape {_shape_str(self.input_shape)}; got {tuple(x.shape)}"
            )

    def _check_code(self, z: Any, method: str = "decode") -> None:
        """Raise TypeError/ValueError unless ``z`` is a float tensor of shape (B, code_size)."""
        where = f"{type(self).__name__}.{method}"
        if not isinstance(z, Tensor):
            raise TypeError(f"{where} expected z to be a torch.Tensor; got {type(z).__name__}")
        if not z.is_floating_point():
            raise TypeError(f"{where} expected a floating-point tensor z; got dtype {z.dtype}")
        if z.dim() != 2 or z.shape[1] != self.code_size:
            raise ValueError(
                f"{where} expected z of shape {_shape_str((self.code_size,))}; got {tuple(z.shape)}"
            )

    def encode(self, x: Tensor) -> Tensor:
        """Map inputs to codes.

        Args:
            x: Input batch.

        Returns:
            The codes.

        Raises:
            TypeError: If ``x`` is not a floating-point tensor.
            ValueError: If ``x`` is not shaped ``(B, *input_shape)``.

        Shape:
            x: ``(B, *input_shape)`` -> ``(B, code_size)``.
        """
        self._check_input(x, "encode")
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Map codes to reconstructions.

        Args:
            z: Batch of codes.

        Returns:
            The reconstructions.

        Raises:
            TypeError: If ``z`` is not a floating-point tensor.
            ValueError: If ``z`` is not shaped ``(B, code_size)``.

        Shape:
            z: ``(B, code_size)`` -> ``(B, *input_shape)``.
        """
        self._check_code(z)
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruct ``x``: ``decode(encode(x))``.

        Args:
            x: Input batch.

        Returns:
            The reconstructions, shaped like ``x``.

        Raises:
            TypeError: If ``x`` is not a floating-point tensor.
            ValueError: If ``x`` is not shaped ``(B, *input_shape)``.

        Shape:
            x: ``(B, *input_shape)`` -> ``(B, *input_shape)``.
        """
        self._check_input(x, "forward")  # so that errors name forward, not encode
        return self.decode(self.encode(x))


# ---------------------------------------------------------------------------------------------
# Linear autoencoder
# ---------------------------------------------------------------------------------------------


class LinearAutoencoder(Autoencoder):
    """Linear autoencoder: ``z = W1 x + b1``, ``x_hat = W2 z + b2`` (no activations).

    With the squared error loss its optimum spans the same subspace as PCA's first
    ``code_size`` components, and its reconstructions have rank at most ``code_size``
    (``code_size + 1`` with the affine offset ``b2``).

    Args:
        input_shape: Shape of one input without the batch dimension.
        code_size: Width of the code.
        bias: Whether both linear maps have a bias.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``input_shape`` or ``code_size`` are not positive integers.

    Shape:
        encode: ``(B, *input_shape)`` -> ``(B, code_size)``; decode: the reverse.
    """

    def __init__(
        self, *, input_shape: Sequence[int] = (1, 28, 28), code_size: int = 30, bias: bool = True
    ) -> None:
        shape = _int_tuple(input_shape, "input_shape", allow_empty=False)
        code_size = _positive_int(code_size, "code_size")
        bias = check_bool(bias, "bias")
        super().__init__(
            input_shape=shape,
            code_size=code_size,
            init_kwargs={"input_shape": shape, "code_size": code_size, "bias": bias},
        )
        n_inputs = math.prod(shape)
        self.encoder = nn.Sequential(
            nn.Flatten(),  # (B, D)
            nn.Linear(n_inputs, code_size, bias=bias),  # (B, k)
        )
        self.decoder = nn.Sequential(
            nn.Linear(code_size, n_inputs, bias=bias),  # (B, D)
            nn.Unflatten(1, shape),  # (B, *input_shape)
        )


# ---------------------------------------------------------------------------------------------
# Fully connected autoencoder
# ---------------------------------------------------------------------------------------------


class TiedLinear(nn.Module):
    """Linear layer that reuses another layer's weight matrix, transposed.

    ``y = x @ source.weight + bias``, i.e. ``F.linear(x, source.weight.T, bias)``. The attribute
    ``weight`` *is* ``source.weight`` (the same ``nn.Parameter``, same storage), so gradients
    from both uses accumulate into one parameter and ``model.parameters()`` lists it once. Only
    the bias is new; it is initialised uniformly in ``±1/sqrt(in_features)``, like ``nn.Linear``.

    Args:
        source: The layer whose weight is shared, shape ``(out, in)`` of the *source*.

    Shape:
        ``(B, source.out_features)`` -> ``(B, source.in_features)``.
    """

    def __init__(self, source: nn.Linear) -> None:
        super().__init__()
        if not isinstance(source, nn.Linear):
            raise TypeError(f"source must be an nn.Linear; got {type(source).__name__}")
        self.in_features = source.out_features
        self.out_features = source.in_features
        self.weight = source.weight  # shared Parameter, shape (in_features, out_features)
        self.bias = nn.Parameter(torch.empty(self.out_features, dtype=source.weight.dtype))
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the transposed shared weight. Shape: ``(B, in)`` -> ``(B, out)``."""
        return F.linear(x, self.weight.t(), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, tied=True"


class MLPAutoencoder(Autoencoder):
    """Fully connected autoencoder.

    Encoder: ``Flatten -> [Linear -> activation] per hidden size -> Linear -> code_activation``.
    Decoder: ``[Linear -> activation] per decoder hidden size -> Linear -> output_activation ->
    Unflatten``. By default the decoder mirrors the encoder (``decoder_hidden_sizes`` =
    ``reversed(hidden_sizes)``); give ``decoder_hidden_sizes`` for an asymmetric decoder.
    With ``tied_weights=True`` each decoder layer reuses the transposed weight of the matching
    encoder layer (:class:`TiedLinear`); only the decoder biases are new parameters. With
    ``hidden_sizes=()`` the encoder is ``Flatten -> Linear (-> code_activation)``.

    Args:
        input_shape: Shape of one input without the batch dimension.
        hidden_sizes: Widths of the encoder's hidden layers, input side first.
        code_size: Width of the code.
        activation: Activation name after every hidden layer (encoder and decoder).
        code_activation: Activation name on the code, e.g. ``"sigmoid"`` for KL-sparse or
            contractive autoencoders; ``None`` for a linear code.
        output_activation: Activation name on the reconstruction (``"sigmoid"`` for data in
            [0, 1]); ``None`` for none.
        decoder_hidden_sizes: Widths of the decoder's hidden layers, code side first;
            ``None`` mirrors the encoder.
        tied_weights: Share the (transposed) encoder weights with the decoder. Requires the
            mirror decoder.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a size is not a positive integer, an activation name is unknown, or
            ``tied_weights=True`` with a decoder that is not the mirror of the encoder.

    Shape:
        encode: ``(B, *input_shape)`` -> ``(B, code_size)``; decode: the reverse.
    """

    def __init__(
        self,
        *,
        input_shape: Sequence[int] = (1, 28, 28),
        hidden_sizes: Sequence[int] = (512, 256),
        code_size: int = 32,
        activation: str | None = "relu",
        code_activation: str | None = None,
        output_activation: str | None = "sigmoid",
        decoder_hidden_sizes: Sequence[int] | None = None,
        tied_weights: bool = False,
    ) -> None:
        shape = _int_tuple(input_shape, "input_shape", allow_empty=False)
        hidden = _int_tuple(hidden_sizes, "hidden_sizes", allow_empty=True)
        code_size = _positive_int(code_size, "code_size")
        activation = _activation_name(activation, "activation")
        code_activation = _activation_name(code_activation, "code_activation")
        output_activation = _activation_name(output_activation, "output_activation")
        tied_weights = check_bool(tied_weights, "tied_weights")
        mirror = tuple(reversed(hidden))
        if decoder_hidden_sizes is None:
            decoder_hidden: tuple[int, ...] | None = None
        else:
            decoder_hidden = _int_tuple(
                decoder_hidden_sizes, "decoder_hidden_sizes", allow_empty=True
            )
        if tied_weights and decoder_hidden is not None and decoder_hidden != mirror:
            raise ValueError(
                "tied_weights=True requires the mirror decoder: decoder_hidden_sizes must be "
                f"None or {mirror} (reversed hidden_sizes); got {decoder_hidden}"
            )
        super().__init__(
            input_shape=shape,
            code_size=code_size,
            init_kwargs={
                "input_shape": shape,
                "hidden_sizes": hidden,
                "code_size": code_size,
                "activation": activation,
                "code_activation": code_activation,
                "output_activation": output_activation,
                "decoder_hidden_sizes": decoder_hidden,
                "tied_weights": tied_weights,
            },
        )
        self.hidden_sizes = hidden
        self.decoder_hidden_sizes = mirror if decoder_hidden is None else decoder_hidden
        self.tied_weights = tied_weights

        # Encoder: widths D -> h1 -> ... -> hL -> k.
        enc_widths = (math.prod(shape), *hidden, code_size)
        enc_linears = [nn.Linear(a, b) for a, b in itertools.pairwise(enc_widths)]
        self.encoder = nn.Sequential(
            nn.Flatten(),  # (B, D)
            *_with_activations(enc_linears, activation, code_activation),
        )  # (B, k)

        # Decoder: widths k -> g1 -> ... -> gM -> D.
        dec_widths = (code_size, *self.decoder_hidden_sizes, math.prod(shape))
        dec_linears: list[nn.Module]
        if tied_weights:
            dec_linears = [TiedLinear(linear) for linear in reversed(enc_linears)]
        else:
            dec_linears = [nn.Linear(a, b) for a, b in itertools.pairwise(dec_widths)]
        self.decoder = nn.Sequential(
            *_with_activations(dec_linears, activation, output_activation),
            nn.Unflatten(1, shape),  # (B, *input_shape)
        )


# ---------------------------------------------------------------------------------------------
# Convolutional autoencoder
# ---------------------------------------------------------------------------------------------


def _conv_out(size: int, kernel_size: int, padding: int, stride: int = 2) -> int:
    """Output length of a Conv2d along one axis (PyTorch's formula, dilation 1)."""
    return (size + 2 * padding - kernel_size) // stride + 1


class ConvAutoencoder(Autoencoder):
    """Convolutional autoencoder: stride-2 convolutions down, a mirrored decoder up.

    Encoder: for each entry of ``channels`` a ``Conv2d(kernel_size, stride=2,
    padding=(kernel_size - 1) // 2)`` followed by ``activation``, each roughly halving the
    spatial size (``H -> (H + 2p - k) // 2 + 1``), then ``Flatten -> Linear`` to the code (no
    activation on the code). Decoder: ``Linear -> activation -> Unflatten`` to the last feature
    map, then one upsampling layer per encoder convolution in reverse order, each landing
    exactly on the spatial size that the matching encoder layer started from (odd sizes such as
    7x7 included), ``activation`` between them and ``output_activation`` at the end.

    ``upsample`` chooses the upsampling layer:

    - ``"transposed"``: ``ConvTranspose2d(kernel_size, stride=2)`` with ``output_padding``
      chosen per layer. With a kernel size not divisible by the stride its windows overlap
      unevenly, which can print a checkerboard on the output (Odena et al. 2016).
    - ``"nearest"`` or ``"bilinear"``: resize-convolution, ``Upsample(size, mode)`` followed by
      ``Conv2d(kernel_size, stride=1)`` with "same" zero padding (for an even kernel the extra
      row and column go at the end, as PyTorch's ``padding="same"`` does). Every output pixel
      sees the same number of kernel taps (away from the border), so there is no checkerboard;
      the convolution has exactly the parameter count of the transposed one it replaces.

    Args:
        input_shape: ``(C, H, W)`` of one input, e.g. ``(1, 28, 28)`` or ``(3, 32, 32)``.
        channels: Output channels of the encoder convolutions, input side first.
        code_size: Width of the code.
        activation: Activation name after every (transposed) convolution and the decoder's
            first linear layer.
        output_activation: Activation name on the reconstruction; ``None`` for none.
        kernel_size: Kernel size of all (transposed) convolutions.
        upsample: ``"transposed"`` (the default), ``"nearest"`` or ``"bilinear"``; see above.

    Attributes:
        feature_shape: ``(channels[-1], h, w)``, shape of the last encoder feature map.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``input_shape`` is not 3-d, a size is not a positive integer, an
            activation name is unknown, or the spatial size is smaller than
            ``2 ** len(channels)`` (too small for that many stride-2 layers), or ``upsample``
            is not one of the choices.

    Shape:
        encode: ``(B, C, H, W)`` -> ``(B, code_size)``; decode: the reverse.
    """

    UPSAMPLE_CHOICES: tuple[str, ...] = ("transposed", "nearest", "bilinear")

    def __init__(
        self,
        *,
        input_shape: Sequence[int] = (1, 28, 28),
        channels: Sequence[int] = (32, 64),
        code_size: int = 32,
        activation: str | None = "relu",
        output_activation: str | None = "sigmoid",
        kernel_size: int = 3,
        upsample: str = "transposed",
    ) -> None:
        shape = _int_tuple(input_shape, "input_shape", allow_empty=False)
        if len(shape) != 3:
            raise ValueError(
                f"input_shape must be 3-d (C, H, W) for ConvAutoencoder; got {shape} "
                f"({len(shape)}-d)"
            )
        chans = _int_tuple(channels, "channels", allow_empty=False)
        code_size = _positive_int(code_size, "code_size")
        activation = _activation_name(activation, "activation")
        output_activation = _activation_name(output_activation, "output_activation")
        kernel_size = _positive_int(kernel_size, "kernel_size")
        upsample = check_choice(upsample, "upsample", self.UPSAMPLE_CHOICES)
        in_channels, height, width = shape
        min_size = 2 ** len(chans)
        if height < min_size or width < min_size:
            raise ValueError(
                f"input_shape spatial size {height}x{width} is too small for {len(chans)} "
                f"stride-2 conv layers (channels={chans}): need at least {min_size}x{min_size}"
            )
        super().__init__(
            input_shape=shape,
            code_size=code_size,
            init_kwargs={
                "input_shape": shape,
                "channels": chans,
                "code_size": code_size,
                "activation": activation,
                "output_activation": output_activation,
                "kernel_size": kernel_size,
                "upsample": upsample,
            },
        )
        self.channels = chans
        self.kernel_size = kernel_size
        self.upsample = upsample
        padding = (kernel_size - 1) // 2

        # Spatial sizes through the encoder: sizes[0] = input, sizes[i + 1] = after conv i.
        sizes = [(height, width)]
        for _ in chans:
            h, w = sizes[-1]
            sizes.append((_conv_out(h, kernel_size, padding), _conv_out(w, kernel_size, padding)))
        self.feature_shape: tuple[int, int, int] = (chans[-1], *sizes[-1])
        n_features = math.prod(self.feature_shape)

        enc_layers: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise((in_channels, *chans)):
            enc_layers.append(
                nn.Conv2d(c_in, c_out, kernel_size, stride=2, padding=padding)
            )  # (B, c_out, ~H/2, ~W/2)
            _append_activation(enc_layers, activation)
        enc_layers += [
            nn.Flatten(),  # (B, C_L * h * w)
            nn.Linear(n_features, code_size),  # (B, k)
        ]
        self.encoder = nn.Sequential(*enc_layers)

        dec_layers: list[nn.Module] = [nn.Linear(code_size, n_features)]  # (B, C_L * h * w)
        _append_activation(dec_layers, activation)
        dec_layers.append(nn.Unflatten(1, self.feature_shape))  # (B, C_L, h, w)
        dec_channels = (*reversed(chans), in_channels)
        for i in range(len(chans)):
            (h_in, w_in), (h_out, w_out) = sizes[-1 - i], sizes[-2 - i]
            c_in, c_out = dec_channels[i], dec_channels[i + 1]
            if upsample == "transposed":
                # ConvTranspose2d output: (n - 1) * 2 - 2p + k + output_padding; pick
                # output_padding (0 or 1) to land exactly on the matching encoder input size.
                base_h = (h_in - 1) * 2 - 2 * padding + kernel_size
                base_w = (w_in - 1) * 2 - 2 * padding + kernel_size
                dec_layers.append(
                    nn.ConvTranspose2d(
                        c_in,
                        c_out,
                        kernel_size,
                        stride=2,
                        padding=padding,
                        output_padding=(h_out - base_h, w_out - base_w),
                    )
                )  # (B, c_out, h_out, w_out)
            else:
                dec_layers.append(nn.Upsample(size=(h_out, w_out), mode=upsample))  # (B, c_in, ..)
                if kernel_size % 2 == 0:  # "same" padding, the extra row and column at the end
                    before = (kernel_size - 1) // 2
                    after = kernel_size - 1 - before
                    dec_layers.append(nn.ZeroPad2d((before, after, before, after)))
                    dec_layers.append(nn.Conv2d(c_in, c_out, kernel_size))
                else:
                    dec_layers.append(nn.Conv2d(c_in, c_out, kernel_size, padding=padding))
                # (B, c_out, h_out, w_out)
            last = i == len(chans) - 1
            _append_activation(dec_layers, output_activation if last else activation)
        self.decoder = nn.Sequential(*dec_layers)  # (B, C, H, W)


# ---------------------------------------------------------------------------------------------
# Semantic-hashing autoencoder
# ---------------------------------------------------------------------------------------------


class SemanticHashingAutoencoder(Autoencoder):
    """Fully connected autoencoder whose code is a vector of logits, one per hash bit.

    The semantic hashing of Salakhutdinov and Hinton: ``encode`` gives batch-normalised
    pre-activations ``a`` (logits), and the decoder starts with a sigmoid, so ``decode(a)`` sees
    ``sigmoid(a)`` in [0, 1]. Trained with
    :func:`aeutils.losses.semantic_hashing_objective`, which adds Gaussian noise to ``a`` before
    decoding, the code units are pushed towards 0 or 1 and ``encode(x) > 0`` is the binary hash.

    Encoder: ``Flatten -> [Linear -> ReLU] per hidden size -> Linear -> BatchNorm1d``. Decoder:
    ``Sigmoid -> [Linear -> ReLU] per hidden size, reversed -> Linear -> Sigmoid -> Unflatten``.
    The BatchNorm layer keeps the logits centred and scaled during training (so that about half
    the items set each bit); in eval mode it uses its running statistics, so a single item is
    encoded as it would be in a batch, and in training mode a batch needs at least two items.

    Args:
        input_shape: Shape of one input without the batch dimension, e.g. ``(1, 28, 28)`` or
            ``(784,)``.
        hidden_sizes: Widths of the encoder's hidden layers, input side first; the decoder
            mirrors them.
        code_size: Number of hash bits.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a size is not a positive integer.

    Shape:
        encode: ``(B, *input_shape)`` -> ``(B, code_size)`` logits; decode: the reverse.
    """

    def __init__(
        self,
        *,
        input_shape: Sequence[int] = (1, 28, 28),
        hidden_sizes: Sequence[int] = (256,),
        code_size: int = 32,
    ) -> None:
        shape = _int_tuple(input_shape, "input_shape", allow_empty=False)
        hidden = _int_tuple(hidden_sizes, "hidden_sizes", allow_empty=True)
        code_size = _positive_int(code_size, "code_size")
        super().__init__(
            input_shape=shape,
            code_size=code_size,
            init_kwargs={"input_shape": shape, "hidden_sizes": hidden, "code_size": code_size},
        )
        self.hidden_sizes = hidden
        n_inputs = math.prod(shape)
        enc_layers: list[nn.Module] = [nn.Flatten()]  # (B, D)
        for a, b in itertools.pairwise((n_inputs, *hidden)):
            enc_layers += [nn.Linear(a, b), nn.ReLU()]
        enc_layers += [
            nn.Linear((n_inputs, *hidden)[-1], code_size),  # (B, k)
            nn.BatchNorm1d(code_size),  # (B, k): the logits a
        ]
        self.encoder = nn.Sequential(*enc_layers)
        dec_widths = (code_size, *reversed(hidden))
        dec_layers: list[nn.Module] = [nn.Sigmoid()]  # (B, k) in [0, 1]
        for a, b in itertools.pairwise(dec_widths):
            dec_layers += [nn.Linear(a, b), nn.ReLU()]
        dec_layers += [
            nn.Linear(dec_widths[-1], n_inputs),  # (B, D)
            nn.Sigmoid(),
            nn.Unflatten(1, shape),  # (B, *input_shape)
        ]
        self.decoder = nn.Sequential(*dec_layers)


# ---------------------------------------------------------------------------------------------
# Sparse autoencoder (a dictionary of directions for activation vectors)
# ---------------------------------------------------------------------------------------------


class _SparseEncoder(nn.Module):
    """``relu(W_enc (x - b_pre) + b_enc)``, keeping only the ``k`` largest entries if ``k``."""

    def __init__(self, weight: Tensor, pre_bias: nn.Parameter, k: int | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)  # (K, D): one row per latent
        self.bias = nn.Parameter(torch.zeros(weight.shape[0], dtype=weight.dtype))  # (K,)
        self.pre_bias = pre_bias  # (D,): the same Parameter as the decoder's
        self.k = k

    def pre_activations(self, x: Tensor) -> Tensor:
        """``W_enc (x - b_pre) + b_enc``. Shape: ``(B, D)`` -> ``(B, K)``."""
        return F.linear(x - self.pre_bias, self.weight, self.bias)

    def activate(self, a: Tensor) -> Tensor:
        """ReLU codes, or the ReLU of the ``k`` largest pre-activations (others 0)."""
        if self.k is None:
            return F.relu(a)  # (B, K)
        values, indices = a.topk(self.k, dim=1)  # (B, k)
        return torch.zeros_like(a).scatter(1, indices, F.relu(values))  # (B, K)

    def forward(self, x: Tensor) -> Tensor:
        """Codes of ``x``. Shape: ``(B, D)`` -> ``(B, K)``."""
        return self.activate(self.pre_activations(x))


class _SparseDecoder(nn.Module):
    """``z @ normalise_rows(W_dec) + b_pre``: a sum of unit-norm directions plus an offset."""

    def __init__(self, weight: Tensor, pre_bias: nn.Parameter) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)  # (K, D): one direction per row
        self.pre_bias = pre_bias  # (D,)

    def directions(self) -> Tensor:
        """The rows of ``weight`` scaled to unit norm (differentiable). Shape: ``(K, D)``."""
        return F.normalize(self.weight, dim=1)

    def forward(self, z: Tensor) -> Tensor:
        """Reconstructions. Shape: ``(B, K)`` -> ``(B, D)``."""
        return z @ self.directions() + self.pre_bias


class SparseAutoencoder(Autoencoder):
    """Sparse autoencoder for activation vectors: codes over a dictionary of unit directions.

    The model of the interpretability literature (Bricken et al. 2023, Cunningham et al. 2023,
    Gao et al. 2024): one linear map to an (often overcomplete) code, one linear map back,

    - ``encode(x) = relu(W_enc (x - b_pre) + b_enc)`` when ``k`` is None (train it with an L1
      penalty), or, when ``k`` is given, the ReLU of the ``k`` largest entries of
      ``W_enc (x - b_pre) + b_enc`` with every other entry 0 (top-k: at most ``k`` non-zeros per
      row, exactly ``k`` when the ``k`` largest pre-activations are positive);
    - ``decode(z) = z @ D + b_pre``, where the rows of ``D`` (:attr:`dictionary`) are the rows
      of the decoder's weight scaled to unit norm, so a code entry is the magnitude of its
      direction in the reconstruction.

    The decoder normalises its rows on every forward pass, so the dictionary has unit rows
    whatever the optimiser does, and the gradient reaching a row has no component along it;
    :func:`aeutils.losses.sparse_autoencoder_objective` also renormalises the stored rows in
    place before every training step (:meth:`normalize_decoder_`), so that their norm, which
    sets the effective step size, stays 1. It also counts, in :attr:`samples_since_fired`, the
    training samples since each latent was last non-zero: the *dead* latents of its auxiliary
    loss.

    Initialisation: the decoder rows are drawn from an isotropic Gaussian and scaled to unit
    norm; the encoder starts as the decoder's transpose (``W_enc = D``, Gao et al.); both
    biases start at 0. Call :meth:`init_pre_bias_` with training data to start ``b_pre`` at
    their geometric median instead, as Gao et al. do. Seed with ``torch.manual_seed`` before
    construction.

    Args:
        input_size: Width ``D`` of one activation vector.
        dictionary_size: Number of latents ``K`` (dictionary directions), the code size.
        k: Non-zero latents kept per input (top-k), or None for ReLU codes.

    Attributes:
        input_size: ``D``.
        dictionary_size: ``K``.
        k: As given.
        samples_since_fired: ``(K,)`` int64 buffer, training samples seen since each latent
            was last non-zero (updated by the objective in training mode).

    Raises:
        TypeError: If a size or ``k`` is not an integer (bool included).
        ValueError: If a size or ``k`` is not positive, or ``k > dictionary_size``.

    Shape:
        encode: ``(B, input_size)`` -> ``(B, dictionary_size)``; decode: the reverse.
    """

    samples_since_fired: Tensor

    def __init__(self, *, input_size: int, dictionary_size: int, k: int | None = None) -> None:
        input_size = _positive_int(input_size, "input_size")
        dictionary_size = _positive_int(dictionary_size, "dictionary_size")
        if k is not None:
            k = check_int(k, "k", minimum=1)
            if k > dictionary_size:
                raise ValueError(
                    f"k must be at most dictionary_size ({dictionary_size}), got {k}: top-k "
                    "keeps k of the dictionary's latents"
                )
        super().__init__(
            input_shape=(input_size,),
            code_size=dictionary_size,
            init_kwargs={"input_size": input_size, "dictionary_size": dictionary_size, "k": k},
        )
        self.input_size = input_size
        self.dictionary_size = dictionary_size
        self.k = k
        directions = F.normalize(torch.randn(dictionary_size, input_size), dim=1)  # (K, D)
        pre_bias = nn.Parameter(torch.zeros(input_size))  # (D,)
        self.encoder = _SparseEncoder(directions.clone(), pre_bias, k)
        self.decoder = _SparseDecoder(directions, pre_bias)
        self.register_buffer("samples_since_fired", torch.zeros(dictionary_size, dtype=torch.long))

    @property
    def dictionary(self) -> Tensor:
        """The decoder's directions, one unit-norm row per latent (detached).

        Shape:
            ``(dictionary_size, input_size)``.
        """
        return self.decoder.directions().detach()

    def pre_activations(self, x: Tensor) -> Tensor:
        """The encoder's affine map before the ReLU (and before top-k).

        Args:
            x: Input batch.

        Returns:
            ``W_enc (x - b_pre) + b_enc``.

        Raises:
            TypeError: If ``x`` is not a floating-point tensor.
            ValueError: If ``x`` is not shaped ``(B, input_size)``.

        Shape:
            x: ``(B, input_size)`` -> ``(B, dictionary_size)``.
        """
        self._check_input(x, "pre_activations")
        return self.encoder.pre_activations(x)

    def activate(self, a: Tensor) -> Tensor:
        """Codes from pre-activations: ``encode(x) == activate(pre_activations(x))``.

        Shape:
            a: ``(B, dictionary_size)`` -> ``(B, dictionary_size)``.
        """
        return self.encoder.activate(a)

    @torch.no_grad()
    def init_pre_bias_(self, x: Tensor, iterations: int = 50) -> Tensor:
        """Set the pre-bias ``b_pre`` to the geometric median of ``x`` (Gao et al.).

        The point that minimises the sum of Euclidean distances to the samples, by Weiszfeld's
        iterations from the mean. Centring the inputs this way makes most latents fire on some
        inputs from the start; with ``b_pre = 0`` and inputs in one orthant (ReLU activations,
        say), many never would.

        Args:
            x: Samples (a few thousand are enough).
            iterations: Weiszfeld iterations, >= 1.

        Returns:
            The new ``b_pre`` (detached).

        Raises:
            TypeError: If ``x`` is not a floating-point tensor.
            ValueError: If ``x`` is not shaped ``(N, input_size)``.

        Shape:
            x: ``(N, input_size)`` -> ``(input_size,)``.
        """
        self._check_input(x, "init_pre_bias_")
        iterations = check_int(iterations, "iterations", minimum=1)
        points = x.detach().to(torch.float64)  # (N, D)
        median = points.mean(dim=0)  # (D,)
        for _ in range(iterations):
            weights = 1.0 / (points - median).norm(dim=1).clamp_min(1e-12)  # (N,)
            median = (weights[:, None] * points).sum(dim=0) / weights.sum()
        self.decoder.pre_bias.copy_(median.to(self.decoder.pre_bias))
        return self.decoder.pre_bias.detach().clone()

    @torch.no_grad()
    def normalize_decoder_(self) -> None:
        """Scale every stored decoder row to unit norm, in place (the model's function is
        unchanged: the decoder normalises on the fly)."""
        self.decoder.weight.copy_(self.decoder.directions())

    @torch.no_grad()
    def record_firing_(self, z: Tensor) -> None:
        """Add the batch to :attr:`samples_since_fired`, resetting the latents that fired.

        Shape:
            z: ``(B, dictionary_size)`` codes of one training batch.
        """
        fired = (z != 0).any(dim=0)  # (K,)
        self.samples_since_fired.add_(z.shape[0]).masked_fill_(fired, 0)

    def dead_latents(self, after: int) -> Tensor:
        """Latents that have not fired in the last ``after`` training samples.

        Args:
            after: Number of samples, >= 1.

        Returns:
            A ``(dictionary_size,)`` bool mask.

        Raises:
            TypeError: If ``after`` is not an integer.
            ValueError: If ``after < 1``.
        """
        after = check_int(after, "after", minimum=1)
        return self.samples_since_fired >= after


# ---------------------------------------------------------------------------------------------
# Variational autoencoder
# ---------------------------------------------------------------------------------------------


class _PosteriorMean(nn.Module):
    """Keep the first half of ``(mu, log_var)`` stacked along the features: the mean ``mu``."""

    def __init__(self, code_size: int) -> None:
        super().__init__()
        self.code_size = code_size

    def forward(self, stats: Tensor) -> Tensor:
        """Shape: ``(B, 2 * code_size)`` -> ``(B, code_size)``."""
        return stats[:, : self.code_size]

    def extra_repr(self) -> str:
        return f"code_size={self.code_size}"


class VariationalAutoencoder(Autoencoder):
    """Variational autoencoder (Kingma and Welling 2014) with a Gaussian posterior and a
    Bernoulli decoder, for binary images.

    The encoder gives the parameters of the approximate posterior
    ``q(z | x) = N(mu(x), diag(exp(log_var(x))))``; the decoder gives, for a code ``z``, the
    logits of independent Bernoulli pixels, ``p(x | z) = prod_i Bernoulli(x_i; sigmoid(l_i(z)))``;
    the prior is ``N(0, I)``. The objective and the likelihood bounds are in
    :mod:`aeutils.variational`.

    Encoder: ``Flatten -> [Linear -> activation] per hidden size -> Linear`` to
    ``2 * code_size`` outputs, ``mu`` first and ``log_var`` second (:meth:`posterior`), then a
    layer that keeps ``mu``. Decoder: ``[Linear -> activation] per hidden size, reversed ->
    Linear -> Unflatten`` (the logits, :meth:`decoder_logits`) ``-> Sigmoid`` (the Bernoulli
    means). So the model keeps the contract of every autoencoder, deterministically:
    ``encode(x)`` is the posterior mean, ``decode(z)`` the Bernoulli means in (0, 1) and
    ``forward(x) == decode(encode(x))``; the code-based metrics and
    ``contractive_penalty(model.encoder, x)`` apply to the posterior mean. Nothing random
    happens inside the model: the objectives draw the samples ``z ~ q(z | x)``.

    Args:
        input_shape: Shape of one input without the batch dimension.
        hidden_sizes: Widths of the encoder's hidden layers, input side first; the decoder
            mirrors them.
        code_size: Width of the code (latent dimension).
        activation: Activation name after every hidden layer (encoder and decoder).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a size is not a positive integer or the activation name is unknown.

    Shape:
        encode: ``(B, *input_shape)`` -> ``(B, code_size)``; decode and decoder_logits: the
        reverse; posterior: ``(B, *input_shape)`` -> two ``(B, code_size)``.
    """

    def __init__(
        self,
        *,
        input_shape: Sequence[int] = (1, 28, 28),
        hidden_sizes: Sequence[int] = (512, 256),
        code_size: int = 20,
        activation: str | None = "relu",
    ) -> None:
        shape = _int_tuple(input_shape, "input_shape", allow_empty=False)
        hidden = _int_tuple(hidden_sizes, "hidden_sizes", allow_empty=True)
        code_size = _positive_int(code_size, "code_size")
        activation = _activation_name(activation, "activation")
        super().__init__(
            input_shape=shape,
            code_size=code_size,
            init_kwargs={
                "input_shape": shape,
                "hidden_sizes": hidden,
                "code_size": code_size,
                "activation": activation,
            },
        )
        self.hidden_sizes = hidden
        n_inputs = math.prod(shape)

        # Encoder: widths D -> h1 -> ... -> hL -> 2k, then mu = the first k.
        enc_widths = (n_inputs, *hidden, 2 * code_size)
        enc_linears = [nn.Linear(a, b) for a, b in itertools.pairwise(enc_widths)]
        self.encoder = nn.Sequential(
            nn.Flatten(),  # (B, D)
            *_with_activations(enc_linears, activation, None),  # (B, 2k): mu, log_var
            _PosteriorMean(code_size),  # (B, k)
        )

        # Decoder: widths k -> hL -> ... -> h1 -> D, logits, then Bernoulli means.
        dec_widths = (code_size, *reversed(hidden), n_inputs)
        dec_linears = [nn.Linear(a, b) for a, b in itertools.pairwise(dec_widths)]
        self.decoder = nn.Sequential(
            *_with_activations(dec_linears, activation, None),  # (B, D) logits
            nn.Unflatten(1, shape),  # (B, *input_shape)
            nn.Sigmoid(),  # (B, *input_shape) in (0, 1)
        )

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Parameters of the approximate posterior ``q(z | x) = N(mu, diag(exp(log_var)))``.

        Args:
            x: Input batch.

        Returns:
            ``(mu, log_var)``: the posterior mean (equal to ``encode(x)``) and the log
            variances.

        Raises:
            TypeError: If ``x`` is not a floating-point tensor.
            ValueError: If ``x`` is not shaped ``(B, *input_shape)``.

        Shape:
            x: ``(B, *input_shape)`` -> ``((B, code_size), (B, code_size))``.
        """
        self._check_input(x, "posterior")
        stats = self.encoder[:-1](x)  # (B, 2k)
        mu, log_var = stats.chunk(2, dim=1)  # (B, k) each
        return mu, log_var

    def decoder_logits(self, z: Tensor) -> Tensor:
        """Logits of the Bernoulli pixels: ``decode(z) == sigmoid(decoder_logits(z))``.

        Use them, not the means, in a likelihood: ``binary_cross_entropy_with_logits`` is
        exact where the sigmoid of a large logit rounds to 1.

        Args:
            z: Batch of codes.

        Returns:
            The logits.

        Raises:
            TypeError: If ``z`` is not a floating-point tensor.
            ValueError: If ``z`` is not shaped ``(B, code_size)``.

        Shape:
            z: ``(B, code_size)`` -> ``(B, *input_shape)``.
        """
        self._check_code(z, "decoder_logits")
        return self.decoder[:-1](z)  # (B, *input_shape)


# ---------------------------------------------------------------------------------------------
# Registry and helpers
# ---------------------------------------------------------------------------------------------

MODEL_CLASSES: dict[str, type[Autoencoder]] = {
    "LinearAutoencoder": LinearAutoencoder,
    "MLPAutoencoder": MLPAutoencoder,
    "ConvAutoencoder": ConvAutoencoder,
    "SemanticHashingAutoencoder": SemanticHashingAutoencoder,
    "SparseAutoencoder": SparseAutoencoder,
    "VariationalAutoencoder": VariationalAutoencoder,
}
"""Every concrete autoencoder in this module, by class name (used by load_checkpoint)."""


def count_parameters(model: nn.Module) -> int:
    """Count the scalar parameters of ``model``; a shared (tied) parameter counts once.

    Args:
        model: Any module.

    Returns:
        The number of unique parameter entries.

    Raises:
        TypeError: If ``model`` is not an ``nn.Module``.
    """
    model = check_module(model, "model")
    return sum(p.numel() for p in model.parameters())  # parameters() de-duplicates shared ones

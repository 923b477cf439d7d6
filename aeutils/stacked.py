"""Train several autoencoders of one architecture at once, as one stacked model.

A sweep that trains the same small network with three seeds pays the fixed cost of a training
step (Python, launching each operation, autograd, the optimiser) three times for very little
arithmetic. :func:`fit_stacked` trains ``M`` such models together. Their parameters are stacked
along a new leading dimension, every layer runs once for all members (a linear layer is one
:func:`torch.baddbmm` over ``(M, B, in)``), and one Adam updates the stacked tensors. What each
member computes is what :func:`aeutils.train.fit` would compute for it alone:

- **its own initialisation**: the weights each model holds when it is passed in;
- **its own batch order**: member ``m`` draws its batches with a
  :class:`~aeutils.loader.TensorLoader` seeded with its config's seed, as ``fit`` does;
- **its own objective**: ``loss_fn`` is called once per member, with a stand-in for the model
  whose ``model(x)``, ``model.encode(x)`` and ``model.decode(z)`` return that member's slice of
  the stacked computation; the stacked loss is the sum of the members' losses, and a member's
  parameters enter only its own term, so each gets its own gradient;
- **its own Adam**: Adam (and its coupled weight decay) acts on each element separately, so
  Adam on the stacked tensors is one Adam per member; gradient clipping, which is not
  elementwise, is applied per member, to each member's global gradient norm.

The stacked matrix products add in another order than separate ones, so the results agree with
separate ``fit`` runs to float rounding (about 1e-8 in the weights after an epoch of a small
model), not bit for bit; ``tests/test_stacked.py`` checks the agreement. Over a long run such
differences grow as any perturbation of the weights would: after 480 steps of chapter 3's
widest bias-variance model the weights differ by about 0.5, as much as those of two ``fit`` runs
of it on one and on two CPU threads do.

**Why not vmap.** ``torch.func.vmap`` over ``torch.func.functional_call`` would batch any model
and any objective, but on a CPU its per-operation cost eats much of the gain on the small models
stacking is for, where the stacked layers here are faster than separate ``fit`` runs
(``benchmarks/stacked_speed.py`` compares the two side by side). On a model large enough for its
matrix products to fill the machine, such as chapter 2's 784-512-256 autoencoder, stacking is
slower than separate runs: stack small models. So the models must be built from layers this module
knows how to stack: :class:`~aeutils.models.Autoencoder` subclasses that keep the
base class's ``encode``, ``decode`` and ``forward`` (every :class:`~aeutils.models.MLPAutoencoder`
and :class:`~aeutils.models.LinearAutoencoder`), whose encoder and decoder are ``nn.Sequential``
of ``nn.Linear``, :class:`~aeutils.models.TiedLinear`, ``nn.Flatten``, ``nn.Unflatten`` and
parameter-free activations. Other models raise an error naming the layer; train them with ``fit``.

An objective may use ``model(x)``, ``model.encode(x)``, ``model.decode(z)`` and the attributes
``code_size`` and ``input_shape``. Called on its batch ``x`` (and ``decode`` on the code that
``encode`` returned), these read the stacked computation; on any other input (a corrupted copy
of ``x``, say) they compute the member alone, which is right but not faster. An objective that
draws random numbers draws them from the global generator in member order, so it trains validly
but does not reproduce separate ``fit`` runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NoReturn

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from aeutils.loader import TensorLoader
from aeutils.losses import LossFn
from aeutils.models import Autoencoder, TiedLinear
from aeutils.train import History, NonFiniteLossError, TrainConfig, pick_device
from aeutils.validation import check_bool, check_module

__all__ = ["fit_stacked"]

_ALL = slice(None)  # every member

#: Layers applied to stacked tensors as they are: elementwise and without parameters.
_ELEMENTWISE = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.GELU, nn.LeakyReLU, nn.Identity)

_SUPPORTED = (
    "fit_stacked stacks Autoencoders whose encoder and decoder are nn.Sequential of nn.Linear, "
    "TiedLinear, nn.Flatten, nn.Unflatten and parameter-free activations; train this model with "
    "fit"
)


# --------------------------------------------------------------------------------------------
# Stacked layers
# --------------------------------------------------------------------------------------------


class _StackedSequential:
    """An ``nn.Sequential`` of the template model, run for all members on stacked tensors.

    Args:
        sequential: The template's encoder or decoder.
        stacked: The stacked tensor ``(M, *shape)`` of each of the template's parameters,
            keyed by ``id`` of the template's parameter.
        where: The sequential's name, for error messages.

    Shape:
        ``(M', B, *in)`` -> ``(M', B, *out)``, for the members selected by ``members``
        (``M' = M`` for all of them).
    """

    def __init__(self, sequential: nn.Module, stacked: Mapping[int, Tensor], where: str) -> None:
        if type(sequential) is not nn.Sequential:
            kind = type(sequential).__name__
            raise ValueError(f"{where} is a {kind}, not an nn.Sequential: {_SUPPORTED}")
        self.steps: list[Callable[[Tensor, slice], Tensor]] = []
        for name, layer in sequential.named_children():
            self.steps.append(self._step(layer, stacked, f"{where}[{name}]"))

    @staticmethod
    def _step(
        layer: nn.Module, stacked: Mapping[int, Tensor], where: str
    ) -> Callable[[Tensor, slice], Tensor]:
        if type(layer) in (nn.Linear, TiedLinear):
            # Linear weights are stacked transposed, (M, in, out): see _stack_parameters.
            weight = stacked[id(layer.weight)]  # tied: the source layer's, (M, out, in) here
            bias = None if layer.bias is None else stacked[id(layer.bias)]  # (M, out)
            tied = type(layer) is TiedLinear
            return functools.partial(_stacked_linear, weight=weight, bias=bias, tied=tied)
        if type(layer) is nn.Flatten:
            start, end = (d + 1 if d >= 0 else d for d in (layer.start_dim, layer.end_dim))
            return lambda x, members: x.flatten(start, end)
        if type(layer) is nn.Unflatten and isinstance(layer.dim, int):
            dim, sizes = layer.dim + 1 if layer.dim >= 0 else layer.dim, layer.unflattened_size
            return lambda x, members: x.unflatten(dim, sizes)
        if isinstance(layer, _ELEMENTWISE) and next(layer.parameters(), None) is None:
            return lambda x, members: layer(x)
        raise ValueError(f"{where} is a {type(layer).__name__}: {_SUPPORTED}")

    def __call__(self, x: Tensor, members: slice) -> Tensor:
        for step in self.steps:
            x = step(x, members)
        return x


def _stacked_linear(
    x: Tensor, members: slice, *, weight: Tensor, bias: Tensor | None, tied: bool
) -> Tensor:
    """A linear (or tied) layer for the selected members: ``(M', B, *, in) -> (M', B, *, out)``."""
    if members != _ALL:  # (indexing all members would cost a zero-fill and a copy in backward)
        weight, bias = weight[members], None if bias is None else bias[members]
    w = weight.mT if tied else weight  # (M', in, out)
    flat = x.reshape(x.shape[0], -1, x.shape[-1])  # (M', N, in)
    if bias is None:
        out = torch.bmm(flat, w)
    else:
        out = torch.baddbmm(bias.unsqueeze(1), flat, w)  # (M', N, out)
    return out.reshape(*x.shape[:-1], w.shape[-1])


class _Step:
    """One step's stacked computation, evaluated lazily and at most once.

    ``inputs[m]`` is member m's batch; :meth:`codes` and :meth:`reconstructions` are the
    stacked encoder's and decoder's outputs for all members, split into per-member tensors.
    """

    def __init__(self, encoder: _StackedSequential, decoder: _StackedSequential, x: Tensor):
        self.encoder, self.decoder = encoder, decoder
        self.stacked_inputs = x  # (M, B, *input_shape)
        self.inputs = x.unbind(0)
        self.stacked_codes: Tensor | None = None  # (M, B, code_size), once computed
        self._codes: tuple[Tensor, ...] | None = None
        self._reconstructions: tuple[Tensor, ...] | None = None

    def codes(self) -> tuple[Tensor, ...]:
        if self._codes is None:
            self.stacked_codes = self.encoder(self.stacked_inputs, _ALL)
            self._codes = self.stacked_codes.unbind(0)
        return self._codes

    def reconstructions(self) -> tuple[Tensor, ...]:
        if self._reconstructions is None:
            self.codes()
            self._reconstructions = self.decoder(self.stacked_codes, _ALL).unbind(0)
        return self._reconstructions

    def is_code(self, z: Tensor, m: int) -> bool:
        """Whether ``z`` is member m's code as :meth:`codes` returned it."""
        return self._codes is not None and z is self._codes[m]


class _Member:
    """The stand-in for member ``m`` that the objective receives instead of the model."""

    def __init__(self, m: int, model: Autoencoder) -> None:
        self.m = m
        self.members = slice(m, m + 1)
        self.code_size = model.code_size
        self.input_shape = model.input_shape
        self.step: _Step | None = None

    def encode(self, x: Tensor) -> Tensor:
        step = self.step
        if x is step.inputs[self.m]:
            return step.codes()[self.m]
        return step.encoder(x.unsqueeze(0), self.members)[0]  # another input: this member alone

    def decode(self, z: Tensor) -> Tensor:
        step = self.step
        if step.is_code(z, self.m):
            return step.reconstructions()[self.m]
        return step.decoder(z.unsqueeze(0), self.members)[0]

    def __call__(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def __getattr__(self, name: str) -> NoReturn:
        raise AttributeError(
            f"the objective asked for model.{name}, but fit_stacked gives objectives a stand-in "
            "that offers only model(x), model.encode(x), model.decode(z), model.code_size and "
            "model.input_shape: train this model with fit"
        )


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_models(models: object) -> list[Autoencoder]:
    if isinstance(models, nn.Module) or not isinstance(models, Sequence):
        raise TypeError(f"models must be a list of nn.Modules, got {type(models).__name__}")
    models = [check_module(m, f"models[{i}]") for i, m in enumerate(models)]
    if not models:
        raise ValueError("fit_stacked needs at least one model, got an empty list")
    first = models[0]
    if not isinstance(first, Autoencoder):
        kind = type(first).__name__
        raise ValueError(f"models[0] is a {kind}, not an Autoencoder: {_SUPPORTED}")
    for method in ("encode", "decode", "forward"):
        if getattr(type(first), method) is not getattr(Autoencoder, method):
            raise ValueError(
                f"{type(first).__name__} overrides Autoencoder.{method}, so fit_stacked cannot "
                "know what it computes: train it with fit"
            )
    shapes = {n: (p.shape, p.dtype, p.requires_grad) for n, p in first.named_parameters()}
    buffers = {n: (b.shape, b.dtype) for n, b in first.named_buffers()}
    for i, model in enumerate(models[1:], start=1):
        if any(model is other for other in models[:i]):
            raise ValueError(f"models[{i}] appears twice in models: pass distinct models")
        if type(model) is not type(first):
            raise ValueError(
                f"every model must have the architecture of models[0]: models[{i}] is of class "
                f"{type(model).__name__}, models[0] of class {type(first).__name__}"
            )
        theirs = {n: (p.shape, p.dtype, p.requires_grad) for n, p in model.named_parameters()}
        their_buffers = {n: (b.shape, b.dtype) for n, b in model.named_buffers()}
        for name in [*shapes, *(n for n in theirs if n not in shapes)]:  # input side first
            if shapes.get(name) != theirs.get(name):
                raise ValueError(
                    f"every model must have the architecture of models[0]: parameter {name!r} "
                    f"is {_describe(theirs.get(name))} in models[{i}] and "
                    f"{_describe(shapes.get(name))} in models[0]"
                )
        if buffers != their_buffers or repr(model) != repr(first):
            raise ValueError(
                f"every model must have the architecture of models[0]: models[{i}] has the same "
                "parameters but other layers or buffers (their repr() differ)"
            )
    return models


def _describe(entry: tuple | None) -> str:
    if entry is None:
        return "missing"
    shape, dtype, requires_grad = entry
    frozen = "" if requires_grad else " (frozen)"
    return f"{tuple(shape)} {str(dtype).removeprefix('torch.')}{frozen}"


def _check_configs(configs: object, n_models: int) -> list[TrainConfig]:
    if isinstance(configs, TrainConfig):
        return [configs] * n_models
    if not isinstance(configs, Sequence) or not all(isinstance(c, TrainConfig) for c in configs):
        raise TypeError(
            "configs must be a TrainConfig or a list of TrainConfigs (one per model), "
            f"got {type(configs).__name__}"
        )
    if len(configs) != n_models:
        raise ValueError(
            f"configs must hold one TrainConfig per model: {len(configs)} for {n_models}"
        )
    reference = dataclasses.replace(configs[0], seed=0)
    for i, config in enumerate(configs[1:], start=1):
        if dataclasses.replace(config, seed=0) != reference:
            field = next(
                f.name
                for f in dataclasses.fields(TrainConfig)
                if getattr(config, f.name) != getattr(configs[0], f.name)
            )
            raise ValueError(
                f"configs may differ only in their seed: configs[{i}].{field} is "
                f"{getattr(config, field)!r}, configs[0].{field} is {getattr(configs[0], field)!r}"
            )
    return list(configs)


def _inputs(data: object, name: str, model: Autoencoder) -> Tensor:
    """The input tensor of ``data`` (a tensor, or a tuple whose first tensor is the input)."""
    if isinstance(data, TensorLoader):
        raise TypeError(
            f"{name} must be a Tensor or a tuple of Tensors, not a TensorLoader: fit_stacked "
            "draws each model's batch order itself, from its config's seed"
        )
    if isinstance(data, tuple | list) and data and all(isinstance(t, Tensor) for t in data):
        data = data[0]
    if not isinstance(data, Tensor):
        raise TypeError(f"{name} must be a Tensor or a tuple of Tensors, got {type(data).__name__}")
    if not data.is_floating_point() or tuple(data.shape[1:]) != model.input_shape:
        shape = ", ".join(map(str, model.input_shape))
        raise ValueError(
            f"{name} must be floating-point inputs shaped (N, {shape}) for these models, "
            f"got {data.dtype} of shape {tuple(data.shape)}"
        )
    return data


def _inputs_per_model(data: object, models: Sequence[Autoencoder]) -> tuple[Tensor, int]:
    """One input tensor per model, concatenated (model m's first), and their common length."""
    if not (isinstance(data, Sequence) and not isinstance(data, Tensor)) or len(data) != len(
        models
    ):
        got = f"{len(data)} items" if isinstance(data, Sequence) else type(data).__name__
        raise ValueError(
            f"with data_per_model=True, data must be a sequence of one input tensor per model "
            f"({len(models)}), got {got}"
        )
    tensors = [_inputs(t, f"data[{m}]", models[0]) for m, t in enumerate(data)]
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(
            f"with data_per_model=True, every model's data must have the same shape, got "
            f"{sorted(shapes)}"
        )
    return torch.cat(tensors), len(tensors[0])


# --------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------


def _stack_parameters(models: Sequence[nn.Module]) -> tuple[dict[str, Tensor], set[str]]:
    """The models' parameters stacked into new leaf tensors ``(M, *shape)``, by name.

    The weights of ``nn.Linear`` layers are stacked transposed, ``(M, in, out)``: that is the
    operand ``baddbmm`` needs, and its gradient then has the layout of the stacked tensor
    (stacking ``(M, out, in)`` and transposing it in every step would make autograd copy each
    weight's gradient in every step). Returns the stacked tensors and the transposed names.
    """
    transposed = {
        f"{prefix}.weight" if prefix else "weight"
        for prefix, module in models[0].named_modules()
        if type(module) is nn.Linear
    }
    stacked = {}
    for name, p in models[0].named_parameters():
        tensors = [dict(model.named_parameters())[name].detach() for model in models]
        leaf = torch.stack([t.mT if name in transposed else t for t in tensors])
        stacked[name] = leaf.contiguous().requires_grad_(p.requires_grad)
    return stacked, transposed


def _batch_orders(
    n: int, batch_size: int, seeds: Sequence[int], device: torch.device, epochs: int
) -> Iterator[list[Tensor]]:
    """Per epoch, the list of ``(M, B)`` index batches: row m is what ``fit`` draws for seed m.

    ``fit`` batches a tensor with ``TensorLoader(..., shuffle=True, seed=config.seed)``; the same
    loader over the indices ``0..n-1``, one per seed, yields the indices of those batches.
    """
    loaders = [
        TensorLoader(torch.arange(n), batch_size=batch_size, device=device, seed=seed)
        for seed in seeds
    ]
    for _ in range(epochs):
        yield [torch.stack([b[0] for b in batches]) for batches in zip(*loaders, strict=True)]


def _objective_values(
    loss_fn: LossFn, members: Sequence[_Member], step: _Step
) -> dict[str, Tensor]:
    """Every key the objective returns, stacked over the members: ``{key: (M, ...)}``."""
    outs = []
    for member in members:
        member.step = step
        out = loss_fn(member, step.inputs[member.m])
        if isinstance(out, Tensor):
            out = {"loss": out}
        if not (isinstance(out, Mapping) and "loss" in out):
            raise TypeError(
                "loss_fn(model, x) must return a scalar tensor or a dict with a 'loss' key, "
                f"got {type(out).__name__}"
                + (f" with keys {sorted(out)}" if isinstance(out, Mapping) else "")
            )
        outs.append(out)
    return {key: torch.stack([out[key] for out in outs]) for key in outs[0]}


class _StackedLog:
    """Per-batch values of every key for all members, kept on the device until the epoch ends."""

    def __init__(self, n_models: int) -> None:
        self.n_models = n_models
        self.values: dict[str, list[Tensor]] = {}
        self.sizes: list[int] = []

    def add(self, out: Mapping[str, Tensor], n: int) -> None:
        for key, value in out.items():
            self.values.setdefault(key, []).append(value.detach())
        self.sizes.append(n)

    def per_batch(self) -> dict[str, Tensor]:
        """Every key's values as ``(n_batches, n_models)`` float64 tensors on the CPU."""
        out = {}
        for key, values in self.values.items():
            stacked = torch.stack(values).to("cpu", torch.float64)  # (n_batches, M, *)
            if stacked[0].numel() != self.n_models:
                raise TypeError(
                    f"loss_fn(model, x) must return scalar tensors, got {key!r} with "
                    f"{stacked[0].numel() // self.n_models} elements"
                )
            out[key] = stacked.reshape(len(values), self.n_models)
        return out

    def means(self, per_batch: Mapping[str, Tensor]) -> list[dict[str, float]]:
        """One dict per member: the sample-weighted mean of every key."""
        weights = torch.tensor(self.sizes, dtype=torch.float64)[:, None]  # (n_batches, 1)
        total = float(sum(self.sizes))
        sums = {key: (v * weights).sum(dim=0) / total for key, v in per_batch.items()}  # (M,)
        return [{key: float(s[m]) for key, s in sums.items()} for m in range(self.n_models)]


def _clip_per_model(grads: list[Tensor], max_norm: float) -> None:
    """Scale each member's gradients so that their global 2-norm is at most ``max_norm``.

    The rule of ``nn.utils.clip_grad_norm_`` for each member alone: the factor is
    ``max_norm / (norm + 1e-6)``, capped at 1.
    """
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads])  # (n_params, M)
    factor = (max_norm / (norms.norm(dim=0) + 1e-6)).clamp(max=1.0)  # (M,)
    for g in grads:
        g.mul_(factor.reshape(-1, *([1] * (g.ndim - 1))).to(g.dtype))


def _check_finite(losses: Tensor, epoch: int, lr: float) -> None:
    """Raise NonFiniteLossError naming the first model and batch whose loss is not finite."""
    bad = torch.nonzero(~torch.isfinite(losses))  # rows (batch, model), in batch order
    if len(bad):
        batch, member = int(bad[0, 0]), int(bad[0, 1])
        raise NonFiniteLossError(
            f"loss of models[{member}] became {float(losses[batch, member])} at epoch {epoch}, "
            f"batch {batch} (of {len(losses)}): lower the learning rate ({lr}), "
            "clip gradients (grad_clip) or check the inputs"
        )


def _make_adam(params: list[Tensor], config: TrainConfig) -> torch.optim.Optimizer:
    try:  # the fused kernel, as fit uses where it exists
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError):  # devices or torch versions without the fused kernel
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def fit_stacked(
    models: Sequence[nn.Module],
    data: Tensor | tuple[Tensor, ...],
    loss_fn: LossFn,
    configs: TrainConfig | Sequence[TrainConfig],
    *,
    val_data: Tensor | tuple[Tensor, ...] | None = None,
    data_per_model: bool = False,
) -> list[History]:
    """Train ``M`` autoencoders of one architecture together, each as ``fit`` would train it.

    Each model keeps its own initial weights, draws its own batch order from its config's seed,
    and gets its own Adam; on return each model holds its trained weights (as after
    :func:`~aeutils.train.fit`: on the configured device, in eval mode), also if training
    stops with an error.

    Args:
        models: The models, built alike (same class, layers and parameter shapes) from layers
            that can be stacked (see the module's description), each initialised as it should
            start, e.g. after ``seed_everything(seed)``.
        data: Training inputs, shared by all models: a tensor, or a tuple whose first tensor is
            the input (the others are ignored, as by ``fit``). Not a ``TensorLoader``: each
            model's batches are drawn here, from its config's seed.
        loss_fn: ``loss_fn(model, x)`` as for ``fit``; ``model`` is a stand-in offering
            ``model(x)``, ``model.encode(x)``, ``model.decode(z)``, ``code_size`` and
            ``input_shape``.
        configs: One :class:`~aeutils.train.TrainConfig` per model, equal except for their
            ``seed``; or one config for all (then every model sees the same batch order).
        val_data: Optional validation inputs, scored for every model after every epoch (in
            batches of ``max(batch_size, 1024)``, without gradients, as ``fit`` does).
        data_per_model: If True, ``data`` is a sequence of ``M`` input tensors of one shape, and
            model ``m`` trains on ``data[m]`` alone (as ``fit(models[m], data[m], ...)`` would):
            the same architecture fitted to independently drawn training sets, say.

    Returns:
        One :class:`~aeutils.train.History` per model, in the order of ``models``, with the
        per-epoch sample-weighted means of every key the objective returns. Each member's
        ``epoch_seconds`` are its share of the shared epoch (the epoch's wall time divided by
        ``M``), so the members' :attr:`~aeutils.train.History.seconds` add up to the wall time.

    Raises:
        TypeError: If an argument has the wrong type (``data`` a ``TensorLoader``, a config
            that is not a ``TrainConfig``), or the objective returns something other than
            scalar tensors or a dict of them with a ``"loss"`` key.
        ValueError: If ``models`` is empty or holds a model twice, the models differ in
            architecture or hold a layer that cannot be stacked, the configs differ in anything
            but their seed, there is not one config per model, or the data do not fit the models
            (with ``data_per_model``: not one tensor per model, or tensors of different shapes).
        AttributeError: If the objective asks the model for more than the stand-in offers.
        NonFiniteLossError: At the end of an epoch in which a model's loss was NaN or
            infinite, naming the model, the epoch and the first such batch.

    Shape:
        - data: ``(N, *input_shape)``, or ``M`` such tensors with ``data_per_model``; member m's
          batch ``x`` is ``(B, *input_shape)``, and the members' batches together are
          ``(M, B, *input_shape)``.
    """
    models = _check_models(models)
    configs = _check_configs(configs, len(models))
    config = configs[0]
    check_bool(data_per_model, "data_per_model")
    if data_per_model:
        x_all, n_samples = _inputs_per_model(data, models)
    else:
        x_all = _inputs(data, "data", models[0])
        n_samples = len(x_all)
    x_val = None if val_data is None else _inputs(val_data, "val_data", models[0])
    device = pick_device(config.device)
    for model in models:
        model.to(device)
    n_models = len(models)
    params, transposed = _stack_parameters(models)
    by_id = {id(p): params[name] for name, p in models[0].named_parameters()}
    encoder = _StackedSequential(models[0].encoder, by_id, "models[0].encoder")
    decoder = _StackedSequential(models[0].decoder, by_id, "models[0].decoder")
    members = [_Member(m, models[0]) for m in range(n_models)]
    x_all = x_all.to(device)
    orders = _batch_orders(
        n_samples, config.batch_size, [c.seed for c in configs], device, config.epochs
    )
    # With data_per_model, x_all holds the models' data one after the other: model m's sample i
    # is row m * n_samples + i. Otherwise every model indexes the same rows.
    offsets = torch.arange(n_models, device=device)[:, None] * n_samples if data_per_model else 0
    trained = [p for p in params.values() if p.requires_grad]
    optimizer = _make_adam(trained, config)
    use_amp = config.amp and device.type == "cuda"
    autocast = (
        functools.partial(torch.autocast, device.type, dtype=torch.bfloat16)
        if use_amp
        else contextlib.nullcontext
    )
    histories = [History() for _ in models]
    bar = tqdm(
        range(1, config.epochs + 1),
        desc=f"epochs ({n_models} models)",
        unit="epoch",
        disable=not config.progress,
        dynamic_ncols=True,
    )
    try:
        for epoch, order in zip(bar, orders, strict=True):
            start = time.perf_counter()
            log = _StackedLog(n_models)
            for idx in order:  # (M, B): member m's batch indices
                with autocast():
                    out = _objective_values(
                        loss_fn, members, _Step(encoder, decoder, x_all[idx + offsets])
                    )
                optimizer.zero_grad(set_to_none=True)
                out["loss"].sum().backward()
                if config.grad_clip is not None:
                    _clip_per_model([p.grad for p in trained], config.grad_clip)
                optimizer.step()
                log.add(out, idx.shape[1])
            per_batch = log.per_batch()
            _check_finite(per_batch["loss"], epoch, config.lr)
            for history, means in zip(histories, log.means(per_batch), strict=True):
                for key, value in means.items():
                    history.train.setdefault(key, []).append(value)
            if x_val is not None:
                scores = _evaluate(loss_fn, members, encoder, decoder, x_val.to(device), config)
                for history, means in zip(histories, scores, strict=True):
                    for key, value in means.items():
                        history.val.setdefault(key, []).append(value)
            share = (time.perf_counter() - start) / n_models
            for history in histories:
                history.epoch_seconds.append(share)
            losses = [h.train["loss"][-1] for h in histories]
            bar.set_postfix({"mean loss": f"{sum(losses) / n_models:.4g}"})
    finally:
        bar.close()
        _unstack(models, params, transposed)
    return histories


def _evaluate(
    loss_fn: LossFn,
    members: Sequence[_Member],
    encoder: _StackedSequential,
    decoder: _StackedSequential,
    x: Tensor,
    config: TrainConfig,
) -> list[dict[str, float]]:
    """Every member's sample-weighted means of every key on ``x``, without gradients."""
    batch_size = max(config.batch_size, 1024)
    log = _StackedLog(len(members))
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            batch = x[i : i + batch_size]
            step = _Step(encoder, decoder, batch.expand(len(members), *batch.shape))
            log.add(_objective_values(loss_fn, members, step), len(batch))
    return log.means(log.per_batch())


def _unstack(models: list[nn.Module], params: dict[str, Tensor], transposed: set[str]) -> None:
    """Copy member m's slice of the stacked parameters into ``models[m]``; set eval mode."""
    with torch.no_grad():
        for m, model in enumerate(models):
            own = dict(model.named_parameters())
            for name, stacked in params.items():
                own[name].copy_(stacked[m].mT if name in transposed else stacked[m])
            model.eval()

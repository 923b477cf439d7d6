"""Fast batching for data sets that fit in memory.

MNIST is 47 MB as float32: it fits on any GPU and in any laptop's RAM. The textbook
pipeline (``torchvision.datasets.MNIST`` + ``ToTensor()`` + ``DataLoader``) still builds
every batch one image at a time in Python: a PIL image per sample, a conversion per
sample, then a collate. :class:`TensorLoader` keeps the whole data set as tensors on the
target device and cuts each batch with one indexing operation, so an epoch costs what
the model costs. ``benchmarks/loader_speed.py`` measures the difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from aeutils.validation import check_bool, check_callable, check_int, check_tensor

__all__ = ["TensorLoader"]


class TensorLoader:
    """Yield shuffled mini-batches of in-memory tensors, already on the device.

    Args:
        *tensors: One or more tensors with the same first dimension, e.g.
            ``images`` or ``images, labels``.
        batch_size: Samples per batch (the last batch may be smaller).
        shuffle: Draw a new random order every epoch.
        transform: Optional function applied to the first tensor of every batch
            (for example a corruption for a denoising autoencoder). It runs on the
            device, on the whole batch at once.
        device: Where the tensors are kept and batches are produced. ``None`` keeps
            the tensors where they are.
        drop_last: Drop the final incomplete batch.
        seed: Seed of the shuffling generator; ``None`` draws one from torch's
            global generator, so :func:`aeutils.train.seed_everything` controls it.

    Shape:
        - tensors: ``(N, ...)`` each.
        - yields: a tuple with one ``(B, ...)`` tensor per input tensor,
          ``B <= batch_size``.

    Raises:
        TypeError: If an argument has the wrong type (a non-tensor, ``batch_size=True``, a
            ``transform`` that cannot be called...).
        ValueError: If no tensor is given, the first dimensions differ, the data
            set is empty, or ``batch_size`` is not positive.
    """

    def __init__(
        self,
        *tensors: Tensor,
        batch_size: int = 128,
        shuffle: bool = True,
        transform: Callable[[Tensor], Tensor] | None = None,
        device: str | torch.device | None = None,
        drop_last: bool = False,
        seed: int | None = None,
    ) -> None:
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor, got none")
        for i, t in enumerate(tensors):
            check_tensor(t, f"tensors[{i}]", batch=False)
        sizes = [t.shape[0] if t.dim() > 0 else 0 for t in tensors]
        if len(set(sizes)) != 1:
            raise ValueError(f"all tensors must have the same first dimension, got sizes {sizes}")
        if sizes[0] == 0:
            raise ValueError("TensorLoader got an empty data set (first dimension 0)")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        shuffle = check_bool(shuffle, "shuffle")
        drop_last = check_bool(drop_last, "drop_last")
        if transform is not None:
            check_callable(transform, "transform", "Tensor -> Tensor")
        if seed is not None:
            seed = check_int(seed, "seed")
        self.device = torch.device(device) if device is not None else tensors[0].device
        self.tensors = tuple(t.to(self.device) for t in tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.transform = transform
        self.drop_last = drop_last
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    @property
    def n_samples(self) -> int:
        """Number of samples in the data set."""
        return self.tensors[0].shape[0]

    def __len__(self) -> int:
        """Number of batches per epoch."""
        full, rest = divmod(self.n_samples, self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        n = self.n_samples
        if self.shuffle:
            # The permutation is drawn on the CPU (reproducible on every device), then moved.
            order = torch.randperm(n, generator=self.generator).to(self.device)  # (N,)
        else:
            order = torch.arange(n, device=self.device)  # (N,)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]  # (B,)
            batch = tuple(t[idx] for t in self.tensors)
            if self.transform is not None:
                batch = (self.transform(batch[0]), *batch[1:])
            yield batch

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(t.shape)) for t in self.tensors)
        return (
            f"TensorLoader({shapes}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"device={self.device})"
        )

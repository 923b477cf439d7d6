"""Datasets used throughout the book, as plain tensors.

* MNIST and Fashion-MNIST, read from the official IDX files in torchvision's folder layout
  ``<root>/MNIST/raw/`` and ``<root>/FashionMNIST/raw/``. Files that are present are used as
  they are (the root may be read-only); missing files are downloaded, checked against their
  official md5 and decompressed, with every write going to a temporary file first.
* scikit-learn's bundled 8x8 digits.
* Photographs that ship inside scikit-image and scikit-learn, and square patches cut from
  them, split into training and test sets *by photograph*.

The root folder is ``$AEUTILS_DATA`` when that environment variable is set, otherwise a
per-user cache folder (see :func:`default_data_root`).

Errors are explicit: :class:`DatasetNotAvailableError` (a ``RuntimeError``) when files are
missing and cannot be downloaded (``download=False``, no network, or a folder that cannot be
written), with a message naming the missing files, the folder searched and the
``AEUTILS_DATA`` variable; :class:`ChecksumMismatchError` (a subclass) when a download does
not match its official md5, naming the file and both md5s; ``ValueError`` when a present file
is not a valid IDX file or an argument is bad.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import shutil
import struct
import tempfile
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from aeutils.validation import check_int

__all__ = [
    "DATA_ENV_VAR",
    "FASHION_MNIST_MD5",
    "FASHION_MNIST_MIRRORS",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "PHOTOGRAPHS",
    "TEST_PHOTOGRAPHS",
    "TRAIN_PHOTOGRAPHS",
    "ChecksumMismatchError",
    "DatasetNotAvailableError",
    "default_data_root",
    "load_digits",
    "load_fashion_mnist",
    "load_image_patches",
    "load_mnist",
    "load_photographs",
]

#: The environment variable naming the data root (see :func:`default_data_root`).
DATA_ENV_VAR = "AEUTILS_DATA"

#: MNIST mirrors, tried in order; each file name is appended to the URL.
MNIST_MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
#: Fashion-MNIST mirrors, tried in order.
FASHION_MNIST_MIRRORS: list[str] = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
]

#: Official md5 of each compressed MNIST file (as in torchvision's ``MNIST.resources``).
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
#: Official md5 of each compressed Fashion-MNIST file.
FASHION_MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}

DOWNLOAD_TIMEOUT_S = 30.0  # per network operation (connect, each read)

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


class DatasetNotAvailableError(RuntimeError):
    """Dataset files are missing and could not be downloaded."""


class ChecksumMismatchError(DatasetNotAvailableError):
    """A downloaded file did not have its official md5; the download was discarded."""


def default_data_root() -> Path:
    """Return the folder under which datasets are looked for and downloaded.

    Returns:
        ``$AEUTILS_DATA`` when that environment variable is set and not empty, otherwise
        ``$XDG_CACHE_HOME/aeutils`` (``~/.cache/aeutils`` when ``XDG_CACHE_HOME`` is unset).
    """
    configured = os.environ.get(DATA_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "aeutils"


# --------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST
# --------------------------------------------------------------------------------------------


def load_mnist(
    split: str = "train", root: str | Path | None = None, download: bool = True
) -> tuple[Tensor, Tensor]:
    """Load the MNIST handwritten digits.

    Reads ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``. A missing file is
    also accepted as ``<name>.gz``; otherwise, with ``download=True``, only the missing files
    are downloaded from :data:`MNIST_MIRRORS` and checked against :data:`MNIST_MD5`.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        root: Folder that holds ``MNIST/raw/``; ``None`` means :func:`default_data_root`.
        download: Whether missing files may be downloaded.

    Returns:
        ``(images, labels)``: images float32 in [0, 1] (grey level / 255), labels int64 in 0..9.

    Raises:
        ValueError: ``split`` is not ``"train"`` or ``"test"``, or a file is not valid IDX.
        TypeError: ``root`` is not a string or a path.
        DatasetNotAvailableError: files are missing and could not be downloaded.
        ChecksumMismatchError: a download did not match its official md5.

    Shape:
        - images: ``(N, 1, 28, 28)``
        - labels: ``(N,)``
    """
    return _load_idx_dataset("MNIST", split, root, download, MNIST_MIRRORS, MNIST_MD5)


def load_fashion_mnist(
    split: str = "train", root: str | Path | None = None, download: bool = True
) -> tuple[Tensor, Tensor]:
    """Load Fashion-MNIST (Zalando's 28x28 clothing images, 10 classes).

    Same as :func:`load_mnist`, with the files in ``<root>/FashionMNIST/raw/``, downloaded from
    :data:`FASHION_MNIST_MIRRORS` and checked against :data:`FASHION_MNIST_MD5`.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        root: Folder that holds ``FashionMNIST/raw/``; ``None`` means :func:`default_data_root`.
        download: Whether missing files may be downloaded.

    Returns:
        ``(images, labels)``: images float32 in [0, 1], labels int64 in 0..9.

    Raises:
        ValueError: ``split`` is not ``"train"`` or ``"test"``, or a file is not valid IDX.
        TypeError: ``root`` is not a string or a path.
        DatasetNotAvailableError: files are missing and could not be downloaded.
        ChecksumMismatchError: a download did not match its official md5.

    Shape:
        - images: ``(N, 1, 28, 28)``
        - labels: ``(N,)``
    """
    return _load_idx_dataset(
        "FashionMNIST", split, root, download, FASHION_MNIST_MIRRORS, FASHION_MNIST_MD5
    )


def _load_idx_dataset(
    dataset: str,
    split: str,
    root: str | Path | None,
    download: bool,
    mirrors: Sequence[str],
    md5s: dict[str, str],
) -> tuple[Tensor, Tensor]:
    """Find (or download) one split of an MNIST-like dataset and read it."""
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if root is None:
        root = default_data_root()
    elif not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a str, a Path or None, got {type(root).__name__}")
    folder = Path(root) / dataset / "raw"
    prefix = _SPLIT_PREFIX[split]
    names = [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]

    paths = _find_or_download(dataset, folder, names, download, mirrors, md5s)
    images = _read_idx(paths[0])  # (N, 28, 28) uint8
    labels = _read_idx(paths[1])  # (N,) uint8
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{paths[0]} should hold (N, 28, 28) images, but holds {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{paths[1]} should hold {len(images)} labels (one per image in {paths[0].name}), "
            f"but holds an array of shape {labels.shape}"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{paths[1]} holds label {labels.max()}, expected labels 0..9")
    images_t = torch.from_numpy(images.astype(np.float32) / np.float32(255.0))
    return images_t.unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _find_or_download(
    dataset: str,
    folder: Path,
    names: list[str],
    download: bool,
    mirrors: Sequence[str],
    md5s: dict[str, str],
) -> list[Path]:
    """Return a readable path per file name, downloading the missing files if allowed.

    A present ``<name>`` is used as it is. A present ``<name>.gz`` alone is decompressed next to
    it when the folder is writable, and read compressed otherwise.
    """
    found: dict[str, Path] = {}
    for name in names:
        if (folder / name).is_file():
            found[name] = folder / name
        elif (folder / f"{name}.gz").is_file():
            try:
                _gunzip_atomically(folder / f"{name}.gz", folder / name)
                found[name] = folder / name
            except (OSError, EOFError, zlib.error):  # read-only folder or bad .gz: read it as is
                found[name] = folder / f"{name}.gz"
    missing = [name for name in names if name not in found]
    if not missing:
        return [found[name] for name in names]

    def not_available(reason: str) -> str:
        return _not_available_message(dataset, folder, names, missing, reason)

    if not download:
        raise DatasetNotAvailableError(not_available("download=False, so nothing was downloaded."))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise DatasetNotAvailableError(
            not_available(f"The folder cannot be written to ({err}), so nothing was downloaded.")
        ) from err

    for name in missing:
        failures, checksum_failed = _download(name, folder, mirrors, md5s)
        if failures:
            error_type = ChecksumMismatchError if checksum_failed else DatasetNotAvailableError
            reason = f"Downloading {name}.gz failed on every mirror:\n  " + "\n  ".join(failures)
            raise error_type(not_available(reason))
        found[name] = folder / name
    return [found[name] for name in names]


def _not_available_message(
    dataset: str, folder: Path, names: list[str], missing: list[str], reason: str
) -> str:
    """Explain which files are missing where, why, and how to fix it."""
    configured = os.environ.get(DATA_ENV_VAR)
    setting = f"currently {configured!r}" if configured else "currently unset"
    return (
        f"{dataset} files missing: {', '.join(missing)} not found in {folder.absolute()} "
        f"(expected {' and '.join(names)}, uncompressed IDX or .gz). {reason}\n"
        f"To fix this, put the files in that folder, or set the environment variable "
        f"{DATA_ENV_VAR} ({setting}) or pass root= to a folder that holds {dataset}/raw/, "
        f"or call again with download=True where the internet is reachable and the folder "
        f"is writable."
    )


def _download(
    name: str, folder: Path, mirrors: Sequence[str], md5s: dict[str, str]
) -> tuple[list[str], bool]:
    """Download ``<name>.gz`` from the first mirror that serves it with the right md5.

    On success ``folder / name`` holds the decompressed file. Returns the failure of each mirror
    tried (empty on success) and whether any of them was a checksum mismatch.
    """
    archive = f"{name}.gz"
    expected = md5s[archive]
    failures: list[str] = []
    checksum_failed = False
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{archive}"
        try:
            _fetch_verified(url, folder, name, expected)
            return [], False
        except ChecksumMismatchError as err:
            failures.append(f"{url}: {err}")
            checksum_failed = True
        except (OSError, http.client.HTTPException, EOFError, zlib.error) as err:
            failures.append(f"{url}: {type(err).__name__}: {err}")
    if not mirrors:
        failures.append("no mirror is configured")
    return failures, checksum_failed


def _fetch_verified(url: str, folder: Path, name: str, expected_md5: str) -> None:
    """Download ``url`` into a temporary file, check its md5, decompress it to ``folder / name``.

    Raises:
        ChecksumMismatchError: the download's md5 is not ``expected_md5``.
        OSError: the download or a write failed.
    """
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".gz.part", dir=folder)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            received = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := response.read(1 << 16):
                    digest.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and received != int(announced):
                raise ConnectionError(f"the transfer stopped after {received} of {announced} bytes")
            actual = digest.hexdigest()
            if actual != expected_md5:
                raise ChecksumMismatchError(
                    f"checksum mismatch for {name}.gz: expected md5 {expected_md5}, "
                    f"got md5 {actual}; the download was discarded"
                )
            _gunzip_atomically(Path(tmp_name), folder / name)
        finally:
            Path(tmp_name).unlink(missing_ok=True)


def _gunzip_atomically(source: Path, target: Path) -> None:
    """Decompress ``source`` into a temporary file next to ``target``, then rename it."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(source, "rb") as compressed:
            shutil.copyfileobj(compressed, out)
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (``.gz`` allowed), as LeCun's MNIST files are.

    The header is the magic number ``0x0000080D`` (``D`` = number of dimensions), then each
    dimension as a big-endian uint32, then the bytes in C order.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            data = file.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise ValueError(f"{path} is not a valid gzip file ({err}); delete or replace it") from err
    if len(data) < 4 or data[:3] != b"\x00\x00\x08" or not 1 <= data[3] <= 4:
        raise ValueError(
            f"{path} is not an IDX file of unsigned bytes: its magic number is "
            f"0x{data[:4].hex()}, expected 0x00000801 to 0x00000804; delete or replace it"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated: {len(data)} bytes, shorter than its header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != int(np.prod(shape)):
        raise ValueError(
            f"{path} is truncated or corrupt: its header announces shape {shape} "
            f"({int(np.prod(shape))} bytes of data), but it holds {len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


# --------------------------------------------------------------------------------------------
# scikit-learn digits
# --------------------------------------------------------------------------------------------


def load_digits() -> tuple[Tensor, Tensor]:
    """Load scikit-learn's bundled 8x8 handwritten digits (no download needed).

    Returns:
        ``(images, labels)``: images float32 in [0, 1] (the 0..16 grey levels divided by 16),
        labels int64 in 0..9.

    Shape:
        - images: ``(1797, 1, 8, 8)``
        - labels: ``(1797,)``
    """
    from sklearn.datasets import load_digits as sklearn_load_digits  # heavy import, used here only

    bunch = sklearn_load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / np.float32(16.0))  # (N, 8, 8)
    return images.unsqueeze(1), torch.from_numpy(bunch.target.astype(np.int64))


# --------------------------------------------------------------------------------------------
# Photographs and patches
# --------------------------------------------------------------------------------------------

# Photographs that ship inside the installed wheels (no download), and where each comes from.
_PHOTOGRAPH_SOURCES: dict[str, str] = {
    "astronaut": "skimage",  # 512x512 RGB
    "camera": "skimage",  # 512x512 grey
    "chelsea": "skimage",  # 300x451 RGB, a cat
    "coffee": "skimage",  # 400x600 RGB
    "rocket": "skimage",  # 427x640 RGB
    "coins": "skimage",  # 303x384 grey
    "moon": "skimage",  # 512x512 grey
    "brick": "skimage",  # 512x512 grey texture
    "grass": "skimage",  # 512x512 grey texture
    "gravel": "skimage",  # 512x512 grey texture
    "china": "sklearn",  # 427x640 RGB
    "flower": "sklearn",  # 427x640 RGB
}
#: Names of the photographs available offline (scikit-image and scikit-learn).
PHOTOGRAPHS: tuple[str, ...] = tuple(_PHOTOGRAPH_SOURCES)

#: Photographs that training patches are cut from.
TRAIN_PHOTOGRAPHS: tuple[str, ...] = (
    "camera",
    "astronaut",
    "coffee",
    "rocket",
    "china",
    "moon",
    "brick",
    "grass",
)
#: Held-out photographs for test patches, never seen in training.
TEST_PHOTOGRAPHS: tuple[str, ...] = ("chelsea", "flower", "coins", "gravel")


def load_photographs(
    names: Sequence[str] | None = None, grayscale: bool = True
) -> dict[str, Tensor]:
    """Load photographs bundled with scikit-image and scikit-learn (no download needed).

    Args:
        names: Photographs to load, from :data:`PHOTOGRAPHS`; ``None`` loads them all.
        grayscale: If True, colour photographs are converted to luminance
            (``0.2125 R + 0.7154 G + 0.0721 B``, as ``skimage.color.rgb2gray``) and every
            photograph has one channel. If False every photograph has three channels
            (grey photographs repeat their single channel).

    Returns:
        A dict from name to a float32 tensor in [0, 1], in the order of ``names``.

    Raises:
        TypeError: ``names`` is a single string instead of a sequence of names.
        ValueError: a name is not in :data:`PHOTOGRAPHS`.

    Shape:
        - each photograph: ``(1, H, W)`` if ``grayscale`` else ``(3, H, W)``
    """
    if isinstance(names, str):
        raise TypeError(f"names must be a sequence of names such as [{names!r}], got a str")
    names = PHOTOGRAPHS if names is None else tuple(names)
    unknown = [name for name in names if name not in _PHOTOGRAPH_SOURCES]
    if unknown:
        raise ValueError(f"unknown photograph(s) {unknown}; available: {', '.join(PHOTOGRAPHS)}")
    return {name: _photograph_tensor(_photograph_uint8(name), grayscale) for name in names}


@functools.cache
def _photograph_uint8(name: str) -> np.ndarray:
    """Read one photograph as stored, (H, W) or (H, W, 3) uint8; cached, read-only."""
    if _PHOTOGRAPH_SOURCES[name] == "skimage":
        import skimage.data  # heavy import, used here only

        image = getattr(skimage.data, name)()
    else:
        from sklearn.datasets import load_sample_image  # heavy import, used here only

        image = load_sample_image(f"{name}.jpg")
    image = np.asarray(image, dtype=np.uint8)
    image.setflags(write=False)
    return image


def _photograph_tensor(image: np.ndarray, grayscale: bool) -> Tensor:
    """Convert a (H, W) or (H, W, 3) uint8 photograph to a (C, H, W) float32 tensor in [0, 1]."""
    if grayscale and image.ndim == 3:
        from skimage.color import rgb2gray  # heavy import, used here only

        channels = rgb2gray(image)[None].astype(np.float32)  # (1, H, W)
    elif grayscale:
        channels = image[None].astype(np.float32) / np.float32(255.0)  # (1, H, W)
    else:
        rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)  # (H, W, 3)
        channels = rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)  # (3, H, W)
    return torch.from_numpy(np.ascontiguousarray(channels)).clamp_(0.0, 1.0)


def load_image_patches(
    split: str = "train",
    patch_size: int = 32,
    stride: int | None = None,
    grayscale: bool = True,
    max_patches: int | None = None,
    seed: int = 0,
) -> Tensor:
    """Cut square patches on a regular grid from the photographs of one split.

    The split is by photograph (:data:`TRAIN_PHOTOGRAPHS`, :data:`TEST_PHOTOGRAPHS`), so test
    patches come from photographs never seen in training. Patches are taken photograph by
    photograph (in the order of the split's tuple), row by row, at top-left corners
    ``(i * stride, j * stride)`` that keep the whole patch inside the photograph. Photographs
    smaller than ``patch_size`` contribute no patch.

    Args:
        split: ``"train"`` or ``"test"``.
        patch_size: Side ``p`` of the square patches, in pixels.
        stride: Step between neighbouring patches; ``None`` means ``patch_size`` (no overlap).
        grayscale: One luminance channel if True, three RGB channels if False
            (see :func:`load_photographs`).
        max_patches: If given and smaller than the number of patches, keep a random subset of
            this size (drawn without replacement with ``seed``, kept in grid order).
        seed: Seed of the subset drawn when ``max_patches`` applies; otherwise unused.

    Returns:
        float32 patches in [0, 1].

    Raises:
        ValueError: ``split`` is unknown, ``patch_size``/``stride``/``max_patches`` is not
            positive, or ``patch_size`` is larger than every photograph of the split.
        TypeError: ``patch_size``/``stride``/``max_patches``/``seed`` is not an integer (bools
            included).

    Shape:
        - output: ``(N, 1, p, p)`` if ``grayscale`` else ``(N, 3, p, p)``
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    patch_size = check_int(patch_size, "patch_size", minimum=1)
    stride = patch_size if stride is None else check_int(stride, "stride", minimum=1)
    if max_patches is not None:
        max_patches = check_int(max_patches, "max_patches", minimum=1)
    seed = check_int(seed, "seed")

    names = TRAIN_PHOTOGRAPHS if split == "train" else TEST_PHOTOGRAPHS
    grids = []  # per photograph: a view (C, rows, cols, p, p) of its patches
    for image in load_photographs(names, grayscale).values():  # (C, H, W)
        if image.shape[1] >= patch_size and image.shape[2] >= patch_size:
            grids.append(image.unfold(1, patch_size, stride).unfold(2, patch_size, stride))
    counts = [grid.shape[1] * grid.shape[2] for grid in grids]
    total = sum(counts)
    if total == 0:
        raise ValueError(
            f"patch_size={patch_size} is larger than every photograph of the {split!r} split"
        )

    chosen = torch.arange(total)  # global patch indices, in grid order
    if max_patches is not None and max_patches < total:
        generator = torch.Generator().manual_seed(seed)
        chosen = torch.randperm(total, generator=generator)[:max_patches].sort().values

    patches = []
    start = 0
    for grid, count in zip(grids, counts, strict=True):
        local = chosen[(chosen >= start) & (chosen < start + count)] - start
        rows, cols = local // grid.shape[2], local % grid.shape[2]
        patches.append(grid[:, rows, cols].transpose(0, 1))  # (k, C, p, p), copies only these
        start += count
    return torch.cat(patches).contiguous()

"""Tests for aeutils.data.

No test touches the internet: downloads are served from a local HTTP server on 127.0.0.1 with
tiny IDX files written here by hand, and an autouse fixture refuses any other connection.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import socket
import stat
import struct
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from aeutils import data

LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DIGIT_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


# --------------------------------------------------------------------------------------------
# Fixtures: no internet, tiny IDX files, a local file server
# --------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every connection and name lookup that is not for the loopback interface."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        if isinstance(address, tuple) and address[0] not in LOCAL_HOSTS:
            raise OSError(f"tests must not use the network (connect to {address!r})")
        real_connect(self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        if host not in LOCAL_HOSTS:
            raise socket.gaierror(f"tests must not use the network (lookup of {host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX: 0x00 0x00 0x08 ndim, big-endian uint32 dims, raw bytes."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@dataclass
class TinyDataset:
    """Five tiny images and labels per split, with their IDX files and gzipped copies."""

    images: dict[str, np.ndarray] = field(default_factory=dict)  # split -> (5, 28, 28) uint8
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # split -> (5,) uint8
    raw: dict[str, bytes] = field(default_factory=dict)  # file name -> IDX bytes
    gz: dict[str, bytes] = field(default_factory=dict)  # file name + ".gz" -> gzip bytes

    def md5s(self) -> dict[str, str]:
        return {name: hashlib.md5(blob).hexdigest() for name, blob in self.gz.items()}

    def write(self, folder: Path, names: tuple[str, ...], compressed: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            if compressed:
                (folder / f"{name}.gz").write_bytes(self.gz[f"{name}.gz"])
            else:
                (folder / name).write_bytes(self.raw[name])


@pytest.fixture
def tiny() -> TinyDataset:
    rng = np.random.default_rng(0)
    dataset = TinyDataset()
    for split, (images_name, labels_name) in MNIST_FILES.items():
        images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255  # both ends of the grey range
        labels = rng.integers(0, 10, size=5, dtype=np.uint8)
        dataset.images[split], dataset.labels[split] = images, labels
        dataset.raw[images_name], dataset.raw[labels_name] = idx_bytes(images), idx_bytes(labels)
    for name, blob in dataset.raw.items():
        dataset.gz[f"{name}.gz"] = gzip.compress(blob, mtime=0)
    return dataset


@dataclass
class FileServer:
    url: str
    folder: Path
    requests: list[str]


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[FileServer]:
    """Serve tmp_path/served over HTTP on 127.0.0.1 (a free port) and log the paths asked for."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self) -> None:
            requests.append(self.path)
            if self.path.startswith("/cut-short/"):  # announce the whole file, send half, hang up
                blob = (folder / self.path.removeprefix("/cut-short/")).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob[: len(blob) // 2])
                self.close_connection = True
                return
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield FileServer(f"http://127.0.0.1:{server.server_address[1]}/", folder, requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def serve_tiny(
    tiny: TinyDataset, file_server: FileServer, monkeypatch: pytest.MonkeyPatch
) -> FileServer:
    """Serve the tiny .gz files and point the MNIST and Fashion-MNIST mirrors and md5s at them."""
    for name, blob in tiny.gz.items():
        (file_server.folder / name).write_bytes(blob)
    monkeypatch.setattr(data, "MNIST_MIRRORS", [file_server.url])
    monkeypatch.setattr(data, "FASHION_MNIST_MIRRORS", [file_server.url])
    monkeypatch.setattr(data, "MNIST_MD5", tiny.md5s())
    monkeypatch.setattr(data, "FASHION_MNIST_MD5", tiny.md5s())
    return file_server


def closed_port_url() -> str:
    """URL of a port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def forbid_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def urlopen(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network must not be used here")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def expected_images(images: np.ndarray) -> torch.Tensor:
    """Grey levels / 255 as a (N, 1, 28, 28) float32 tensor, computed here with torch."""
    return torch.tensor(images, dtype=torch.uint8).unsqueeze(1).to(torch.float32) / 255


# --------------------------------------------------------------------------------------------
# Constants and the data root
# --------------------------------------------------------------------------------------------


def test_md5s_and_mirrors_are_torchvisions() -> None:
    from torchvision.datasets import MNIST, FashionMNIST

    assert dict(MNIST.resources) == data.MNIST_MD5
    assert dict(FashionMNIST.resources) == data.FASHION_MNIST_MD5
    assert list(MNIST.mirrors) == data.MNIST_MIRRORS
    assert list(FashionMNIST.mirrors) == data.FASHION_MNIST_MIRRORS


def test_default_data_root_reads_aeutils_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AEUTILS_DATA", str(tmp_path / "somewhere"))
    assert data.default_data_root() == tmp_path / "somewhere"


def test_default_data_root_falls_back_to_xdg_cache_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AEUTILS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.default_data_root() == tmp_path / "cache" / "aeutils"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.default_data_root() == tmp_path / "home" / ".cache" / "aeutils"


def test_root_none_uses_aeutils_data(
    tiny: TinyDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny.write(tmp_path / "MNIST" / "raw", MNIST_FILES["test"])
    monkeypatch.setenv("AEUTILS_DATA", str(tmp_path))
    _, labels = data.load_mnist("test", download=False)
    assert labels.tolist() == tiny.labels["test"].tolist()


# --------------------------------------------------------------------------------------------
# Reading present files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "test"])
def test_reads_present_idx_files(tiny: TinyDataset, tmp_path: Path, split: str) -> None:
    tiny.write(tmp_path / "MNIST" / "raw", MNIST_FILES[split])
    images, labels = data.load_mnist(split, root=tmp_path, download=False)
    assert images.shape == (5, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (5,) and labels.dtype == torch.int64
    assert torch.equal(images, expected_images(tiny.images[split]))
    assert labels.tolist() == tiny.labels[split].tolist()
    assert images.min() == 0.0 and images.max() == 1.0


def test_read_only_root_with_files_present(
    tiny: TinyDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "MNIST" / "raw"
    tiny.write(raw, MNIST_FILES["train"])
    forbid_network(monkeypatch)
    read_only_file = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
    read_only_dir = read_only_file | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
    for path in raw.iterdir():
        path.chmod(read_only_file)
    for folder in (raw, raw.parent, tmp_path):
        folder.chmod(read_only_dir)
    try:
        before = snapshot(raw)
        for download in (False, True):
            images, labels = data.load_mnist("train", root=str(tmp_path), download=download)
            assert torch.equal(images, expected_images(tiny.images["train"]))
            assert labels.tolist() == tiny.labels["train"].tolist()
        assert snapshot(raw) == before
    finally:
        for folder in (tmp_path, raw.parent, raw):
            folder.chmod(0o755)


def test_gz_alone_is_decompressed_next_to_it(tiny: TinyDataset, tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    tiny.write(raw, MNIST_FILES["test"], compressed=True)
    images, labels = data.load_mnist("test", root=tmp_path, download=False)
    assert torch.equal(images, expected_images(tiny.images["test"]))
    assert labels.tolist() == tiny.labels["test"].tolist()
    expected_files = {name: tiny.raw[name] for name in MNIST_FILES["test"]}
    expected_files.update({f"{n}.gz": tiny.gz[f"{n}.gz"] for n in MNIST_FILES["test"]})
    assert snapshot(raw) == expected_files


def test_gz_alone_in_unwritable_folder_is_read_compressed(
    tiny: TinyDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "MNIST" / "raw"
    tiny.write(raw, MNIST_FILES["test"], compressed=True)
    before = snapshot(raw)

    def mkstemp(*args: object, **kwargs: object) -> None:  # what a read-only folder does
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data.tempfile, "mkstemp", mkstemp)
    images, labels = data.load_mnist("test", root=tmp_path, download=False)
    assert torch.equal(images, expected_images(tiny.images["test"]))
    assert labels.tolist() == tiny.labels["test"].tolist()
    assert snapshot(raw) == before


# --------------------------------------------------------------------------------------------
# Bad input and corrupt files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loader", [data.load_mnist, data.load_fashion_mnist])
def test_wrong_split_name(loader: object, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"split must be 'train' or 'test', got 'validation'"):
        loader("validation", root=tmp_path)  # type: ignore[operator]


def test_root_of_wrong_type() -> None:
    with pytest.raises(TypeError, match="root must be a str, a Path or None, got int"):
        data.load_mnist("test", root=3)  # type: ignore[arg-type]


def write_test_split(tiny: TinyDataset, raw: Path, images: bytes, labels: bytes) -> None:
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte").write_bytes(images)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(labels)


def test_corrupt_magic_number(tiny: TinyDataset, tmp_path: Path) -> None:
    images = bytearray(tiny.raw["t10k-images-idx3-ubyte"])
    images[2] = 0x0D  # type code 0x0D (float) instead of 0x08 (unsigned byte)
    write_test_split(tiny, tmp_path / "MNIST" / "raw", images, tiny.raw["t10k-labels-idx1-ubyte"])
    with pytest.raises(
        ValueError,
        match=r"t10k-images-idx3-ubyte is not an IDX file of unsigned bytes: "
        r"its magic number is 0x00000d03",
    ):
        data.load_mnist("test", root=tmp_path, download=False)


def test_html_page_instead_of_idx(tiny: TinyDataset, tmp_path: Path) -> None:
    write_test_split(tiny, tmp_path / "MNIST" / "raw", b"<html>", b"")
    with pytest.raises(ValueError, match="magic number is 0x3c68746d"):
        data.load_mnist("test", root=tmp_path, download=False)


def test_truncated_idx(tiny: TinyDataset, tmp_path: Path) -> None:
    images = tiny.raw["t10k-images-idx3-ubyte"][:-10]
    write_test_split(tiny, tmp_path / "MNIST" / "raw", images, tiny.raw["t10k-labels-idx1-ubyte"])
    with pytest.raises(ValueError, match=r"truncated or corrupt: .*\(5, 28, 28\)"):
        data.load_mnist("test", root=tmp_path, download=False)
    write_test_split(tiny, tmp_path / "other" / "MNIST" / "raw", images[:9], b"")
    with pytest.raises(ValueError, match="shorter than its header"):
        data.load_mnist("test", root=tmp_path / "other", download=False)


def test_images_of_wrong_size(tiny: TinyDataset, tmp_path: Path) -> None:
    images = idx_bytes(np.zeros((5, 8, 8), dtype=np.uint8))
    write_test_split(tiny, tmp_path / "MNIST" / "raw", images, tiny.raw["t10k-labels-idx1-ubyte"])
    with pytest.raises(
        ValueError, match=r"should hold \(N, 28, 28\) images, but holds \(5, 8, 8\)"
    ):
        data.load_mnist("test", root=tmp_path, download=False)


def test_label_count_differs_from_image_count(tiny: TinyDataset, tmp_path: Path) -> None:
    labels = idx_bytes(np.zeros(4, dtype=np.uint8))
    write_test_split(tiny, tmp_path / "MNIST" / "raw", tiny.raw["t10k-images-idx3-ubyte"], labels)
    with pytest.raises(ValueError, match=r"should hold 5 labels .* shape \(4,\)"):
        data.load_mnist("test", root=tmp_path, download=False)


def test_label_out_of_range(tiny: TinyDataset, tmp_path: Path) -> None:
    labels = idx_bytes(np.array([0, 1, 2, 3, 12], dtype=np.uint8))
    write_test_split(tiny, tmp_path / "MNIST" / "raw", tiny.raw["t10k-images-idx3-ubyte"], labels)
    with pytest.raises(ValueError, match=r"holds label 12, expected labels 0\.\.9"):
        data.load_mnist("test", root=tmp_path, download=False)


def test_corrupt_gz(tiny: TinyDataset, tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    (raw / "t10k-labels-idx1-ubyte").write_bytes(tiny.raw["t10k-labels-idx1-ubyte"])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz is not a valid gzip file"):
        data.load_mnist("test", root=tmp_path, download=False)
    assert sorted(p.name for p in raw.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte",
    ]


# --------------------------------------------------------------------------------------------
# Downloading (from a local server only)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loader", "folder_name"),
    [(data.load_mnist, "MNIST"), (data.load_fashion_mnist, "FashionMNIST")],
)
def test_download_then_load(
    tiny: TinyDataset, serve_tiny: FileServer, tmp_path: Path, loader: object, folder_name: str
) -> None:
    root = tmp_path / "new" / "root"  # does not exist yet
    images, labels = loader("train", root=root)  # type: ignore[operator]
    assert torch.equal(images, expected_images(tiny.images["train"]))
    assert labels.tolist() == tiny.labels["train"].tolist()
    assert sorted(serve_tiny.requests) == [
        "/train-images-idx3-ubyte.gz",
        "/train-labels-idx1-ubyte.gz",
    ]
    raw = root / folder_name / "raw"
    assert snapshot(raw) == {name: tiny.raw[name] for name in MNIST_FILES["train"]}

    serve_tiny.requests.clear()
    images_again, _ = loader("train", root=root, download=False)  # type: ignore[operator]
    assert torch.equal(images_again, images)
    assert serve_tiny.requests == []


def test_downloads_only_missing_files(
    tiny: TinyDataset, serve_tiny: FileServer, tmp_path: Path
) -> None:
    raw = tmp_path / "MNIST" / "raw"
    user_images = idx_bytes(np.full((5, 28, 28), 7, dtype=np.uint8))  # differs from the server's
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte").write_bytes(user_images)
    images, labels = data.load_mnist("test", root=tmp_path)
    assert serve_tiny.requests == ["/t10k-labels-idx1-ubyte.gz"]
    assert torch.equal(images, torch.full((5, 1, 28, 28), 7 / 255))
    assert labels.tolist() == tiny.labels["test"].tolist()
    assert snapshot(raw) == {
        "t10k-images-idx3-ubyte": user_images,
        "t10k-labels-idx1-ubyte": tiny.raw["t10k-labels-idx1-ubyte"],
    }


def test_checksum_mismatch_discards_the_download(
    tiny: TinyDataset, serve_tiny: FileServer, tmp_path: Path
) -> None:
    served = gzip.compress(idx_bytes(np.arange(5, dtype=np.uint8)), mtime=0)  # not the original
    (serve_tiny.folder / "t10k-labels-idx1-ubyte.gz").write_bytes(served)
    expected_md5 = hashlib.md5(tiny.gz["t10k-labels-idx1-ubyte.gz"]).hexdigest()
    actual_md5 = hashlib.md5(served).hexdigest()
    raw = tmp_path / "MNIST" / "raw"
    tiny.write(raw, ("t10k-images-idx3-ubyte",))
    before = snapshot(raw)
    with pytest.raises(data.ChecksumMismatchError) as info:
        data.load_mnist("test", root=tmp_path)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert f"expected md5 {expected_md5}, got md5 {actual_md5}" in message
    assert isinstance(info.value, data.DatasetNotAvailableError)
    assert isinstance(info.value, RuntimeError)
    assert snapshot(raw) == before  # the user's file is kept, no temporary file is left


def test_interrupted_download_leaves_nothing(
    tiny: TinyDataset, serve_tiny: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "MNIST_MIRRORS", [serve_tiny.url + "cut-short/"])
    raw = tmp_path / "MNIST" / "raw"
    with pytest.raises(data.DatasetNotAvailableError) as info:
        data.load_mnist("test", root=tmp_path)
    assert not isinstance(info.value, data.ChecksumMismatchError)
    half = len(tiny.gz["t10k-images-idx3-ubyte.gz"]) // 2
    assert f"the transfer stopped after {half} of " in str(info.value)
    assert serve_tiny.requests == ["/cut-short/t10k-images-idx3-ubyte.gz"]
    assert list(raw.iterdir()) == []


def test_falls_back_to_the_next_mirror(
    tiny: TinyDataset, serve_tiny: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirrors = [closed_port_url(), serve_tiny.url + "nothing-here", serve_tiny.url]
    monkeypatch.setattr(data, "MNIST_MIRRORS", mirrors)
    _, labels = data.load_mnist("test", root=tmp_path)
    assert labels.tolist() == tiny.labels["test"].tolist()
    assert serve_tiny.requests == [
        "/nothing-here/t10k-images-idx3-ubyte.gz",
        "/t10k-images-idx3-ubyte.gz",
        "/nothing-here/t10k-labels-idx1-ubyte.gz",
        "/t10k-labels-idx1-ubyte.gz",
    ]


def test_unreachable_mirrors(
    tiny: TinyDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "MNIST_MIRRORS", [closed_port_url()])
    monkeypatch.setattr(data, "MNIST_MD5", tiny.md5s())
    raw = tmp_path / "MNIST" / "raw"
    with pytest.raises(data.DatasetNotAvailableError) as info:
        data.load_mnist("train", root=tmp_path)
    assert not isinstance(info.value, data.ChecksumMismatchError)
    message = str(info.value)
    for expected in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        str(raw.absolute()),
        "AEUTILS_DATA",
        "failed on every mirror",
        "Connection refused",
        "download=True",
    ):
        assert expected in message
    assert list(raw.iterdir()) == []  # the folder was created, nothing half-written remains


def test_no_mirror_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "FASHION_MNIST_MIRRORS", [])
    with pytest.raises(data.DatasetNotAvailableError, match="no mirror is configured"):
        data.load_fashion_mnist("test", root=tmp_path)


def test_download_false_with_missing_files(
    tiny: TinyDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_network(monkeypatch)
    monkeypatch.setenv("AEUTILS_DATA", "/some/where")
    raw = tmp_path / "FashionMNIST" / "raw"
    tiny.write(raw, ("t10k-labels-idx1-ubyte",))
    with pytest.raises(data.DatasetNotAvailableError) as info:
        data.load_fashion_mnist("test", root=tmp_path, download=False)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte not found in " + str(raw.absolute()) in message
    assert "download=False" in message
    assert "AEUTILS_DATA (currently '/some/where')" in message
    assert sorted(p.name for p in raw.iterdir()) == ["t10k-labels-idx1-ubyte"]


def test_unwritable_root_with_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_network(monkeypatch)
    monkeypatch.delenv("AEUTILS_DATA", raising=False)
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("the root is a file, so no folder can be made inside it")
    with pytest.raises(data.DatasetNotAvailableError) as info:
        data.load_mnist("test", root=not_a_folder)
    message = str(info.value)
    assert "cannot be written to" in message
    assert "t10k-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    assert "AEUTILS_DATA (currently unset)" in message
    assert not_a_folder.read_text().startswith("the root is a file")


# --------------------------------------------------------------------------------------------
# Real MNIST (from $AEUTILS_DATA)
# --------------------------------------------------------------------------------------------


def mnist_root() -> Path | None:
    root = os.environ.get("AEUTILS_DATA")
    if not root:
        return None
    raw = Path(root) / "MNIST" / "raw"
    names = [name for split in MNIST_FILES.values() for name in split]
    return Path(root) if all((raw / name).is_file() for name in names) else None


requires_mnist = pytest.mark.skipif(
    mnist_root() is None, reason="real MNIST not found under $AEUTILS_DATA/MNIST/raw/"
)


@pytest.fixture(scope="module", params=["train", "test"])
def real_mnist(request: pytest.FixtureRequest) -> tuple[str, torch.Tensor, torch.Tensor]:
    root = mnist_root()
    if root is None:
        pytest.skip("real MNIST not found under $AEUTILS_DATA/MNIST/raw/")
    images, labels = data.load_mnist(request.param, root=root, download=False)
    return request.param, images, labels


@requires_mnist
def test_real_mnist_shapes_and_range(real_mnist: tuple[str, torch.Tensor, torch.Tensor]) -> None:
    split, images, labels = real_mnist
    n = {"train": 60000, "test": 10000}[split]
    assert images.shape == (n, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert abs(images.mean().item() - 0.1307) < 2e-3  # the well-known MNIST mean


@requires_mnist
def test_real_mnist_digit_counts(real_mnist: tuple[str, torch.Tensor, torch.Tensor]) -> None:
    split, _, labels = real_mnist
    assert np.bincount(labels.numpy(), minlength=10).tolist() == DIGIT_COUNTS[split]


@requires_mnist
def test_real_mnist_equals_torchvision(real_mnist: tuple[str, torch.Tensor, torch.Tensor]) -> None:
    from torchvision.datasets import MNIST

    split, images, labels = real_mnist
    reference = MNIST(str(mnist_root()), train=split == "train", download=False)
    assert torch.equal(images, reference.data.unsqueeze(1).float() / 255)
    assert torch.equal(labels, reference.targets)


# --------------------------------------------------------------------------------------------
# scikit-learn digits
# --------------------------------------------------------------------------------------------


def test_load_digits_matches_sklearn() -> None:
    from sklearn.datasets import load_digits

    reference = load_digits()
    images, labels = data.load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == torch.float32
    assert labels.dtype == torch.int64
    np.testing.assert_allclose(images[:, 0].numpy(), reference.images / 16, rtol=0, atol=1e-7)
    assert labels.tolist() == reference.target.tolist()
    assert images.min() == 0.0 and images.max() == 1.0


# --------------------------------------------------------------------------------------------
# Photographs and patches
# --------------------------------------------------------------------------------------------


def source_photograph(name: str) -> np.ndarray:
    """The photograph as its package ships it, (H, W) or (H, W, 3) uint8."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    import skimage.data

    return getattr(skimage.data, name)()


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 709 luma as scikit-image documents it, computed by hand."""
    return rgb.astype(np.float64) @ np.array([0.2125, 0.7154, 0.0721]) / 255


def test_all_photographs_load_offline_as_float_images(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_network(monkeypatch)
    for grayscale, channels in ((True, 1), (False, 3)):
        photographs = data.load_photographs(grayscale=grayscale)
        assert list(photographs) == list(data.PHOTOGRAPHS)
        for name, image in photographs.items():
            height, width = source_photograph(name).shape[:2]
            assert image.shape == (channels, height, width), name
            assert image.dtype == torch.float32
            assert image.min() >= 0.0 and image.max() <= 1.0
            assert image.std() > 0.02, f"{name} is nearly blank"


def test_grey_photograph_is_the_grey_levels() -> None:
    camera = data.load_photographs(["camera"])["camera"]
    np.testing.assert_allclose(camera[0].numpy(), source_photograph("camera") / 255, atol=1e-7)
    colour = data.load_photographs(["camera"], grayscale=False)["camera"]
    assert torch.equal(colour, camera.expand(3, -1, -1))


@pytest.mark.parametrize("name", ["astronaut", "china"])
def test_colour_photograph(name: str) -> None:
    rgb = source_photograph(name)
    grey = data.load_photographs([name])[name]
    np.testing.assert_allclose(grey[0].numpy(), luminance(rgb), atol=1e-6)
    colour = data.load_photographs([name], grayscale=False)[name]
    np.testing.assert_allclose(colour.numpy(), rgb.transpose(2, 0, 1) / 255, atol=1e-7)


def test_load_photographs_bad_names() -> None:
    with pytest.raises(ValueError, match=r"unknown photograph\(s\) \['lena'\]; available: "):
        data.load_photographs(["camera", "lena"])
    with pytest.raises(TypeError, match=r"names must be a sequence of names such as \['camera'\]"):
        data.load_photographs("camera")


def test_train_and_test_photographs_are_disjoint() -> None:
    assert set(data.TRAIN_PHOTOGRAPHS).isdisjoint(data.TEST_PHOTOGRAPHS)
    assert set(data.TRAIN_PHOTOGRAPHS) | set(data.TEST_PHOTOGRAPHS) <= set(data.PHOTOGRAPHS)
    train = data.load_image_patches("train", patch_size=16)
    test = data.load_image_patches("test", patch_size=16)
    train_keys = {patch.numpy().tobytes() for patch in train}
    assert not any(patch.numpy().tobytes() in train_keys for patch in test)


def crops_by_hand(names: tuple[str, ...], size: int, stride: int, grayscale: bool) -> np.ndarray:
    """Every size x size crop at (i * stride, j * stride), photograph by photograph, row by row."""
    crops = []
    for name, image in data.load_photographs(names, grayscale).items():
        _, height, width = image.shape
        for top in range(0, height - size + 1, stride):
            for left in range(0, width - size + 1, stride):
                crops.append(image[:, top : top + size, left : left + size].numpy())
        assert image.shape[1:] == source_photograph(name).shape[:2]
    return np.stack(crops)


@pytest.mark.parametrize(
    ("split", "size", "stride", "grayscale"),
    [("test", 40, 50, True), ("test", 310, 100, False), ("train", 32, None, True)],
)
def test_patches_are_crops_of_the_photographs(
    split: str, size: int, stride: int | None, grayscale: bool
) -> None:
    names = data.TRAIN_PHOTOGRAPHS if split == "train" else data.TEST_PHOTOGRAPHS
    patches = data.load_image_patches(split, size, stride, grayscale)
    expected = crops_by_hand(names, size, stride or size, grayscale)
    assert patches.shape == (len(expected), 1 if grayscale else 3, size, size)
    assert patches.dtype == torch.float32 and patches.is_contiguous()
    np.testing.assert_array_equal(patches.numpy(), expected)


def test_max_patches_is_a_seeded_subset_in_grid_order() -> None:
    everything = data.load_image_patches("test", 24, grayscale=False)
    first = data.load_image_patches("test", 24, grayscale=False, max_patches=50, seed=1)
    again = data.load_image_patches("test", 24, grayscale=False, max_patches=50, seed=1)
    other = data.load_image_patches("test", 24, grayscale=False, max_patches=50, seed=2)
    assert first.shape == (50, 3, 24, 24)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    position = {patch.numpy().tobytes(): i for i, patch in enumerate(everything)}
    indices = [position[patch.numpy().tobytes()] for patch in first]
    assert indices == sorted(set(indices))  # distinct patches of the full set, in grid order
    assert torch.equal(
        data.load_image_patches("test", 24, grayscale=False, max_patches=10**6), everything
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"split": "valid"}, ValueError, r"split must be 'train' or 'test', got 'valid'"),
        ({"patch_size": 0}, ValueError, r"patch_size must be a positive integer, got 0"),
        ({"patch_size": 8.0}, TypeError, r"patch_size must be an integer, got float"),
        ({"stride": -2}, ValueError, r"stride must be a positive integer, got -2"),
        ({"max_patches": 0}, ValueError, r"max_patches must be a positive integer, got 0"),
        ({"max_patches": True}, TypeError, r"max_patches must be an integer, got bool"),
        ({"seed": "0"}, TypeError, r"seed must be an integer, got str"),
        ({"patch_size": 700}, ValueError, r"patch_size=700 is larger than every photograph"),
    ],
)
def test_load_image_patches_bad_arguments(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        data.load_image_patches(**kwargs)


def test_default_mirrors_are_refused_by_the_network_guard(tmp_path: Path) -> None:
    with pytest.raises(data.DatasetNotAvailableError) as info:
        data.load_mnist("test", root=tmp_path)
    message = str(info.value)
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz" in message
    assert "tests must not use the network" in message

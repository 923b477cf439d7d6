"""Run every reader notebook the way Colab would, in a fresh environment without aeutils.

    python scripts/colab_dry_run.py _build/reader/notebooks [--venv _build/colab/venv]

1. A fresh virtual environment gets Colab's usual stack (torch, torchvision, numpy, scipy,
   scikit-learn, scikit-image, matplotlib, pandas, ipykernel) and no aeutils, plus a stand-in
   ``google.colab`` package imported at start-up, as Colab's kernel has it.
2. Each reader notebook is copied alone into an empty temporary folder, its setup cell's
   repository URL rewritten to this clone (``git+file://localhost/...``, same commit; older
   pips refuse a ``file:`` URL without a host), and executed in
   ``smoke`` size in a kernel of that environment: the setup cell itself installs aeutils.
3. It passes only if every chapter runs and torch is the same installation afterwards (same
   version, same files: the setup cell must never reinstall Colab's torch).

MNIST comes from ``$AEUTILS_DATA`` when set (CI is offline), as a reader's would download.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from notebooks import ROOT, repository

COLAB_STACK = [
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "scikit-learn",
    "scikit-image",
    "matplotlib",
    "pandas",
    "ipykernel",
]
KERNEL = "colab-dry-run"
STUB = '"""Stand-in for Colab\'s google.colab package (scripts/colab_dry_run.py)."""\n'


def make_environment(folder: Path) -> Path:
    """A fresh venv with Colab's stack, the google.colab stand-in and a kernel spec."""
    python = folder / "bin" / "python"
    stamp = folder / ".colab-stack-installed"
    if not stamp.exists():
        print(f"==> creating {folder} with Colab's stack: {' '.join(COLAB_STACK)}")
        venv.EnvBuilder(with_pip=True, clear=True).create(folder)
        subprocess.run([python, "-m", "pip", "install", "--quiet", *COLAB_STACK], check=True)
        stamp.touch()
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "google" / "colab").mkdir(parents=True, exist_ok=True)
    (site / "google" / "colab" / "__init__.py").write_text(STUB)
    (site / "colab_stand_in.pth").write_text("import google.colab\n")  # loaded at start-up
    found = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.find_spec('aeutils') is None)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    ).stdout.strip()
    if found != "True":
        raise SystemExit(f"{folder} already has aeutils: remove the folder for a fresh run")
    spec = folder / "share" / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Colab dry run", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return python


def torch_fingerprint(python: Path) -> dict:
    """torch's version, location and a hash of its installed-files record."""
    code = (
        "import importlib.metadata as m, json, torch\n"
        "d = m.distribution('torch')\n"
        "print(json.dumps({'version': torch.__version__, 'file': torch.__file__,"
        " 'record': d.read_text('RECORD')}))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    info = json.loads(out.stdout)
    info["record"] = hashlib.sha256(info["record"].encode()).hexdigest()
    info["mtime"] = os.stat(Path(info["file"]).parent).st_mtime_ns
    return info


def local_setup(nb: nbformat.NotebookNode) -> str:
    """Point the setup cell at this clone, keeping the commit it pins."""
    url, _ = repository()
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Setup:")]
    pinned = re.search(rf"git\+{re.escape(url)}@(\w+)", cell.source)
    if not pinned:
        raise SystemExit(f"the setup cell does not install aeutils from {url}@<commit>")
    cell.source = cell.source.replace(f"git+{url}@", f"git+file://localhost{ROOT}@")
    return pinned[1]


def run(path: Path, folder: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    local_setup(nb)
    with tempfile.TemporaryDirectory(prefix="colab-") as empty:
        client = NotebookClient(
            nb,
            timeout=900,
            kernel_name=KERNEL,
            resources={"metadata": {"path": empty}},
        )
        start = time.perf_counter()
        client.execute()
        left = sorted(p.name for p in Path(empty).iterdir())
    if left:
        print(f"    {path.name} left files in its folder: {left}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the reader notebooks (…/reader/notebooks)")
    parser.add_argument("--venv", type=Path, default=ROOT / "_build" / "colab" / "venv")
    args = parser.parse_args()
    paths = sorted(args.folder.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print(f"no reader notebooks in {args.folder}")
        return 1
    python = make_environment(args.venv.resolve())
    os.environ["JUPYTER_PATH"] = str(args.venv.resolve() / "share" / "jupyter")
    os.environ["AEUTILS_SIZE"] = "smoke"
    os.environ.setdefault("AEUTILS_PROGRESS", "0")
    os.environ.pop("MPLBACKEND", None)  # Colab's kernel uses the inline backend
    before = torch_fingerprint(python)
    print(f"==> torch {before['version']} at {Path(before['file']).parent}")
    failed = []
    for path in paths:
        try:
            seconds = run(path, args.venv)
        except Exception as error:  # a failing cell: report it, run the other chapters
            failed.append(path.name)
            print(f"FAIL {path.name}: {type(error).__name__}: {str(error)[-2000:]}")
            continue
        print(f"ok   {path.name} in {seconds:.0f} s")
    after = torch_fingerprint(python)
    if after != before:
        print(f"FAIL torch was reinstalled or changed: {before} -> {after}")
        failed.append("torch")
    print(f"{len(paths)} reader notebooks run as in Colab, {len(failed)} failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

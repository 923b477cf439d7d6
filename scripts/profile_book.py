"""Where a chapter spends its time: execute notebooks and report every cell's wall time.

    python scripts/profile_book.py notebooks/02_linear_autoencoders_and_pca.ipynb
    python scripts/profile_book.py --top 5 --json _build/profile.json notebooks/*.ipynb

Each notebook runs from scratch in a fresh kernel, in the size given by ``AEUTILS_SIZE``
(default ``book``), as a cold Jupyter Book cache runs it. nbclient stamps every cell with the
times its execution started and ended (``cell.metadata.execution``); the report lists the cells
by time, with the first line of each and its share of the chapter. Time chapters alone: torch
on two cores slows down many times beside any other busy process.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def cell_seconds(cell: nbformat.NotebookNode) -> float:
    stamps = cell.metadata.get("execution", {})
    start, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def profile(path: Path, executed: Path | None = None) -> tuple[float, list[dict]]:
    """Execute ``path``; return its wall time and one row per code cell.

    With ``executed`` (a folder), the executed notebook, outputs included, is written there.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=3600,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    total = time.perf_counter() - start
    if executed is not None:
        executed.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, executed / path.name)
    rows = [
        {"cell": i, "seconds": cell_seconds(c), "first_line": c.source.splitlines()[0][:70]}
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and c.source.strip()
    ]
    return total, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=8, help="cells to list per notebook")
    parser.add_argument("--json", type=Path, help="also write every cell's time here")
    parser.add_argument("--executed", type=Path, help="write the executed notebooks to this folder")
    args = parser.parse_args()
    size = os.environ.get("AEUTILS_SIZE", "book")
    report = {"size": size, "load_average": os.getloadavg(), "notebooks": {}}
    for path in args.notebooks:
        total, rows = profile(path, args.executed)
        report["notebooks"][path.name] = {"seconds": total, "cells": rows}
        print(f"{path.name}: {total:.1f} s in size {size!r}")
        for row in sorted(rows, key=lambda r: -r["seconds"])[: args.top]:
            share = 100 * row["seconds"] / total
            cell, seconds, line = row["cell"], row["seconds"], row["first_line"]
            print(f"  cell {cell:3d} {seconds:7.1f} s {share:5.1f}%  {line}")
    report["load_average_after"] = os.getloadavg()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

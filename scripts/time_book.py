"""Measure how long each chapter takes to execute, and write the table into README.md.

    python scripts/time_book.py                   # book size, print a Markdown table
    python scripts/time_book.py --update-readme   # ...and replace the table in README.md
    python scripts/time_book.py --from-cache _build/.jupyter_cache --update-readme
    python scripts/time_book.py --from-cache _build/.jupyter_cache \
        --json benchmarks/results/book_time_<device>.json   # a record for the results page

Each notebook runs from scratch in a fresh kernel (as a cold Jupyter Book cache does), one
after the other, in the size given by ``AEUTILS_SIZE`` (default ``book``). With
``--from-cache`` nothing runs: the times are those Jupyter Book recorded when it executed
the notebooks in its last build (run this on the machine that built it). The device (CUDA,
MPS or the CPU and its thread count) is recorded beside the times. With ``--json`` the times
are also written as a record (:func:`aeutils.records.write_record`: size, the date the times
were measured, per-chapter seconds, and the provenance every record carries) that the book's
results page reads from ``benchmarks/results/book_time*.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

from aeutils.records import device_name, provenance, write_record
from aeutils.train import pick_device

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- timings:start -->", "<!-- timings:end -->"


def device() -> str:
    """The device the chapters run on, in words, with the CPU's torch threads."""
    name = device_name(pick_device())
    return f"{name}, {torch.get_num_threads()} torch threads"


def run(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def cached_times(
    cache_path: Path, paths: list[Path]
) -> tuple[list[tuple[str, float]], datetime.datetime]:
    """Execution times that Jupyter Book stored in its cache, newest record per notebook.

    Returns:
        ``(rows, when)``: ``(notebook stem, seconds)`` per notebook, and when the newest of
        those records was written.
    """
    from jupyter_cache import get_cache

    latest: dict[str, tuple[object, float]] = {}
    for record in get_cache(cache_path).list_cache_records():
        stem, seconds = Path(record.uri).stem, (record.data or {}).get("execution_seconds")
        if seconds is not None and (stem not in latest or record.created > latest[stem][0]):
            latest[stem] = (record.created, float(seconds))
    missing = [p.stem for p in paths if p.stem not in latest]
    if missing:
        raise SystemExit(f"no execution time in {cache_path} for {missing}: build the book first")
    rows = [(p.stem, latest[p.stem][1]) for p in paths]
    return rows, max(latest[p.stem][0] for p in paths)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--from-cache", type=Path, default=None, help="a Jupyter Book cache")
    parser.add_argument("--json", type=Path, default=None, help="also write a JSON record here")
    parser.add_argument(
        "--commit", default=None, help="with --from-cache: the commit that build ran"
    )
    parser.add_argument(
        "--max-chapter", type=float, default=None, help="fail if a chapter took longer (seconds)"
    )
    parser.add_argument(
        "--max-total", type=float, default=None, help="fail if all chapters took longer (seconds)"
    )
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("AEUTILS_SIZE", "book")
    os.environ.setdefault("AEUTILS_PROGRESS", "0")
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.from_cache is not None:
        rows, built = cached_times(args.from_cache, paths)
        when = built.date().isoformat()
    else:
        when = datetime.date.today().isoformat()
        rows = []
        for path in paths:
            rows.append((path.stem, run(path)))
            print(f"{path.stem}: {rows[-1][1]:.0f} s", flush=True)
    total = sum(seconds for _, seconds in rows)
    size = os.environ["AEUTILS_SIZE"]
    how = "Jupyter Book's build (cold cache)" if args.from_cache else "`scripts/time_book.py`"
    lines = [
        f"Measured by {how} on {when}, size `{size}`, {device()}:",
        "",
        "| chapter | seconds |",
        "| --- | ---: |",
        *[f"| `{name}` | {seconds:.0f} |" for name, seconds in rows],
        f"| **all chapters** | **{total:.0f}** ({total / 60:.1f} min) |",
    ]
    table = "\n".join(lines)
    print(table)
    (ROOT / "_build").mkdir(exist_ok=True)
    (ROOT / "_build" / "timings.json").write_text(
        json.dumps({"date": when, "device": device(), "seconds": dict(rows)}, indent=2)
    )
    if args.json is not None:
        record = {
            "benchmark": "book_time",
            "source": "Jupyter Book build, cold cache" if args.from_cache else "time_book.py",
            "size": size,
            "date": when,  # when the chapters ran (a cache's build date), not when written
            "seconds": dict(rows),
            "total_seconds": total,
            **provenance(pick_device()),
        }
        if args.from_cache:  # a cache does not record which commit it executed: say it, or None
            record["git_commit"], record["git_dirty"] = args.commit, None
        print(f"wrote {write_record(args.json, record)}")
    if args.update_readme:
        readme = ROOT / "README.md"
        text = readme.read_text()
        if START not in text or END not in text:
            print(f"README.md has no {START} ... {END} block")
            return 1
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
        readme.write_text(pattern.sub(lambda _: f"{START}\n{table}\n{END}", text))
    over = []
    if args.max_chapter is not None:
        over += [f"{n} took {t:.0f} s" for n, t in rows if t > args.max_chapter]
        over = [f"{o} (budget {args.max_chapter:.0f} s per chapter)" for o in over]
    if args.max_total is not None and total > args.max_total:
        over.append(f"all chapters took {total:.0f} s (budget {args.max_total:.0f} s)")
    if over:
        print("over the time budget: " + "; ".join(over), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

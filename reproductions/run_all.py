"""Run every reproduction script in sequence; exit 1 if any of them fails.

    python reproductions/run_all.py --quick                # CI: every code path, in seconds
    python reproductions/run_all.py --quick --device cpu   # extra options go to every script
    python reproductions/run_all.py                        # full budgets (a GPU: see README.md)

The scripts run in this one Python process (``runpy``), so torch and scikit-learn are imported
once. Each one writes its JSON (quick runs under ``_build/reproductions/``); after each run the
JSON is read back and checked for the keys ``book/results.ipynb`` needs
(``common.check_result``). Run it as a script: Python then puts ``reproductions/`` first on the
module path, which is how this file and every script find ``common.py``.
"""

from __future__ import annotations

import argparse
import runpy
import sys
import time
import traceback
from pathlib import Path

from common import check_result, default_out

HERE = Path(__file__).resolve().parent
SCRIPTS = (
    "hinton2006",
    "rifai2011",
    "ruff2018",
    "denoising_sigma50",
    "hashing_retrieval",
    "sharkey2022",
    "burda2016",
)


def run_one(name: str, extra: list[str], quick: bool) -> float:
    """Run ``reproductions/<name>.py`` in this process; return its wall time in seconds."""
    argv = [str(HERE / f"{name}.py"), *(["--quick"] if quick else []), *extra]
    saved = sys.argv
    sys.argv = argv
    start = time.perf_counter()
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as stop:  # argparse errors and explicit exits
        if stop.code not in (0, None):
            raise RuntimeError(f"{name} exited with status {stop.code}") from stop
    finally:
        sys.argv = saved
    seconds = time.perf_counter() - start
    if "--out" not in extra:
        check_result(default_out(name, quick), name, quick)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="quick mode for every script")
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, default=list(SCRIPTS))
    args, extra = parser.parse_known_args()
    if "--out" in extra:
        parser.error("--out would make every script write the same file; leave it out")
    start = time.perf_counter()
    times, failed = {}, []
    for name in args.only:
        print(f"==> {name}{' --quick' if args.quick else ''} {' '.join(extra)}", flush=True)
        try:
            times[name] = run_one(name, extra, args.quick)
        except Exception:  # report every failure, then fail at the end
            traceback.print_exc()
            failed.append(name)
    print("\n".join(f"{name:20s} {seconds:7.1f} s" for name, seconds in times.items()))
    print(f"total {time.perf_counter() - start:.1f} s")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

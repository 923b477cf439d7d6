"""Run every reproduction script in sequence; exit 1 if any of them fails.

    python reproductions/run_all.py --quick                # CI: every code path, in seconds
    python reproductions/run_all.py --quick --device cpu   # extra options go to every script
    python reproductions/run_all.py                        # full budgets (a GPU: see README.md)

The scripts run in this one Python process (``runpy``), so torch and scikit-learn are imported
once. Each one writes its JSON (quick runs under ``_build/reproductions/``); after each run the
JSON is read back and checked for the keys ``book/results.ipynb`` needs.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the scripts import common.py from this folder
    sys.path.insert(0, str(HERE))

from common import default_out  # noqa: E402

SCRIPTS = ("hinton2006", "rifai2011", "ruff2018", "denoising_sigma50", "hashing_retrieval")
REQUIRED_KEYS = (
    "protocol",
    "quick",
    "rows",
    "metrics",
    "target",
    "seeds",
    "device_name",
    "versions",
    "date_utc",
    "command",
    "wall_seconds",
)


def check_result(path: Path, name: str, quick: bool) -> None:
    """Raise ``ValueError`` unless ``path`` holds a result of ``name`` with every required key."""
    result = json.loads(path.read_text())
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    if result["protocol"] != name or result["quick"] is not quick:
        raise ValueError(f"{path}: protocol {result['protocol']!r}, quick {result['quick']!r}")
    if not result["rows"] or not isinstance(result["target"].get("met"), bool):
        raise ValueError(f"{path}: no rows, or target.met is not a bool")


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

"""Keep the chapter notebooks consistent with _config.yml, and check them for CI.

    python scripts/notebooks.py sync    # write the Colab badge and setup cell into every notebook
    python scripts/notebooks.py check   # fail if a notebook has outputs or is out of sync

Chapters are ``notebooks/NN_*.ipynb``; notebook pages in ``book/`` (such as the results page)
are only checked for stripped outputs.

The repository URL lives in one place, ``_config.yml`` (``repository.url``); this script
derives each notebook's Colab link and the ``pip install`` line of its setup cell from it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BADGE_IMAGE = "../book/_static/colab-badge.svg"
BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
TITLE_RE = re.compile(r"(\([\w-]+\)=\n)?# \S")
SETUP_MARK = "# Setup: in Colab, install aeutils"
REQUIRED_HEADINGS = ("Goals", "Summary", "Exercises")


def repository() -> tuple[str, str]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def badge(path: Path) -> str:
    url, branch = repository()
    slug = url.removeprefix("https://github.com/")
    link = f"https://colab.research.google.com/github/{slug}/blob/{branch}/notebooks/{path.name}"
    return f"[![Open In Colab]({BADGE_IMAGE})]({link})"


def setup_source() -> str:
    url, _ = repository()
    return (
        f"{SETUP_MARK} from the book's repository (elsewhere it is already installed).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "aeutils @ git+{url}"'
    )  # no final newline: ruff format strips it from notebook cells


def source(cell: dict) -> str:
    return "".join(cell.get("source", ""))


def problems(path: Path, fix: bool) -> list[str]:
    nb = json.loads(path.read_text())
    found = []
    cells = nb["cells"]
    if not cells or cells[0]["cell_type"] != "markdown" or not TITLE_RE.match(source(cells[0])):
        found.append("the first cell must be markdown: an optional '(label)=' line, then '# Title'")
        return found
    first = source(cells[0])
    if not BADGE_RE.search(first):
        found.append("the first cell has no Colab badge")
    elif BADGE_RE.search(first).group(0) != badge(path):
        if fix:
            cells[0]["source"] = BADGE_RE.sub(lambda _: badge(path), first)
        else:
            found.append(
                "the Colab badge does not match _config.yml (run: scripts/notebooks.py sync)"
            )
    setup = [c for c in cells if c["cell_type"] == "code" and source(c).startswith(SETUP_MARK)]
    if not setup:
        found.append(f"no setup cell (a code cell starting with {SETUP_MARK!r})")
    elif source(setup[0]) != setup_source():
        if fix:
            setup[0]["source"] = setup_source()
        else:
            found.append(
                "the setup cell does not match _config.yml (run: scripts/notebooks.py sync)"
            )
    text = "\n".join(source(c) for c in cells if c["cell_type"] == "markdown")
    for heading in REQUIRED_HEADINGS:
        if not re.search(rf"^#+\s*{heading}\b", text, re.M):
            found.append(f"no '{heading}' section")
    found += output_problems(cells, fix)
    if fix:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return found


def output_problems(cells: list[dict], fix: bool) -> list[str]:
    """Outputs and execution counts left in code cells (removed when ``fix``)."""
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
            if fix:
                cell["outputs"], cell["execution_count"] = [], None
            else:
                found.append(f"cell {i} has outputs or an execution count (strip them)")
    return found


def page_problems(path: Path, fix: bool) -> list[str]:
    """A notebook page of book/ (not a chapter: no badge, setup cell or required sections)."""
    nb = json.loads(path.read_text())
    found = output_problems(nb["cells"], fix)
    if fix:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sync", "check"])
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args()
    paths = args.paths or [
        *sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")),
        *sorted((ROOT / "book").glob("*.ipynb")),
    ]
    failed = False
    for path in paths:
        check = page_problems if path.resolve().parent == ROOT / "book" else problems
        for problem in check(path, fix=args.command == "sync"):
            print(f"{path.relative_to(ROOT) if path.is_absolute() else path}: {problem}")
            failed = True
    print(f"{len(paths)} notebooks {'synced' if args.command == 'sync' else 'checked'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

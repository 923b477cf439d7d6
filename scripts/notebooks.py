"""Keep the chapter notebooks consistent with _config.yml, and check them for CI.

    python scripts/notebooks.py sync    # write the Colab badge and setup cell into every notebook
    python scripts/notebooks.py check   # fail if a notebook has outputs or is out of sync
    python scripts/notebooks.py sync --repository https://github.com/OWNER/NAME   # a fork

Chapters are ``notebooks/NN_*.ipynb``; notebook pages in ``book/`` (such as the results page)
are only checked for stripped outputs.

The repository URL lives in one place, ``_config.yml`` (``repository.url``); this script
derives each notebook's Colab link and the ``pip install`` line of its setup cell from it.
``sync --repository URL`` first writes URL there (a workflow in a fork publishes its own book).
The Colab badges open the reader notebooks (``scripts/reader_notebooks.py``) on the branch
``repository.reader_branch``; the published site is ``html.baseurl`` when set, else the
repository's GitHub Pages address.
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
SETUP_MARK = "# Setup: install aeutils"
REQUIRED_HEADINGS = ("Goals", "Summary", "Exercises")
# Glue keys name their chapter: ch<N>_<what> for values (ch<N>_ex<M>_<what> in the solution of
# exercise M), fig_ch<N>_<what> for figures. A key built by an f-string is checked up to its
# first placeholder.
GLUE_CALL_RE = re.compile(r"""\bglue\(\s*(f?)["']([^"']+)["']""")
GLUE_ROLE_RE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)")


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def repository() -> tuple[str, str]:
    """The repository URL and its default branch, from _config.yml."""
    repo = config()["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def reader_branch() -> str:
    """The branch that holds the reader notebooks, where the Colab badges point."""
    return config()["repository"].get("reader_branch", "reader")


def site_url() -> str:
    """The published book: ``html.baseurl``, else GitHub Pages of the repository."""
    base = (config().get("html") or {}).get("baseurl", "")
    if base:
        return base.rstrip("/") + "/"
    owner, name = repository()[0].removeprefix("https://github.com/").split("/")[:2]
    return f"https://{owner.lower()}.github.io/{name}/"


def set_repository(url: str) -> None:
    """Write ``url`` as ``repository.url`` in _config.yml, keeping the rest of the file."""
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url.rstrip("/")):
        raise SystemExit(f"--repository must be https://github.com/OWNER/NAME, got {url!r}")
    path = ROOT / "_config.yml"
    text, count = re.subn(
        r"(?m)^(repository:\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*)\S+",
        lambda m: m[1] + url.rstrip("/"),
        path.read_text(),
    )
    if count != 1:
        raise SystemExit("could not find repository.url in _config.yml")
    path.write_text(text)


def badge(path: Path) -> str:
    url, _ = repository()
    slug = url.removeprefix("https://github.com/")
    link = (
        f"https://colab.research.google.com/github/{slug}/blob/{reader_branch()}"
        f"/notebooks/{path.name}"
    )
    return f"[![Open In Colab]({BADGE_IMAGE})]({link})"


def setup_source(commit: str | None = None) -> str:
    """The setup cell: install aeutils in Colab, or wherever it is missing.

    The source notebooks install the default branch; a reader notebook passes the commit
    the book was built from, so its code matches its outputs. Colab's own torch is kept:
    pip leaves an installed torch alone when it satisfies aeutils' lower bound.
    """
    url, branch = repository()
    return (
        f"{SETUP_MARK} where it is missing (in Colab, always).\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        f'AEUTILS = "aeutils @ git+{url}@{commit or branch}"\n'
        'if "google.colab" in sys.modules or importlib.util.find_spec("aeutils") is None:\n'
        '    print(f"Installing {AEUTILS} (an installed torch is kept) ...")\n'
        '    pip = [sys.executable, "-m", "pip", "install", "--quiet", AEUTILS]\n'
        "    done = subprocess.run(pip, capture_output=True, text=True)\n"
        "    if done.returncode != 0:\n"
        '        raise RuntimeError(f"pip could not install aeutils:\\n{done.stderr[-3000:]}")\n'
        "    importlib.invalidate_caches()"
    )  # no final newline: ruff format strips it from notebook cells


ADDRESS_PAGES = ("README.md", "book/preface.md")  # they tell readers where the book lives


def addresses() -> list[tuple[re.Pattern, str]]:
    """The published addresses that README and preface give, each derived from _config.yml."""
    url, _ = repository()
    return [
        (re.compile(r"https://[\w-]+\.github\.io/[\w.-]+/"), site_url()),
        (
            re.compile(r"https://github\.com/[\w.-]+/[\w.-]+/tree/[\w.-]+/notebooks"),
            f"{url}/tree/{reader_branch()}/notebooks",
        ),
        (re.compile(r'git\+https://github\.com/[\w.-]+/[\w.-]+(?=")'), f"git+{url}"),
    ]


def address_problems(path: Path, fix: bool) -> list[str]:
    text = path.read_text()
    new = text
    for pattern, address in addresses():
        new = pattern.sub(address, new)
    if new == text:
        return []
    if fix:
        path.write_text(new)
        return []
    return ["an address does not match _config.yml (run: scripts/notebooks.py sync)"]


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
            cells[0]["source"] = BADGE_RE.sub(lambda _: badge(path), first).splitlines(True)
        else:
            found.append(
                "the Colab badge does not match _config.yml (run: scripts/notebooks.py sync)"
            )
    setup = [c for c in cells if c["cell_type"] == "code" and source(c).startswith("# Setup:")]
    if not setup:
        found.append(f"no setup cell (a code cell starting with {SETUP_MARK!r})")
    elif source(setup[0]) != setup_source():
        if fix:
            setup[0]["source"] = setup_source().splitlines(True)
        else:
            found.append(
                "the setup cell does not match _config.yml (run: scripts/notebooks.py sync)"
            )
    text = "\n".join(source(c) for c in cells if c["cell_type"] == "markdown")
    for heading in REQUIRED_HEADINGS:
        if not re.search(rf"^#+\s*{heading}\b", text, re.M):
            found.append(f"no '{heading}' section")
    found += output_problems(cells, fix)
    found += glue_problems(path, cells)
    if fix:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return found


def glue_problems(path: Path, cells: list[dict]) -> list[str]:
    """Glue keys, stored or referenced, that do not follow the pattern of their chapter."""
    number = re.match(r"(\d+)_", path.name)
    if number is None:
        return []
    key_re = re.compile(rf"(fig_)?ch{int(number.group(1))}_[a-z0-9_]+")
    prefix_re = re.compile(rf"((fig_)?ch{int(number.group(1))}_[a-z0-9_]*)?")  # before a {
    bad = set()
    for cell in cells:
        if cell["cell_type"] == "code":
            for is_f, key in GLUE_CALL_RE.findall(source(cell)):
                ok = prefix_re.fullmatch(key.split("{")[0]) if is_f else key_re.fullmatch(key)
                if not ok:
                    bad.add(key)
        else:
            bad.update(k for k in GLUE_ROLE_RE.findall(source(cell)) if not key_re.fullmatch(k))
    return [f"glue key {k!r} does not follow {key_re.pattern}" for k in sorted(bad)]


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
    parser.add_argument(
        "--repository", help="with sync: first write this URL as repository.url in _config.yml"
    )
    args = parser.parse_args()
    if args.repository:
        if args.command != "sync":
            parser.error("--repository goes with sync")
        set_repository(args.repository)
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
    if not args.paths:
        for page in ADDRESS_PAGES:
            for problem in address_problems(ROOT / page, fix=args.command == "sync"):
                print(f"{page}: {problem}")
                failed = True
    print(f"{len(paths)} notebooks {'synced' if args.command == 'sync' else 'checked'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Write the reader notebooks: each chapter as Colab, JupyterLab and GitHub show it.

    python scripts/reader_notebooks.py export --cache _build/.jupyter_cache --out _build/reader
    python scripts/reader_notebooks.py check _build/reader/notebooks   # what CI asserts

A chapter's source notebook is written in MyST for Jupyter Book: ``{glue:text}`` roles,
``{cite:p}`` citations, ``(label)=`` targets, ``{glue:figure}`` and ``:::{admonition}``
blocks. Opened elsewhere those show as raw markup. ``export`` takes each chapter *as executed
by the book's last build* (from Jupyter Book's cache, so no chapter runs twice) and writes
``<out>/notebooks/NN_name.ipynb`` with:

- the outputs kept (figures, tables, printed results), minus the hidden glue records and the
  stderr streams (progress bars) that the book removes too;
- every glue role replaced by its value, formatted as the book formats it (myst-nb's own
  ``format_plain_text``); every glued figure placed where the prose puts it, as a cell
  attachment with its alt text, number and caption;
- the MyST turned into CommonMark and HTML: admonitions as block quotes, dropdowns and
  solutions as collapsed ``<details>``, citations as "(Author, Year)" linking to the
  published bibliography, cross-references as links to the published pages, the Colab badge
  image as an absolute URL;
- a first cell that names the commit and size the outputs come from, and a setup cell that
  installs ``aeutils`` pinned to that commit (in Colab, or wherever it is missing).

Why a converter of our own: jupytext converts between notebook formats but keeps MyST as it
is; mystmd's ipynb export (``markdown: commonmark``) works on a mystmd project that mystmd
executes, and does not read Jupyter Book 1's cache or resolve its glue roles. The parsing here
is line based and covers the MyST this book uses; anything else fails the export loudly.
``check`` asserts what the issue asks of every exported notebook (no MyST left, every glued
value and figure present, every solution collapsed).
"""

from __future__ import annotations

import argparse
import codecs
import copy
import datetime
import re
import subprocess
import sys
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

import latexcodec  # noqa: F401  (registers the "ulatex" codec that bibliography names need)
import nbformat
import yaml
from myst_nb.core.variables import format_plain_text
from pybtex.database import parse_file

from notebooks import ROOT, reader_branch, repository, setup_source, site_url

GLUE_PREFIX = "application/papermill.record/"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
ROLE_RE = re.compile(r"\{(?P<role>[a-z][\w:-]*)\}`(?P<content>[^`]+)`")
TARGET_RE = re.compile(r"^\s*\((?P<label>[\w.:-]+)\)=\s*$")
FENCE_RE = re.compile(r"^(?P<indent>\s*)(?P<marker>`{3,}|:{3,})\s*(?P<info>.*?)\s*$")
DIRECTIVE_RE = re.compile(r"^\{(?P<name>[\w:-]+)\}\s*(?P<argument>.*)$")
OPTION_RE = re.compile(r"^\s*:(?P<key>[\w-]+):\s*(?P<value>.*)$")
ADMONITIONS = {
    "admonition", "note", "tip", "hint", "important", "warning", "caution", "attention",
    "danger", "error", "seealso", "dropdown",
}  # fmt: skip
# What no markdown cell of a reader notebook may still hold (check).
MYST_LEFT = [
    (re.compile(r"\{[a-z][\w:-]*\}`"), "a MyST role"),
    (re.compile(r"^\s*(`{3,}|:{3,})\s*\{", re.M), "a MyST directive"),
    (re.compile(r"^\s*:{3,}", re.M), "a colon fence"),
    (re.compile(r"^\s*\([\w.:-]+\)=\s*$", re.M), "a (label)= target"),
    (re.compile(r"^\s*:(alt|name|class|label):", re.M), "a directive option"),
]


class ExportError(ValueError):
    """Markup the converter does not know, or a glue key the build did not store."""


# ---------------------------------------------------------------------------------------
# The book: pages in table-of-contents order, labels, figure numbers, bibliography.


_STRAIGHT_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def toc_documents() -> list[str]:
    """Document paths relative to the root, without suffix, in _toc.yml order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    docs = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries or []:
            if "file" in entry:
                docs.append(str(Path(entry["file"]).with_suffix("")))
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return docs


def markdown_of(doc: str) -> list[str]:
    """The markdown text of a page: each markdown cell of a notebook, or the whole .md file."""
    path = ROOT / f"{doc}.ipynb"
    if path.exists():
        nb = nbformat.read(path, as_version=4)
        return [c.source for c in nb.cells if c.cell_type == "markdown"]
    return [(ROOT / f"{doc}.md").read_text()]


@dataclass
class Book:
    """What cross-references, figure numbers and citations need to know about the book."""

    site: str  # the published site's URL, ending in "/"
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (doc, title)
    figures: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (doc, number)
    citations: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (names, year)

    @classmethod
    def load(cls, site: str) -> Book:
        book = cls(site=site.rstrip("/") + "/")
        number = 0  # Sphinx numbers figures through the whole book, in toc order
        for doc in toc_documents():
            for text in markdown_of(doc):
                lines = text.splitlines()
                for i, line in enumerate(lines):
                    target = TARGET_RE.match(line)
                    if target:
                        following = next((x for x in lines[i + 1 :] if x.strip()), "")
                        title = re.sub(r"^#+\s*", "", following).strip()
                        book.labels[target["label"]] = (doc, title)
                    fence = FENCE_RE.match(line)
                    if fence and re.match(r"\{(glue:)?figure\}", fence["info"]):
                        number += 1
                        for option in lines[i + 1 :]:
                            found = OPTION_RE.match(option)
                            if not found:
                                break
                            if found["key"] == "name":
                                book.figures[found["value"].strip()] = (doc, number)
        book.citations = read_bibliography(ROOT / "references.bib")
        return book

    def url(self, doc: str, anchor: str = "") -> str:
        return f"{self.site}{doc}.html" + (f"#{anchor}" if anchor else "")


def latex_to_text(text: str) -> str:
    return codecs.decode(text, "ulatex").replace("{", "").replace("}", "")


def read_bibliography(path: Path) -> dict[str, tuple[str, str]]:
    """key -> (author names as the book's author-year style cites them, year)."""
    entries = parse_file(str(path)).entries
    cited = {}
    for key, entry in entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [latex_to_text(" ".join(p.prelast_names + p.last_names)) for p in people]
        if not last:
            names = latex_to_text(entry.fields.get("title", key))
        elif len(last) == 1:
            names = last[0]
        elif len(last) == 2:
            names = f"{last[0]} and {last[1]}"
        else:
            names = f"{last[0]} et al."
        cited[key] = (names, entry.fields.get("year", "n.d."))
    return cited


# ---------------------------------------------------------------------------------------
# Glue: the values and figures a chapter stored, read from its executed notebook.


def glued(nb: nbformat.NotebookNode) -> dict[str, dict]:
    """name -> mime bundle (prefix stripped) of every value the notebook glued."""
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record:
                prefix = record.get("mime_prefix", "")
                values[record["name"]] = {
                    k.removeprefix(prefix): v for k, v in output.get("data", {}).items()
                }
    return values


def is_glue_record(output: dict) -> bool:
    return "scrapbook" in output.get("metadata", {})


# ---------------------------------------------------------------------------------------
# Markdown: roles inline, directives and targets block by block.


@dataclass
class Converter:
    """Turns one chapter's MyST markdown into CommonMark and HTML."""

    book: Book
    glue: dict[str, dict]
    used_glue: set[str] = field(default_factory=set)
    attachments: dict[str, dict] = field(default_factory=dict)  # filled per cell

    def roles(self, text: str) -> str:
        return ROLE_RE.sub(lambda m: self.role(m["role"], m["content"]), text)

    def role(self, role: str, content: str) -> str:
        if role in ("glue:text", "glue", "glue:"):
            key, _, spec = content.rpartition(":") if role == "glue:text" else (content, "", "")
            key, spec = (key, spec) if key else (content, "s")
            if key not in self.glue or "text/plain" not in self.glue[key]:
                raise ExportError(f"no glued text value {key!r} in the executed notebook")
            self.used_glue.add(key)
            return format_plain_text(self.glue[key]["text/plain"], spec or "s")
        if role in ("cite:p", "cite", "cite:t"):
            keys = [k.strip() for k in content.split(",")]
            missing = [k for k in keys if k not in self.book.citations]
            if missing:
                raise ExportError(f"citation keys not in references.bib: {missing}")
            link = self.book.url("book/bibliography")
            if role == "cite:t":
                return "; ".join(
                    f"[{self.book.citations[k][0]} ({self.book.citations[k][1]})]({link})"
                    for k in keys
                )
            cites = [f"[{', '.join(self.book.citations[k])}]({link})" for k in keys]
            return "(" + "; ".join(cites) + ")"
        if role in ("ref", "numref", "doc"):
            return self.reference(role, content)
        if role.startswith("py:"):
            target = content.lstrip("~")
            shown = target.rsplit(".", 1)[-1] if content.startswith("~") else target
            return f"[`{shown}`]({self.book.url('book/api', target)})"
        if role == "math":
            return f"${content}$"
        raise ExportError(f"unknown MyST role {{{role}}}`{content}`")

    def reference(self, role: str, content: str) -> str:
        explicit = re.match(r"^(?P<text>.*?)\s*<(?P<target>[^>]+)>$", content, re.S)
        text, target = (explicit["text"], explicit["target"]) if explicit else (None, content)
        if role == "doc":
            doc = target.removesuffix(".md").removesuffix(".ipynb").lstrip("/")
            return f"[{text or doc}]({self.book.url(doc)})"
        if target in self.book.figures:
            doc, number = self.book.figures[target]
            shown = (text or "Fig. %s").replace("%s", str(number))
            if role == "ref" and not text:
                shown = f"Fig. {number}"
            return f"[{shown}]({self.book.url(doc, target)})"
        if target not in self.book.labels:
            raise ExportError(f"unknown cross-reference target {target!r}")
        doc, title = self.book.labels[target]
        anchor = "" if self.is_page_title(doc, target) else target
        return f"[{self.roles(text or title)}]({self.book.url(doc, anchor)})"

    def is_page_title(self, doc: str, label: str) -> bool:
        """A label on a page's title: link to the page itself."""
        first = markdown_of(doc)[0].lstrip().splitlines()
        return bool(first) and first[0].strip() == f"({label})="

    def markdown(self, text: str) -> str:
        self.attachments = {}
        return "\n".join(self.blocks(text.splitlines())).strip("\n")

    def blocks(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            if TARGET_RE.match(line):
                i += 1
                continue
            fence = FENCE_RE.match(line)
            if not fence:
                out.append(self.roles(line))
                i += 1
                continue
            end = closing_line(lines, i, fence["marker"])
            body = lines[i + 1 : end]
            directive = DIRECTIVE_RE.match(fence["info"])
            if directive is None:  # a plain code block: copied as it is
                out += lines[i : end + 1]
            else:
                out += self.directive(directive["name"], directive["argument"], body, fence)
            i = end + 1
        return out

    def directive(self, name: str, argument: str, body: list[str], fence: re.Match) -> list[str]:
        indent = fence["indent"]
        options, rest = split_options(body)
        rest = dedent(rest, indent)
        while rest and not rest[0].strip():  # the blank line that ends the options
            rest = rest[1:]
        if name == "glue:figure":
            return indented(self.figure(argument.strip(), options, rest), indent)
        if name in ADMONITIONS:
            title = argument.strip() or name.capitalize()
            inner = self.blocks(rest)
            collapsed = (
                name == "dropdown"
                or "dropdown" in options.get("class", "").split()
                or title.lower().startswith("solution")
            )
            if collapsed:
                html = [f"<details><summary><b>{self.roles(title)}</b></summary>", ""]
                return indented([*html, *inner, "", "</details>"], indent)
            quote = [f"**{self.roles(title)}**", "", *inner]
            return indented([f"> {x}".rstrip() for x in quote], indent)
        if name == "math":
            return indented(["$$", *rest, "$$"], indent)
        raise ExportError(f"unknown MyST directive {{{name}}}")

    def figure(self, name: str, options: dict[str, str], caption: list[str]) -> list[str]:
        bundle = self.glue.get(name, {})
        if "image/png" not in bundle:
            raise ExportError(f"no glued figure {name!r} (image/png) in the executed notebook")
        self.used_glue.add(name)
        filename = f"{name}.png"
        self.attachments[filename] = {"image/png": bundle["image/png"]}
        alt = options.get("alt", name).replace("[", "(").replace("]", ")")
        number = self.book.figures.get(options.get("name", ""), (None, None))[1]
        label = f"*Fig. {number}.* " if number else ""
        anchor = [f'<a id="{options["name"]}"></a>', ""] if "name" in options else []
        text = self.blocks(caption)
        return [*anchor, f"![{alt}](attachment:{filename})", "", label + "\n".join(text).strip()]


def closing_line(lines: list[str], start: int, marker: str) -> int:
    """Index of the line that closes the fence opened at ``start``."""
    char, size = marker[0], len(marker)
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped and set(stripped) == {char} and len(stripped) >= size:
            return j
    raise ExportError(f"unclosed fence {lines[start].strip()!r}")


def split_options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    for i, line in enumerate(body):
        found = OPTION_RE.match(line)
        if not found:
            return options, body[i:]
        options[found["key"]] = found["value"].strip()
    return options, []


def dedent(lines: list[str], indent: str) -> list[str]:
    return [x[len(indent) :] if x.startswith(indent) else x.lstrip() for x in lines]


def indented(lines: list[str], indent: str) -> list[str]:
    return [indent + x if x else x for x in lines]


# ---------------------------------------------------------------------------------------
# One chapter.


@dataclass(frozen=True)
class Provenance:
    commit: str
    dirty: bool
    size: str
    date: str

    def sentence(self) -> str:
        state = " with uncommitted changes" if self.dirty else ""
        return f"commit `{self.commit[:12]}`{state}, size `{self.size}`, built on {self.date}"


def provenance_cell(book: Book, path: Path, prov: Provenance) -> nbformat.NotebookNode:
    url, _ = repository()
    text = (
        f"> **Reader copy of this chapter.** The outputs below come from the book's build of\n"
        f"> {prov.sentence()} ([source]({url}/tree/{prov.commit})). "
        f"The prose and figures quote that run; run the cells to reproduce it (the setup\n"
        f"> cell installs the library at that commit). The same chapter, rendered: "
        f"[{path.stem}]({book.url(f'notebooks/{path.stem}')})."
    )
    return nbformat.v4.new_markdown_cell(text)


def reader_notebook(
    source: Path, executed: nbformat.NotebookNode, book: Book, prov: Provenance
) -> tuple[nbformat.NotebookNode, set[str]]:
    """The reader copy of one chapter, and the glue names it quotes."""
    nb = copy.deepcopy(executed)
    converter = Converter(book=book, glue=glued(executed))
    url, _ = repository()
    branch = reader_branch()
    slug = url.removeprefix("https://github.com/")
    colab = f"https://colab.research.google.com/github/{slug}/blob/{branch}/notebooks/{source.name}"
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = re.sub(
                r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)",
                f"[![Open In Colab]({BADGE_IMAGE})]({colab})",
                cell.source,
            )
            cell.source = converter.markdown(text)
            if converter.attachments:
                cell["attachments"] = {
                    name: {mime: data for mime, data in bundle.items()}
                    for name, bundle in converter.attachments.items()
                }
        elif cell.cell_type == "code":
            if cell.source.startswith("# Setup:"):
                cell.source = setup_source(commit=prov.commit)
                cell.outputs = []
            cell.outputs = [
                o
                for o in cell.get("outputs", [])
                if not is_glue_record(o) and not (o.get("name") == "stderr")
            ]
        cells.append(cell)
    nb.cells = [provenance_cell(book, source, prov), *cells]
    nb.metadata["aeutils_reader"] = {
        "commit": prov.commit,
        "dirty": prov.dirty,
        "size": prov.size,
        "built": prov.date,
        "glued": sorted(converter.glue),
    }
    nb.metadata.pop("mystnb", None)
    return nb, converter.used_glue


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def executed_notebooks(cache_path: Path, paths: list[Path]) -> dict[Path, nbformat.NotebookNode]:
    """Each chapter merged with its outputs from Jupyter Book's cache (the last build)."""
    from jupyter_cache import get_cache

    if not (cache_path / "global.db").exists():
        raise SystemExit(f"no Jupyter Book cache at {cache_path}: build the book first")
    cache = get_cache(str(cache_path))
    executed = {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        try:
            _, merged = cache.merge_match_into_notebook(nb)
        except KeyError:
            raise SystemExit(
                f"{path.name} is not in the cache at {cache_path} as it is now (edited since "
                "the build?): build the book again"
            ) from None
        executed[path] = merged
    return executed


def chapters() -> list[Path]:
    return [ROOT / f"{d}.ipynb" for d in toc_documents() if d.startswith("notebooks/")]


def export(cache_path: Path, out: Path, size: str) -> int:
    book = Book.load(site_url())
    prov = Provenance(
        commit=git("rev-parse", "HEAD"),
        dirty=bool(git("status", "--porcelain", "--untracked-files=no")),
        size=size,
        date=datetime.date.today().isoformat(),
    )
    folder = out / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    for path, executed in executed_notebooks(cache_path, chapters()).items():
        nb, _ = reader_notebook(path, executed, book, prov)
        nbformat.write(nb, folder / path.name)
        print(f"wrote {folder / path.name}")
    return 0


# ---------------------------------------------------------------------------------------
# What CI asserts of the exported notebooks.


def problems(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    found = []
    meta = nb.metadata.get("aeutils_reader")
    if not meta:
        return [f"{path.name}: no aeutils_reader metadata (not an exported reader notebook)"]
    first = nb.cells[0].source if nb.cells else ""
    if meta["commit"][:12] not in first or meta["size"] not in first:
        found.append(f"{path.name}: the first cell does not name the commit and size")
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        without_code = re.sub(r"```.*?```|(?<!\})`[^`\n]*`", "", cell.source, flags=re.S)
        for pattern, what in MYST_LEFT:
            hit = pattern.search(without_code)
            if hit:
                found.append(f"{path.name}: markdown cell {i} still holds {what}: {hit[0]!r}")
        for name in cell.get("attachments", {}):
            if f"attachment:{name}" not in cell.source:
                found.append(f"{path.name}: attachment {name} is not placed in its cell")
    text = "\n".join(c.source for c in markdown)
    for image in re.findall(r"!\[[^\]]*\]\(attachment:([^)]+)\)", text):
        if not any(image in c.get("attachments", {}) for c in markdown):
            found.append(f"{path.name}: figure {image} has no attachment")
    solution_re = r"^\s*(<details>)?\s*(?:<summary>)?(?:<b>)?(Solution[^<\n]*)"
    solutions = re.findall(solution_re, text, re.M)
    for collapsed, title in solutions:
        if not collapsed:
            found.append(f"{path.name}: {title.strip()!r} is not collapsed")
    if "<details>" in text and text.count("<details>") != text.count("</details>"):
        found.append(f"{path.name}: unbalanced <details>")
    for output in (o for c in nb.cells if c.cell_type == "code" for o in c.outputs):
        if is_glue_record(output):
            found.append(f"{path.name}: a hidden glue record is left in the outputs")
            break
    setup = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Setup:")]
    if not setup or meta["commit"] not in setup[0].source:
        found.append(f"{path.name}: the setup cell does not install aeutils at the build's commit")
    if BADGE_IMAGE not in text:
        found.append(f"{path.name}: no Colab badge with an absolute image URL")
    return found


def html_problems(path: Path, html: Path) -> list[str]:
    """The reader copy agrees with the rendered page of the same build.

    Every figure has the number the rendered page gives it, and every value the page pastes
    from glue (``<span class="pasted-text">``) appears in the reader copy's prose.
    """
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    page = (html / "notebooks" / f"{path.stem}.html").read_text()
    found = []
    for name, number in re.findall(
        r'<a id="([\w-]+)"></a>\s*!\[[^\]]*\]\([^)]*\)\s*\*Fig\. (\d+)', text
    ):
        shown = re.search(
            rf'<figure[^>]*id="{re.escape(name)}".*?caption-number">Fig\. (\d+)', page, re.S
        )
        if not shown or shown[1] != number:
            found.append(
                f"{path.name}: {name} is Fig. {number}, the page says {shown and shown[1]}"
            )
    words = re.sub(r"\s+", " ", text)
    for value in set(re.findall(r'<span class="pasted-text">([^<]*)</span>', page)):
        # The page escapes HTML (&amp;) and Sphinx turns straight quotes into curly ones.
        value = unescape(value).translate(_STRAIGHT_QUOTES)
        if value.strip() and value.strip() not in words:
            found.append(f"{path.name}: the page's glued value {value!r} is not in the prose")
    return found


def check(folder: Path, sources: list[Path] | None = None, html: Path | None = None) -> int:
    """Check every reader notebook; also that each source's glue keys and figures appear."""
    errors = []
    sources = sources or chapters()
    for source in sources:
        path = folder / source.name
        if not path.exists():
            errors.append(f"{source.name}: no reader notebook in {folder}")
            continue
        errors += problems(path)
        errors += glue_problems(source, nbformat.read(path, as_version=4))
        if html is not None:
            errors += html_problems(path, html)
    for error in errors:
        print(error)
    print(f"{len(sources)} reader notebooks checked, {len(errors)} problems")
    return 1 if errors else 0


def glue_problems(source: Path, reader: nbformat.NotebookNode) -> list[str]:
    """Every {glue:text} value and {glue:figure} of the source appears in the reader copy."""
    src = nbformat.read(source, as_version=4)
    text = "\n".join(c.source for c in src.cells if c.cell_type == "markdown")
    figures = re.findall(r"^\s*`{3,}\{glue:figure\}\s*(\S+)", text, re.M)
    out = "\n".join(c.source for c in reader.cells if c.cell_type == "markdown")
    attached = {n for c in reader.cells for n in c.get("attachments", {})}
    found = [
        f"{source.name}: figure {name} missing from the reader copy"
        for name in figures
        if f"{name}.png" not in attached or f"attachment:{name}.png" not in out
    ]
    roles = ROLE_RE.findall(text)
    if any(role.startswith("glue") for role, _ in roles) and not reader.metadata.get(
        "aeutils_reader", {}
    ).get("glued"):
        found.append(f"{source.name}: the reader copy records no glued values")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write <out>/notebooks/NN_name.ipynb from the cache")
    ex.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    ex.add_argument("--out", type=Path, default=ROOT / "_build" / "reader")
    ex.add_argument("--size", default=None, help="the size the build ran in (AEUTILS_SIZE)")
    ck = sub.add_parser("check", help="assert what CI asks of the reader notebooks")
    ck.add_argument("folder", type=Path)
    ck.add_argument("--html", type=Path, help="the same build's HTML, to compare with")
    args = parser.parse_args()
    if args.command == "export":
        import os

        size = args.size or os.environ.get("AEUTILS_SIZE", "book")
        return export(args.cache, args.out, size)
    return check(args.folder, html=args.html)


if __name__ == "__main__":
    sys.exit(main())

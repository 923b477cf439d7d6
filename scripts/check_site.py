"""Open every page of the built book in headless Chromium and check what a reader sees.

For each page in the table of contents: it loads, its title is the page's heading, every
image has loaded (natural width > 0), math is typeset (MathJax ran and no raw ``$$`` is
left in the text), every internal link points to a file that exists, and nothing is fetched
from outside the build (the book works offline). The cell outputs must read as results:

- no output holds a Python traceback, or a Markdown table left as text (its ``|---|`` row
  showing: the output was not parsed as MyST);
- no output area is a bare number (its whole text is a number such as ``0.4217863917186348``,
  or each of its lines is one), and no cell shows a column of glued values (two or more
  ``name = number`` lines in its text outputs): a glued value belongs in the prose, with
  ``glue(..., display=False)``;
- no cell prints a table as text (three or more lines of its text outputs with three or more
  cells separated by runs of two or more spaces, or by `` | ``): a table is a DataFrame or
  Markdown, rendered as an HTML table;
- no ``<pre>`` (code, text output) or ``<table>`` in the article is wider than its column
  (``scrollWidth > clientWidth + 1``, or its right edge beyond the article's or wider than
  its container), with collapsed dropdowns opened first: nothing is cut off at the right.

One screenshot per page (the top of the page, before dropdowns are opened) goes to
``--screenshots``.

    python scripts/check_site.py _build/html --screenshots _build/screenshots

Uses Debian's ``chromium`` when present (CI installs it), else Playwright's own browser.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import sys
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import yaml
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
# Two cells of a pipe table's separator row left as text: "|---|---|" (Sphinx may turn "---"
# into "—", and a paragraph's innerText has no line breaks, so no anchors).
TABLE_AS_TEXT = re.compile(r"\|\s*:?[-—–]+:?\s*\|\s*:?[-—–]+:?\s*\|")
# A number as Python prints it (0.42, -3, 1e-05, 12,345, 95.2%, nan), bare or wrapped in a
# NumPy or torch repr (np.float64(0.42), tensor(0.42)).
NUMBER = r"[-+]?(?:\d[\d,_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?|[-+]?(?:nan|inf)"
WRAPPER = r"(?:(?:np|numpy)\.(?:float|int|uint|complex)\d*|tensor|array)"
NUMBER_REPR = rf"(?:{NUMBER}|{WRAPPER}\(\s*(?:{NUMBER})\s*(?:,[^()]*)?\))"
BARE_NUMBER_LINE = re.compile(rf"\s*(?:{NUMBER_REPR})\s*", re.IGNORECASE)
LABELLED_NUMBER_LINE = re.compile(rf"\s*[A-Za-z_]\w*\s*=\s*(?:{NUMBER_REPR})\s*", re.IGNORECASE)
# Two cells of a line of text separated by a run of two or more spaces (or a tab).
COLUMN_GAP = re.compile(r"(?<=\S)(?: {2,}|\t)(?=\S)")
# A "|" that separates cells: space (or the line's end) on both sides, unlike "|x|" or "||J||".
CELL_BAR = re.compile(r"(?<!\S)\|(?!\S)")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def bare_number(text: str) -> bool:
    """True when every non-empty line of an output is a number (and there is one)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and all(BARE_NUMBER_LINE.fullmatch(line) for line in lines)


def table_row(line: str) -> bool:
    """A line of three or more cells: two gaps of 2+ spaces, or two ``|`` separators."""
    line = line.strip()
    return len(COLUMN_GAP.findall(line)) >= 2 or len(CELL_BAR.findall(line)) >= 2


def printed_table(text: str) -> bool:
    """True when three or more lines of a text output look like rows of a table."""
    return sum(table_row(line) for line in text.splitlines()) >= 3


def excerpt(text: str, width: int = 60) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= width else first[: width - 1] + "…"


def toc_pages() -> list[str]:
    """Document paths (without suffix) in _toc.yml order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries or []:
            if "file" in entry:
                pages.append(str(Path(entry["file"]).with_suffix("")))
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return pages


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


CHECKS_JS = """() => {
  const article = document.querySelector('main article, article.bd-article, main') || document.body;
  const h1 = article.querySelector('h1');
  const images = [...document.images].map(
    i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}));
  const text = article.innerText;
  const outputs = [...article.querySelectorAll('.cell_output, .output')].map(e => e.innerText);
  const links = [...article.querySelectorAll('a[href]')].map(a => a.href);
  const mathNodes = article.querySelectorAll('.math, mjx-container').length;
  const typeset = article.querySelectorAll('mjx-container').length;
  // For each cell, its output areas (a stream, a text/plain or text/html result...), each
  // with its text and whether it is text (a <pre>) rather than rendered HTML.
  const cells = [...article.querySelectorAll('.cell_output')].map(cell => {
    const parts = cell.querySelectorAll(':scope > .output');
    return [...(parts.length ? parts : [cell])].map(
      e => ({text: e.innerText, pre: e.querySelector('pre') !== null
             && e.querySelector('table, img') === null}));
  });
  return {title: document.title, h1: h1 ? h1.innerText : null, images, text, outputs, links,
          mathNodes, typeset, cells};
}"""

# With every collapsed dropdown opened: each <pre> and <table> of the article column that is
# wider than the room it has (it scrolls, or it sticks out of the column or its container).
WIDTHS_JS = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  const column = document.querySelector('article.bd-article')
    || document.querySelector('main article') || document.querySelector('main') || document.body;
  const right = column.getBoundingClientRect().right;
  const wide = [];
  for (const el of column.querySelectorAll('pre, table')) {
    if (!el.getClientRects().length) continue;  // not displayed
    const box = el.getBoundingClientRect();
    const room = Math.min(el.clientWidth, el.parentElement.clientWidth, right - box.left);
    const width = Math.max(el.scrollWidth, box.width);
    if (el.scrollWidth > el.clientWidth + 1 || box.right > right + 1
        || box.width > el.parentElement.clientWidth + 1) {
      const where = el.closest('.cell_input') ? 'code cell'
        : el.closest('.cell_output') ? 'cell output' : 'text';
      wide.push({tag: el.tagName.toLowerCase(), where, width: Math.round(width),
                 room: Math.round(room), text: el.innerText});
    }
  }
  return wide;
}"""


def check_page(page, base: str, html_root: Path, doc: str, shots: Path | None) -> list[str]:
    url = urljoin(base, f"{doc}.html")
    errors = []
    response = page.goto(url, wait_until="load")
    if response is None or response.status != 200:
        return [f"{doc}: did not load ({response.status if response else 'no response'})"]
    page.wait_for_function(
        "() => !window.MathJax || !MathJax.startup || MathJax.startup.promise === undefined"
        " || document.querySelectorAll('mjx-container').length > 0"
        " || document.querySelectorAll('.math').length === 0",
        timeout=20000,
    )
    page.wait_for_timeout(300)
    info = page.evaluate(CHECKS_JS)
    heading = (info["h1"] or "").replace("#", "").strip()
    if not heading:
        errors.append(f"{doc}: no <h1> heading")
    elif heading.split("\n")[0] not in info["title"]:
        errors.append(f"{doc}: title {info['title']!r} does not contain the heading {heading!r}")
    for image in info["images"]:
        if not image["ok"]:
            errors.append(f"{doc}: image did not load: {image['src']}")
    if "$$" in info["text"]:
        errors.append(f"{doc}: raw '$$' left in the page (math not typeset)")
    if info["mathNodes"] and not info["typeset"]:
        errors.append(f"{doc}: {info['mathNodes']} math nodes but MathJax typeset none")
    for output in info["outputs"]:
        if "Traceback (most recent call last)" in output or "---> " in output:
            errors.append(f"{doc}: a cell output contains a Python traceback")
            break
    for output in info["outputs"]:
        if TABLE_AS_TEXT.search(output):
            errors.append(f"{doc}: a Markdown table in a cell output was not rendered")
            break
    for areas in info["cells"]:
        # Output areas are checked one by one for bare numbers; the text areas of a cell
        # together (a print loop may be split into several areas) for glued values and tables.
        bare = [area["text"] for area in areas if bare_number(area["text"])]
        if bare:
            shown = ", ".join(excerpt(text, 24) for text in bare[:3])
            more = ", …" if len(bare) > 3 else ""
            errors.append(
                f"{doc}: {len(bare)} output area(s) of a cell are bare numbers: {shown}{more}"
            )
        text = "\n".join(area["text"] for area in areas if area["pre"])
        glued = [line for line in text.splitlines() if LABELLED_NUMBER_LINE.fullmatch(line)]
        if len(glued) >= 2:
            errors.append(
                f"{doc}: a cell shows a column of {len(glued)} glued values"
                f" (glue with display=False): {excerpt(glued[0])!r}"
            )
        if printed_table(text):
            rows = [line for line in text.splitlines() if table_row(line)]
            errors.append(f"{doc}: a cell output is a table printed as text: {excerpt(rows[0])!r}")
    for link in info["links"]:
        target, _ = urldefrag(link)
        parsed = urlparse(target)
        if not target.startswith(base) or parsed.path.endswith("/"):
            continue
        path = html_root / parsed.path.lstrip("/")
        if not path.exists():
            errors.append(f"{doc}: broken internal link to {parsed.path}")
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{doc.replace('/', '_')}.png"), full_page=False)
    for box in page.evaluate(WIDTHS_JS):
        errors.append(
            f"{doc}: a <{box['tag']}> in a {box['where']} is {box['width']} px wide in"
            f" {box['room']} px (cut off at the right): {excerpt(box['text'])!r}"
        )
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built HTML folder (…/_build/html)")
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    html_root = args.html.resolve()
    if not (html_root / "index.html").exists():
        print(f"no built book at {html_root} (index.html missing)")
        return 1
    pages = toc_pages()
    server, base = serve(html_root)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        external: list[str] = []

        def offline_only(route, request) -> None:
            # The book must work offline: anything not served from the build is an error.
            if request.url.startswith(base) or request.url.startswith("data:"):
                route.continue_()
            else:
                external.append(request.url)
                route.abort()

        page.route("**/*", offline_only)
        for doc in pages:
            found = check_page(page, base, html_root, doc, args.screenshots)
            found += [f"{doc}: requests an external resource: {url}" for url in external]
            external.clear()
            print(f"{'ok  ' if not found else 'FAIL'} {doc}")
            errors.extend(found)
        browser.close()
    server.shutdown()
    for error in errors:
        print(error)
    print(f"{len(pages)} pages checked, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

"""Render reader notebooks to HTML with nbconvert and look at them in headless Chromium.

    python scripts/render_reader.py _build/reader/notebooks --screenshots _build/reader/screenshots

Each notebook given (default: the first, a middle and the last chapter) is converted with
nbconvert's HTML exporter, as GitHub or a plain Jupyter would show it, with MathJax served from
the local copy that the book uses (CI is offline). In the browser: every image has loaded, the
math is typeset (MathJax produced output and no ``$$`` is left as text), no MyST markup is
visible (roles, directives, colon fences, ``(label)=`` targets), and every solution is inside a
collapsed ``<details>``. One full-page screenshot per notebook goes to ``--screenshots``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat
from check_site import CHROMIUM_FLAGS, serve
from nbconvert import HTMLExporter
from playwright.sync_api import sync_playwright

# MathJax 3 reads its configuration from window.MathJax before it loads; nbconvert's own
# configuration block is written for MathJax 2 and is ignored by it.
MATHJAX_CONFIG = (
    "<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']],"
    " displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true}};</script>"
)
RAW_MYST = re.compile(
    r"\{(glue|cite|ref|numref|py|doc)[\w:-]*\}`|^\s*:::|```\{|^\([\w-]+\)=$", re.M
)
BADGE = "https://colab.research.google.com/assets/"
CHECKS_JS = """() => {
  const images = [...document.images].map(i => ({src: i.src.slice(0, 80),
      ok: i.complete && i.naturalWidth > 0}));
  const text = document.body.innerText;
  const details = [...document.querySelectorAll('details')].map(d => ({
      open: d.open, summary: (d.querySelector('summary') || {}).innerText || ''}));
  return {images, text, details, typeset: document.querySelectorAll('mjx-container').length};
}"""


def mathjax_folder() -> Path:
    # The package's folder is named "sphinx-mathjax-offline": found through its metadata.
    from importlib.metadata import distribution

    dist = distribution("sphinx-mathjax-offline")
    folder = Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))
    if not (folder / "tex-chtml.js").exists():
        raise SystemExit(f"no MathJax at {folder}")
    return folder


def to_html(path: Path, out: Path) -> Path:
    exporter = HTMLExporter(mathjax_url="mathjax/tex-chtml.js")
    body, _ = exporter.from_notebook_node(nbformat.read(path, as_version=4))
    script = '<script src="mathjax/tex-chtml.js">'
    body = body.replace(script, f"{MATHJAX_CONFIG}\n{script}", 1)
    target = out / f"{path.stem}.html"
    target.write_text(body)
    return target


def check(page, url: str, name: str, shots: Path | None) -> list[str]:
    errors = []
    page.goto(url, wait_until="load")
    page.wait_for_function(
        "() => document.querySelectorAll('mjx-container').length > 0", timeout=30000
    )
    page.wait_for_timeout(500)
    info = page.evaluate(CHECKS_JS)
    if not info["images"]:
        errors.append(f"{name}: no images")
    errors += [
        f"{name}: image did not load: {i['src']}"
        for i in info["images"]
        if not i["ok"] and not i["src"].startswith(BADGE)  # the one external image (offline)
    ]
    if "$$" in info["text"]:
        errors.append(f"{name}: raw '$$' left in the page (math not typeset)")
    hit = RAW_MYST.search(info["text"])
    if hit:
        errors.append(f"{name}: raw MyST visible: {hit[0]!r}")
    solutions = [d for d in info["details"] if d["summary"].strip().startswith("Solution")]
    errors += [f"{name}: {d['summary']!r} is open" for d in solutions if d["open"]]
    text_solutions = len(re.findall(r"^Solution\b", info["text"], re.M))
    if text_solutions > len(solutions):
        errors.append(f"{name}: a solution is shown outside a collapsed <details>")
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    print(
        f"{'ok  ' if not errors else 'FAIL'} {name}: {len(info['images'])} images, "
        f"{info['typeset']} typeset formulas, {len(solutions)} collapsed solutions"
    )
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the reader notebooks (…/reader/notebooks)")
    parser.add_argument("names", nargs="*", help="notebook file names (default: three)")
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    paths = sorted(args.folder.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print(f"no reader notebooks in {args.folder}")
        return 1
    if args.names:
        paths = [args.folder / n for n in args.names]
    else:
        paths = sorted({paths[0], paths[len(paths) // 2], paths[-1]})
    site = args.folder.parent / "html"
    site.mkdir(parents=True, exist_ok=True)
    if not (site / "mathjax").exists():
        shutil.copytree(mathjax_folder(), site / "mathjax")
    pages = [to_html(p, site) for p in paths]
    server, base = serve(site)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})

        def offline_only(route, request) -> None:
            if request.url.startswith(base) or request.url.startswith("data:"):
                route.continue_()
            else:  # offline, as CI is: only the Colab badge's image is not served here
                route.abort()

        page.route("**/*", offline_only)
        for html in pages:
            found = check(page, base + html.name, html.stem, args.screenshots)
            errors += found
        browser.close()
    server.shutdown()
    for error in errors:
        print(error)
    print(f"{len(pages)} reader notebooks rendered, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

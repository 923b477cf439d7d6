"""scripts/reader_notebooks.py: MyST turned into what Colab, JupyterLab and GitHub render."""

from __future__ import annotations

import base64
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load_script(name: str) -> ModuleType:
    """scripts/<name>.py as a module, loaded from its file (scripts/ is not a package).

    It is registered under its own name, so a script that imports a sibling (reader_notebooks
    imports notebooks) finds the sibling already loaded.
    """
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_load_script("notebooks")
rn = _load_script("reader_notebooks")

SITE = "https://owner.github.io/book/"
PNG = base64.b64encode(b"\x89PNG fake").decode()


@pytest.fixture
def book() -> rn.Book:
    return rn.Book(
        site=SITE,
        labels={"ch-pca": ("notebooks/02_pca", "2. Linear autoencoders and PCA"),
                "sec-noise": ("notebooks/05_dae", "5.2 Noise")},
        figures={"fig-a": ("notebooks/04_sparse", 17)},
        citations={"ng2011": ("Ng", "2011"), "of1996": ("Olshausen and Field", "1996")},
    )  # fmt: skip


@pytest.fixture
def converter(book, monkeypatch) -> rn.Converter:
    # "ch-pca" labels its page's title; "sec-noise" a section inside its page.
    monkeypatch.setattr(rn.Converter, "is_page_title", lambda self, doc, label: label == "ch-pca")
    glue = {
        "err": {"text/plain": "0.123456"},
        "n": {"text/plain": "10000"},
        "name": {"text/plain": "'ITQ'"},
        "fig_a": {"image/png": PNG, "text/plain": "<Figure>"},
    }
    return rn.Converter(book=book, glue=glue)


def test_glue_values_are_formatted_as_python_formats_them(converter):
    text = (
        "error {glue:text}`err:.2f`, {glue:text}`n` images, {glue:text}`err:.1e`, {glue:text}`name`"
    )
    assert converter.markdown(text) == (f"error {0.123456:.2f}, 10000 images, {0.123456:.1e}, ITQ")
    assert converter.used_glue == {"err", "n", "name"}


def test_a_missing_glue_key_fails_the_export(converter):
    with pytest.raises(rn.ExportError, match="no glued text value 'nope'"):
        converter.markdown("{glue:text}`nope:.2f`")


def test_citations_become_author_year_links_to_the_bibliography(converter):
    link = f"{SITE}book/bibliography.html"
    assert converter.markdown("{cite:p}`of1996,ng2011`") == (
        f"([Olshausen and Field, 1996]({link}); [Ng, 2011]({link}))"
    )
    assert converter.markdown("as {cite:t}`ng2011` showed") == f"as [Ng (2011)]({link}) showed"
    with pytest.raises(rn.ExportError, match=r"not in references.bib: \['x2020'\]"):
        converter.markdown("{cite:p}`x2020`")


def test_cross_references_link_to_the_published_pages(converter):
    assert converter.markdown("{ref}`ch-pca`") == (
        f"[2. Linear autoencoders and PCA]({SITE}notebooks/02_pca.html)"
    )
    assert converter.markdown("{ref}`the noise <sec-noise>`") == (
        f"[the noise]({SITE}notebooks/05_dae.html#sec-noise)"
    )
    assert converter.markdown("{numref}`fig-a`") == (
        f"[Fig. 17]({SITE}notebooks/04_sparse.html#fig-a)"
    )
    assert converter.markdown("{py:func}`~aeutils.fit`") == (
        f"[`fit`]({SITE}book/api.html#aeutils.fit)"
    )
    with pytest.raises(rn.ExportError, match="unknown cross-reference target 'nowhere'"):
        converter.markdown("{ref}`nowhere`")


def test_targets_go_and_code_blocks_are_kept_verbatim(converter):
    text = "(sec-noise)=\n## Noise\n\n```python\nprint('{glue:text}`err`')\n```"
    assert converter.markdown(text) == "## Noise\n\n```python\nprint('{glue:text}`err`')\n```"


def test_solutions_and_dropdowns_are_collapsed_details(converter):
    text = (
        "1. Do it.\n\n"
        "   :::{admonition} Solution to exercise 1\n"
        "   :class: dropdown\n\n"
        "   It is {glue:text}`err:.1f`.\n\n"
        "   ```python\n   x = 1\n   ```\n"
        "   :::\n"
    )
    out = converter.markdown(text)
    assert out == (
        "1. Do it.\n\n"
        "   <details><summary><b>Solution to exercise 1</b></summary>\n\n"
        "   It is 0.1.\n\n"
        "   ```python\n   x = 1\n   ```\n\n"
        "   </details>"
    )


def test_a_plain_admonition_is_a_block_quote(converter):
    out = converter.markdown(":::{admonition} Why\nBecause $x_i$.\n:::")
    assert out == "> **Why**\n>\n> Because $x_i$."


def test_a_glued_figure_becomes_an_attachment_with_alt_text_number_and_caption(converter):
    text = (
        "```{glue:figure} fig_a\n:alt: Two [bars]\n:name: fig-a\n\n"
        "Caption with {glue:text}`n` images.\n```"
    )
    out = converter.markdown(text)
    assert out == (
        '<a id="fig-a"></a>\n\n![Two (bars)](attachment:fig_a.png)\n\n'
        "*Fig. 17.* Caption with 10000 images."
    )
    assert converter.attachments == {"fig_a.png": {"image/png": PNG}}
    with pytest.raises(rn.ExportError, match="no glued figure 'fig_b'"):
        converter.markdown("```{glue:figure} fig_b\n```")


def test_unknown_markup_fails_loudly(converter):
    with pytest.raises(rn.ExportError, match=r"unknown MyST directive \{mermaid\}"):
        converter.markdown("```{mermaid}\na --> b\n```")
    with pytest.raises(rn.ExportError, match="unknown MyST role"):
        converter.markdown("{sub-ref}`today`")
    with pytest.raises(rn.ExportError, match="unclosed fence"):
        converter.markdown(":::{note}\nnever closed")


def test_bibliography_names_follow_the_author_year_style(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text(
        '@article{a, author = {Ruff, Lukas and G{\\"o}rnitz, Nico and Deecke, Lucas},'
        " title = {T}, year = {2018}}\n"
        "@book{b, author = {Goodfellow, Ian and Bengio, Yoshua}, title = {T}, year = {2016}}\n"
        "@misc{c, author = {Ng, Andrew}, title = {T}, year = {2011}}\n"
    )
    assert rn.read_bibliography(bib) == {
        "a": ("Ruff et al.", "2018"),
        "b": ("Goodfellow and Bengio", "2016"),
        "c": ("Ng", "2011"),
    }
    assert rn.latex_to_text('G{\\"o}rnitz') == "Görnitz"


def test_the_book_knows_every_label_figure_and_citation_it_uses():
    book = rn.Book.load(SITE)
    assert book.labels["ch-sparse"][0] == "notebooks/05_sparse_autoencoders"
    numbers = [number for _, number in book.figures.values()]
    assert numbers == list(range(1, len(numbers) + 1))  # numbered through the book, in order
    assert book.citations["hinton2006reducing"] == ("Hinton and Salakhutdinov", "2006")


def _executed(tmp_path) -> tuple[nbformat.NotebookNode, dict]:
    title = nbformat.v4.new_markdown_cell(
        "(ch-x)=\n# 1. X\n[![Open In Colab](../book/_static/colab-badge.svg)](https://x)\n\n"
        "## Exercises\n1. Q\n\n   :::{admonition} Solution\n   :class: dropdown\n\n   A\n   :::"
    )
    setup = nbformat.v4.new_code_cell("# Setup: install aeutils where it is missing\npass")
    code = nbformat.v4.new_code_cell("glue('n', 3)")
    code.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"application/papermill.record/text/plain": "3"},
            metadata={"scrapbook": {"name": "n", "mime_prefix": "application/papermill.record/"}},
        ),
        nbformat.v4.new_output("stream", name="stderr", text="progress 100%"),
        nbformat.v4.new_output("stream", name="stdout", text="table\n"),
    ]
    text = nbformat.v4.new_markdown_cell("There are {glue:text}`n` of them.")
    return nbformat.v4.new_notebook(cells=[title, setup, code, text]), {}


def test_a_reader_notebook_keeps_outputs_pins_its_commit_and_passes_check(tmp_path, book):
    executed, _ = _executed(tmp_path)
    prov = rn.Provenance(commit="0123456789abcdef" * 2 + "01234567", dirty=False, size="smoke",
                         date="2026-12-01")  # fmt: skip
    source = tmp_path / "01_x.ipynb"
    nb, used = rn.reader_notebook(source, executed, book, prov)
    first, title, setup, code, text = nb.cells
    assert "0123456789ab" in first.source and "`smoke`" in first.source
    assert rn.BADGE_IMAGE in title.source and "blob/reader/notebooks/01_x.ipynb" in title.source
    assert "<details><summary><b>Solution</b></summary>" in title.source
    assert f"@{prov.commit}" in setup.source
    assert [o.get("text") for o in code.outputs] == ["table\n"]  # glue record, stderr gone
    assert text.source == "There are 3 of them." and used == {"n"}
    path = tmp_path / "out" / source.name
    path.parent.mkdir()
    nbformat.write(nb, path)
    assert rn.problems(path) == []
    nb.cells[4].source = "Left: {glue:text}`n`"  # what check must catch
    nbformat.write(nb, path)
    assert rn.problems(path) == [
        f"{path.name}: markdown cell 4 still holds a MyST role: '{{glue:text}}`'"
    ]


def test_glue_keys_must_name_their_chapter():
    check = sys.modules["notebooks"].glue_problems
    cells = [
        {"cell_type": "code", "source": 'glue("ch3_ok_1", 1)\nglue("ch4_wrong", 2)\n'},
        {"cell_type": "code", "source": 'glue(f"ch3_{name}_x", 3)\nglue(f"Ch3_{name}", 4)'},
        {"cell_type": "markdown", "source": "{glue:text}`ch3_ex2_a:.2f` {glue}`ch3_top-k`"},
        {"cell_type": "code", "source": 'glue("fig_ch3_map", fig)'},
    ]
    found = check(Path("notebooks/03_x.ipynb"), cells)
    assert [p.split("'")[1] for p in found] == ["Ch3_{name}", "ch3_top-k", "ch4_wrong"]
    assert check(Path("book/results.ipynb"), cells) == []  # not a chapter

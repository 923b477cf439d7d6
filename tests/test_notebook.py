"""The smoke/book switch read from AEUTILS_SIZE, and glue with and without myst-nb."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from aeutils.notebook import glue, pick, run_size


def test_book_is_the_default(monkeypatch):
    monkeypatch.delenv("AEUTILS_SIZE", raising=False)
    assert run_size() == "book"
    assert pick(smoke=1, book=20) == 20


def test_smoke_is_selected_case_insensitively(monkeypatch):
    monkeypatch.setenv("AEUTILS_SIZE", " Smoke ")
    assert run_size() == "smoke"
    assert pick(smoke=1, book=20) == 1


def test_unknown_size_is_rejected(monkeypatch):
    monkeypatch.setenv("AEUTILS_SIZE", "large")
    with pytest.raises(
        ValueError, match=r"AEUTILS_SIZE must be one of \('smoke', 'book'\), got 'large'"
    ):
        run_size()


@pytest.fixture
def myst_calls(monkeypatch):
    """Record the calls glue makes to myst_nb.glue."""
    myst_nb = pytest.importorskip("myst_nb")
    calls = []
    monkeypatch.setattr(
        myst_nb, "glue", lambda name, value, display: calls.append((name, value, display))
    )
    return calls


def test_glue_stores_silently_with_myst_nb(myst_calls, capsys):
    glue("answer", 42, display=False)
    assert myst_calls == [("answer", 42, False)]
    assert capsys.readouterr().out == ""


def test_glue_shows_a_value_with_its_name_never_bare(myst_calls, capsys):
    glue("answer", 0.25)
    # myst-nb's own display would show a bare "0.25" under the cell: it is always off.
    assert myst_calls == [("answer", 0.25, False)]
    assert capsys.readouterr().out == "answer = 0.25\n"


def test_glue_is_silent_without_myst_nb_when_asked(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails as in Colab
    glue("answer", 4242, display=False)
    assert capsys.readouterr().out == ""


def test_glue_labels_the_value_without_myst_nb(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)
    glue("answer", 4242)
    glue("name", "ITQ")
    assert capsys.readouterr().out == "answer = 4242\nname = 'ITQ'\n"


def test_glue_labels_a_rich_object_without_ipython(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    glue("pair", (1, 2))
    assert capsys.readouterr().out == "pair:\n(1, 2)\n"


def test_glue_in_a_real_kernel_leaves_no_bare_output():
    # What a reader of the rendered book sees under the cell: a labelled line, and the stored
    # (hidden) records that {glue:text} reads.
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("myst_nb")
    code = 'from aeutils.notebook import glue\nglue("shown", 0.5)\nglue("silent", 7, display=False)'
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    outputs = nb.cells[0].outputs
    streams = "".join(o["text"] for o in outputs if o["output_type"] == "stream")
    assert streams == "shown = 0.5\n"
    records = [o for o in outputs if o["output_type"] == "display_data"]
    assert [o["metadata"]["scrapbook"]["name"] for o in records] == ["shown", "silent"]
    for record in records:  # stored under myst-nb's hidden prefix, so never displayed bare
        assert set(record["data"]) == {"application/papermill.record/text/plain"}


def test_a_glued_figure_is_stored_as_png_in_a_real_kernel():
    # aeutils.plotting never touches pyplot; glue must still store a PNG for Jupyter Book.
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("myst_nb")
    code = (
        "import torch\n"
        "from aeutils.notebook import glue\n"
        "from aeutils.plotting import image_grid\n"
        'glue("grid", image_grid({"a": torch.rand(2, 1, 4, 4)}), display=False)'
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    (output,) = nb.cells[0].outputs
    assert "application/papermill.record/image/png" in output["data"]


@pytest.mark.parametrize(
    "value, expected",
    [(np.float64(0.7642), 0.7642), (np.int64(7), 7), (torch.tensor(2.5), 2.5)],
)
def test_glue_stores_numpy_and_torch_scalars_as_python_numbers(myst_calls, value, expected):
    # myst-nb stores repr(value) as text/plain and {glue:text}`name:.2f` parses it back with
    # float(): "np.float64(0.7642)" cannot be parsed, "0.7642" can.
    glue("number", value, display=False)
    ((_, stored, _),) = myst_calls
    assert type(stored) is type(expected)
    assert float(repr(stored)) == expected

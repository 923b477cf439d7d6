"""Helpers for the book's notebooks: the ``smoke``/``book`` size switch, and glue.

Each chapter reads one environment variable, ``AEUTILS_SIZE``, and picks its data subset,
epochs, sweep grids and seeds with :func:`pick`::

    EPOCHS = pick(smoke=1, book=20)

``book`` is the default: a reader who runs a notebook gets the numbers the book prints.

:func:`glue` stores a value for the book's prose (``{glue:text}`name```). ``display=False``
keeps it silent everywhere; a value that is shown is labelled with its name, so a reader never
meets a bare number under a cell (in the rendered book, in Colab or in a plain Jupyter).
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import numpy as np
import torch

__all__ = ["SIZES", "glue", "pick", "run_size"]

SIZES = ("smoke", "book")
T = TypeVar("T")


def run_size() -> str:
    """The size selected by ``AEUTILS_SIZE`` (``"book"`` when unset).

    Raises:
        ValueError: If the variable holds anything but ``smoke`` or ``book``.
    """
    value = os.environ.get("AEUTILS_SIZE", "book").strip().lower() or "book"
    if value not in SIZES:
        raise ValueError(f"AEUTILS_SIZE must be one of {SIZES}, got {value!r}")
    return value


def pick(*, smoke: T, book: T) -> T:
    """Return ``smoke`` or ``book`` according to :func:`run_size`."""
    return smoke if run_size() == "smoke" else book


def _register_figure_formatter() -> None:
    """Let Jupyter render a Figure as PNG even when pyplot was never used.

    aeutils.plotting builds Figures without pyplot, so the inline backend may not have
    registered its formatter yet; a glued Figure would then be stored as the text
    ``<Figure size ...>``. Outside an IPython kernel this does nothing.
    """
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("png")


def glue(name: str, value: Any, display: bool = True) -> None:
    """Make ``value`` available to the book's text under ``name``.

    Under Jupyter Book the value is stored with ``myst_nb.glue``: the prose quotes it with
    ``{glue:text}`name:.2f``` and figures with ``{glue:figure}`` (caption and alt text).
    Without myst-nb (Colab, a plain Jupyter) nothing is stored. In both cases ``display=False``
    shows nothing, and ``display=True`` shows the value labelled with its name (``name = 0.25``;
    a figure or other rich object after a ``name:`` line), never a bare value. Without IPython
    (a notebook exported as a script) the label and value are printed. NumPy scalars and 0-d
    tensors are converted to Python numbers first, so that a format such as ``:.2f`` applies.
    """
    if isinstance(value, np.generic) or (isinstance(value, torch.Tensor) and value.ndim == 0):
        # A plain Python number, so the stored text is "0.5" rather than "np.float64(0.5)",
        # which {glue:text}`name:.2f` could not format.
        value = value.item()
    if type(value).__module__.startswith("matplotlib"):
        _register_figure_formatter()
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        pass
    else:
        myst_glue(name, value, display=False)
    if display:
        _show_labelled(name, value)


def _show_labelled(name: str, value: Any) -> None:
    """Show ``value`` with its name: one text line for scalars, a label line before the rest."""
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        print(f"{name} = {value!r}")
        return
    print(f"{name}:")
    try:
        from IPython.display import display as show
    except ImportError:  # a plain Python process (a notebook exported as a script)
        show = print
    show(value)

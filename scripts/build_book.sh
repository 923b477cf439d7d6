#!/usr/bin/env bash
# Build the book: execute every chapter in `book` size (or $AEUTILS_SIZE) and render HTML.
# Usage: bash scripts/build_book.sh            -> _build/html/index.html, _build/reader/notebooks/
# Set AEUTILS_DATA to a folder holding MNIST/raw/ to use a local copy of MNIST.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
export AEUTILS_SIZE="${AEUTILS_SIZE:-book}"
export AEUTILS_PROGRESS="${AEUTILS_PROGRESS:-0}"
echo "==> building the book in '$AEUTILS_SIZE' size"
# The results page reads reproductions/results/*.json; Sphinx re-reads only changed pages.
touch book/results.ipynb
jupyter-book build . -W -n --keep-going "$@"
echo "==> the reader notebooks (Colab, JupyterLab, GitHub) -> _build/reader/notebooks/"
python scripts/reader_notebooks.py export --cache _build/.jupyter_cache --out _build/reader
echo "==> execution time per chapter (from Jupyter Book's cache)"
python scripts/time_book.py --from-cache _build/.jupyter_cache
echo "==> open _build/html/index.html"

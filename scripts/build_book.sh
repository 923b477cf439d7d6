#!/usr/bin/env bash
# Build the book: execute every chapter in `book` size (or $AEUTILS_SIZE) and render HTML.
# Usage: bash scripts/build_book.sh            -> _build/html/index.html, _build/reader/notebooks/
# Set AEUTILS_DATA to a folder holding MNIST/raw/ to use a local copy of MNIST, and BOOK_OUT to
# build somewhere else (BOOK_OUT=_build/book -> _build/book/_build/html; scripts/test.sh does).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
export AEUTILS_SIZE="${AEUTILS_SIZE:-book}"
export AEUTILS_PROGRESS="${AEUTILS_PROGRESS:-0}"
echo "==> building the book in '$AEUTILS_SIZE' size"
# The results page reads reproductions/results/*.json; Sphinx re-reads only changed pages.
touch book/results.ipynb
OUT="${BOOK_OUT:-.}"
jupyter-book build . --path-output "$OUT" -W -n --keep-going "$@"
echo "==> the reader notebooks (Colab, JupyterLab, GitHub) -> $OUT/_build/reader/notebooks/"
python scripts/reader_notebooks.py export --cache "$OUT/_build/.jupyter_cache" --out "$OUT/_build/reader"
echo "==> execution time per chapter (from Jupyter Book's cache)"
python scripts/time_book.py --from-cache "$OUT/_build/.jupyter_cache"
echo "==> open $OUT/_build/html/index.html"

#!/usr/bin/env bash
# Every check CI runs, in order. Usage: bash scripts/test.sh
# 1 lint (code, notebooks, workflows), 2 unit tests with coverage, 3 every reproduction script
# in quick mode, 4 every notebook in smoke size (nbmake), 5 the book in smoke size with
# warnings as errors, 6 the built pages in headless Chromium, 7 the reader notebooks exported
# from that build, checked and rendered in Chromium, 8 a Colab dry run of every reader notebook,
# 9 the book in book size from a cold cache (the README's build command), which runs every
# assertion of the prose, its pages in Chromium, and the time budget (4 min per chapter, 30 in all).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
export AEUTILS_PROGRESS="${AEUTILS_PROGRESS:-0}"

echo "==> 1/9 lint: ruff over the package, tests, scripts and notebooks; notebooks stripped and in sync"
ruff check .
ruff format --check .
python scripts/notebooks.py check
bash scripts/lint_workflows.sh

echo "==> 2/9 unit tests"
python -m pytest tests --cov=aeutils --cov-report=term-missing:skip-covered --cov-fail-under=90

echo "==> 3/9 every reproduction script in quick mode (results under _build/reproductions/)"
python reproductions/run_all.py --quick

echo "==> 4/9 every notebook in smoke size"
AEUTILS_SIZE=smoke python -m pytest --nbmake --nbmake-timeout=600 notebooks -p no:cacheprovider

echo "==> 5/9 the book in smoke size, warnings as errors"
rm -rf _build/smoke
AEUTILS_SIZE=smoke jupyter-book build . --path-output _build/smoke -W -n --keep-going

echo "==> 6/9 the built pages in headless Chromium"
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing Debian's chromium"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        python -m playwright install chromium  # Playwright's own browser, for a user machine
    fi
fi
python scripts/check_site.py _build/smoke/_build/html --screenshots _build/smoke/screenshots

echo "==> 7/9 the reader notebooks: exported from the smoke build, checked, three rendered in Chromium"
rm -rf _build/smoke/reader
python scripts/reader_notebooks.py export --cache _build/smoke/_build/.jupyter_cache \
    --out _build/smoke/reader --size smoke
python scripts/reader_notebooks.py check _build/smoke/reader/notebooks --html _build/smoke/_build/html
python scripts/render_reader.py _build/smoke/reader/notebooks \
    --screenshots _build/smoke/reader/screenshots

echo "==> 8/9 a Colab dry run: every reader notebook in a fresh Colab-like environment"
rm -rf _build/colab
python scripts/colab_dry_run.py _build/smoke/reader/notebooks --venv _build/colab/venv

echo "==> 9/9 the book in book size from a cold cache: every claim of the prose asserted, the budget"
rm -rf _build/book
BOOK_OUT=_build/book AEUTILS_SIZE=book bash scripts/build_book.sh
python scripts/check_site.py _build/book/_build/html --screenshots _build/book/screenshots
python scripts/time_book.py --from-cache _build/book/_build/.jupyter_cache --max-chapter 240 \
    --max-total 1800

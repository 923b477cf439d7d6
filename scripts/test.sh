#!/usr/bin/env bash
# Every check CI runs, in order. Usage: bash scripts/test.sh
# 1 lint, 2 unit tests with coverage, 3 every reproduction script in quick mode,
# 4 every notebook in smoke size (nbmake), 5 the book in smoke size with warnings as errors,
# 6 the built pages in headless Chromium.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
export AEUTILS_PROGRESS="${AEUTILS_PROGRESS:-0}"

echo "==> 1/6 lint: ruff over the package, tests, scripts and notebooks; notebooks stripped and in sync"
ruff check .
ruff format --check .
python scripts/notebooks.py check

echo "==> 2/6 unit tests"
python -m pytest tests --cov=aeutils --cov-report=term-missing:skip-covered --cov-fail-under=90

echo "==> 3/6 every reproduction script in quick mode (results under _build/reproductions/)"
python reproductions/run_all.py --quick

echo "==> 4/6 every notebook in smoke size"
AEUTILS_SIZE=smoke python -m pytest --nbmake --nbmake-timeout=600 notebooks -p no:cacheprovider

echo "==> 5/6 the book in smoke size, warnings as errors"
rm -rf _build/smoke
AEUTILS_SIZE=smoke jupyter-book build . --path-output _build/smoke -W -n --keep-going

echo "==> 6/6 the built pages in headless Chromium"
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing Debian's chromium"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        python -m playwright install chromium  # Playwright's own browser, for a user machine
    fi
fi
python scripts/check_site.py _build/smoke/_build/html --screenshots _build/smoke/screenshots

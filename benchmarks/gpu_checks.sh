#!/usr/bin/env bash
# The checks that need a GPU, for a lent GPU machine (see README), in about ten minutes: the CUDA
# tests, the loader benchmark on CUDA, the whole book in `book` size (time_book.py), and the
# reproductions that fit. Expects MNIST under $AEUTILS_DATA (the .gz files are enough) and the
# book's Python packages (nbclient and ipykernel for the book); writes logs and JSON records to
# ${OUT:-_build/gpu}. Each step has its own time limit, so one slow step cannot starve the rest:
#   BOOK_LIMIT_S (default 330), BURDA_STAGES (default 4: 40 epochs of the paper's 3,280).
set -u
OUT="${OUT:-_build/gpu}"
mkdir -p "$OUT"
export AEUTILS_PROGRESS=0 PYTHONUNBUFFERED=1
# aeutils from this checkout, installed in place (no PYTHONPATH: the scripts import it as users do).
python3 -m pip install --quiet --no-deps --no-build-isolation -e . || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
step() { echo "==> $1 ($(date -u +%T))" | tee -a "$OUT/steps.txt"; }

step "CUDA tests"
python3 -m pytest tests -q -p no:cacheprovider -k "cuda or CUDA" -rs 2>&1 | tee "$OUT/pytest_cuda.log" | tail -5

step "loader benchmark"
timeout 120 python3 benchmarks/loader_speed.py --device cuda --repeats 3 --json "$OUT/loader_speed_cuda.json" 2>&1 | tail -4

step "the book, book size"
AEUTILS_SIZE=book timeout "${BOOK_LIMIT_S:-330}" python3 scripts/time_book.py --json "$OUT/book_time_cuda.json" 2>&1 | tee "$OUT/book.log" | grep -v "^|"

step "burda2016, ${BURDA_STAGES:-4} stages"
timeout 300 python3 reproductions/burda2016.py --device cuda --stages "${BURDA_STAGES:-4}" --out "$OUT/burda2016_cuda.json" 2>&1 | tee "$OUT/burda2016.log" | tail -8
step "done"

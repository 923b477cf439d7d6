#!/usr/bin/env bash
# The checks that need a GPU, for a lent GPU machine (see README): the test suite with its
# CUDA tests, and the loader benchmark on CUDA. Expects MNIST under $AEUTILS_DATA (the .gz
# files are enough) and writes logs and JSON results to ${OUT:-_build/gpu}.
set -u
OUT="${OUT:-_build/gpu}"
mkdir -p "$OUT"
export AEUTILS_PROGRESS=0 PYTHONUNBUFFERED=1
# aeutils from this checkout, installed in place (no PYTHONPATH: the scripts import it as users do).
python3 -m pip install --quiet --no-deps --no-build-isolation -e . || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
python3 -m pytest tests -q -p no:cacheprovider -k "cuda or CUDA" -rs 2>&1 | tee "$OUT/pytest_cuda.log" | tail -5
python3 -m pytest tests -q -p no:cacheprovider -x 2>&1 | tee "$OUT/pytest_all.log" | tail -5
python3 benchmarks/loader_speed.py --device cuda --repeats 3 --json "$OUT/loader_speed_cuda.json" 2>&1 | tail -4
python3 benchmarks/loader_speed.py --device cuda --workers 4 --repeats 2 --json "$OUT/loader_speed_cuda_4workers.json" 2>&1 | tail -3

#!/usr/bin/env bash
# Every reproduction at its `gpu` budget, one after another, then a full-size RBM
# epoch on the GPU (benchmarks/rbm_cd.py --device cuda). One command on a bare
# machine that has PyTorch (and numpy, scikit-learn, pandas, matplotlib, tqdm) but
# no package registry: companion runs from this checkout through PYTHONPATH.
#
#   bash benchmarks/gpu.sh [DATA_DIR] [DEVICE]     # defaults: $COMPANION_DATA or
#                                                  # ../shared/data/mnist, and cuda
#   BUDGET=smoke bash benchmarks/gpu.sh ../shared/data/mnist cpu    # the CPU check
#
# Records go to results/<budget>/ (or $OUT/results when OUT is set); the MNIST idx
# files are read from DATA_DIR and never copied into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-${COMPANION_DATA:-../shared/data/mnist}}
DEVICE=${2:-cuda}
BUDGET=${BUDGET:-gpu}
PYTHON=${PYTHON:-python3}
RESULTS=${OUT:+$OUT/results}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 COMPANION_DATA="$DATA"
"$PYTHON" -m companion info || true
start=$(date +%s)
"$PYTHON" -m companion reproduce all --budget "$BUDGET" --device "$DEVICE" --data "$DATA" \
  --out "${RESULTS:-results}" --resume --no-progress
echo "all $BUDGET budgets: $(( $(date +%s) - start )) s"
if [ "$BUDGET" != smoke ]; then
  "$PYTHON" benchmarks/rbm_cd.py --device "$DEVICE" --repeats 3
fi

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
# Each experiment runs in its own process, so that one failure leaves the others'
# records standing. DEADLINE=SECONDS (default: none) bounds the whole script on a
# machine lent for a fixed time: an experiment still running then is stopped (no
# record; --resume continues it from its checkpoint on a later call) and the rest
# are skipped. A tree sent to a remote machine (without .git, or with a stale one)
# takes its commit from COMPANION_COMMIT and COMPANION_DIRTY=0, set by the sender
# from its clean checkout (see companion.reproduce.runner.code_state).
#
# Records go to results/<budget>/ (or $OUT/results when OUT is set); the MNIST idx
# files are read from DATA_DIR and never copied into the repository.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-${COMPANION_DATA:-../shared/data/mnist}}
DEVICE=${2:-cuda}
BUDGET=${BUDGET:-gpu}
PYTHON=${PYTHON:-python3}
DEADLINE=${DEADLINE:-0}
RESULTS=${OUT:+$OUT/results}
EXPERIMENTS=${EXPERIMENTS:-rbm-ais dbn-updown dbm dbn-backprop deep-ae vae-nll}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 COMPANION_DATA="$DATA"
"$PYTHON" -m companion info || true
start=$(date +%s)
failed=0

left() {  # seconds before DEADLINE (a large number when there is none)
  if [ "$DEADLINE" -gt 0 ]; then echo $(( DEADLINE - ($(date +%s) - start) )); else echo 1000000; fi
}

for name in $EXPERIMENTS; do
  t=$(left)
  if [ "$t" -lt 20 ]; then echo "skipped $name: ${t} s left before DEADLINE=$DEADLINE"; failed=1; continue; fi
  t0=$(date +%s)
  timeout --signal=INT "$t" "$PYTHON" -m companion reproduce "$name" --budget "$BUDGET" --device "$DEVICE" \
    --data "$DATA" --out "${RESULTS:-results}" --resume --no-progress
  rc=$?
  echo "$name ($BUDGET): exit $rc after $(( $(date +%s) - t0 )) s"
  [ "$rc" -eq 0 ] || failed=1
done
echo "all $BUDGET budgets: $(( $(date +%s) - start )) s"
if [ "$BUDGET" != smoke ]; then
  t=$(left)
  if [ "$t" -ge 20 ]; then
    timeout --signal=INT "$t" "$PYTHON" benchmarks/rbm_cd.py --device "$DEVICE" --repeats 3 || failed=1
  else
    echo "skipped benchmarks/rbm_cd.py: ${t} s left"; failed=1
  fi
fi
exit "$failed"

#!/usr/bin/env bash
# CPU-sized twin of run_sk_sst.sh: the sentiment neuron of the small character mLSTM that
# experiments/quickstart.sh (runs/quickstart/lang_model.pt) or experiments/train_mlstm_cpu.sh
# (LOAD=runs/mlstm_cpu/lang_model.pt) trains, on the bundled binary SST: features of train/val/test, an L1
# logistic regression with C chosen on val, and the top neuron's own accuracy. A few minutes on 2 cores.
#   LOAD     the language model;  RESULTS  results subdirectory of <LOAD without .pt>_transfer/
#   RUN      where the per-sentence test predictions go
# Extra arguments go to transfer.py (e.g. --neurons 10, --use-cached to reuse the features).
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=${LOAD:-runs/quickstart/lang_model.pt}
RESULTS=${RESULTS:-sst}
RUN=${RUN:-runs/sk_sst_cpu}
[ -e "$LOAD" ] || { echo "no language model at $LOAD: run experiments/quickstart.sh or experiments/train_mlstm_cpu.sh first (or set LOAD)"; exit 1; }

python transfer.py --load "$LOAD" \
    --data data/binary_sst/train.csv --valid data/binary_sst/val.csv --test data/binary_sst/test.csv \
    --neurons 1 --batch-size 128 --num-workers 2 --save-results "$RESULTS" \
    --write-results "$RUN/sst_test_predictions.csv" "$@"

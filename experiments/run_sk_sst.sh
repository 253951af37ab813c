#!/usr/bin/env bash
# The sentiment neuron at paper scale (Radford et al. 2017, arXiv 1704.01444): features of binary SST
# (train/val/test) from a pretrained 4096-unit character mLSTM, an L1 logistic regression with C chosen on
# val, and the single top neuron's own accuracy (--neurons 1). fp16 inference on one GPU.
#   LOAD     the language model: our checkpoint, a directory of OpenAI's .npy files
#            (generating-reviews-discovering-sentiment/model/) or an original sentiment-discovery mlstm.pt
#   RESULTS  results subdirectory: everything lands in <LOAD without extension>_transfer/$RESULTS/
#            (results.json, classifier.pt for run_classifier.py, feature caches, plots)
#   RUN      where the per-sentence test predictions (probabilities, neuron value, text) go
# Extra arguments go to transfer.py (e.g. --neurons 30, --drop-neurons, --use-cached).
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=${LOAD:-mlstm.pt}
RESULTS=${RESULTS:-sst}
RUN=${RUN:-runs/sk_sst}
[ -e "$LOAD" ] || { echo "no language model at $LOAD: set LOAD to a checkpoint or OpenAI's .npy directory"; exit 1; }

python transfer.py --load "$LOAD" \
    --data data/binary_sst/train.csv --valid data/binary_sst/val.csv --test data/binary_sst/test.csv \
    --neurons 1 --batch-size 128 --fp16 --save-results "$RESULTS" \
    --write-results "$RUN/sst_test_predictions.csv" "$@"

#!/usr/bin/env bash
# CPU-sized twin of sst_finetune.sh: binary SST from the quickstart's character mLSTM
# (runs/quickstart/lang_model.pt), finetuned end to end for one pass of 150 steps of 32 sentences with a
# linear head on the last hidden state, the threshold tuned on val for F1, the test split scored, and
# run_classifier.py applying the result. About ten minutes on 2 cores; EPOCHS / TRAIN_ITERS change it.
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=${LOAD:-runs/quickstart/lang_model.pt}
RUN=${RUN:-runs/sst_finetune_cpu}
EPOCHS=${EPOCHS:-1}
TRAIN_ITERS=${TRAIN_ITERS:-150}
[ -e "$LOAD" ] || { echo "no language model at $LOAD: run experiments/quickstart.sh first (or set LOAD)"; exit 1; }
mkdir -p "$RUN"

python finetune_classifier.py --load "$LOAD" \
    --data data/binary_sst/train.csv --valid data/binary_sst/val.csv --test data/binary_sst/test.csv \
    --get-hidden --max-seq-len 256 --lr 2e-4 --epochs "$EPOCHS" --train-iters "$TRAIN_ITERS" --batch-size 32 \
    --warmup-epochs 0.1 --decay-style linear --clip 1 \
    --automatic-thresholding --threshold-metric f1 --report-metric acc --all-metrics \
    --save "$RUN/classifier.pt" --resume auto "$@"
python run_classifier.py --load "$RUN/classifier.pt" --data data/binary_sst/test.csv \
    --save-probs "$RUN/clf_results.npy" --write-results "$RUN/clf_results.csv"

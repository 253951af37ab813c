#!/usr/bin/env bash
# CPU-sized twin of se_mlstm_singlehead.sh: SemEval-2018 E-c plutchik-8 from the quickstart's character mLSTM
# (runs/quickstart/lang_model.pt) with one head per class, otherwise as se_mlstm_multihead_cpu.sh (about ten
# minutes on 2 cores). EPOCHS / TRAIN_ITERS (steps per epoch) shorten or lengthen it.
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=${LOAD:-runs/quickstart/lang_model.pt}
RUN=${RUN:-runs/semeval_mlstm_singlehead_cpu}
EPOCHS=${EPOCHS:-2}
TRAIN_ITERS=${TRAIN_ITERS:-100}
PLUTCHIK="anger anticipation disgust fear joy sadness surprise trust"
[ -e "$LOAD" ] || { echo "no language model at $LOAD: run experiments/quickstart.sh first (or set LOAD)"; exit 1; }
mkdir -p "$RUN"

python finetune_classifier.py --load "$LOAD" \
    --data data/semeval/train.csv --valid data/semeval/val.csv --test data/semeval/test.csv \
    --text-key Tweet --non-binary-cols $PLUTCHIK --process-fn process_tweet --max-seq-len 160 \
    --get-hidden --concat-max --concat-mean \
    --classifier-hidden-layers 256 8 --classifier-dropout 0.1 --aux-lm-loss --aux-lm-loss-weight 0.02 \
    --lr 5e-4 --epochs "$EPOCHS" --train-iters "$TRAIN_ITERS" --batch-size 32 --warmup-epochs 0.2 \
    --decay-style linear --clip 1 \
    --automatic-thresholding --threshold-metric f1 --global-tweaks 1000 --micro \
    --report-metric jacc --all-metrics \
    --save "$RUN/classifier.pt" --resume auto "$@"

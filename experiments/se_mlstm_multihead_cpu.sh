#!/usr/bin/env bash
# CPU-sized twin of se_mlstm_multihead.sh: SemEval-2018 E-c plutchik-8 from the small character mLSTM that
# experiments/quickstart.sh trains (runs/quickstart/lang_model.pt, 512 units), in about ten minutes on 2 cores:
# the last hidden state with its max and mean over the tweet as features, an MLP head with 3 heads per class,
# the head-variance and auxiliary LM losses, 2 epochs of 100 steps of 32 tweets (about one pass over the
# training set), thresholds tuned on val for F1 and tweaked for micro F1.
# Compare its report ($RUN/classifier_report.txt) with `python bench/tfidf_baseline.py --task semeval`.
# EPOCHS / TRAIN_ITERS (steps per epoch) shorten or lengthen it; re-running continues an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=${LOAD:-runs/quickstart/lang_model.pt}
RUN=${RUN:-runs/semeval_mlstm_multihead_cpu}
EPOCHS=${EPOCHS:-2}
TRAIN_ITERS=${TRAIN_ITERS:-100}
PLUTCHIK="anger anticipation disgust fear joy sadness surprise trust"
[ -e "$LOAD" ] || { echo "no language model at $LOAD: run experiments/quickstart.sh first (or set LOAD)"; exit 1; }
mkdir -p "$RUN"

python finetune_classifier.py --load "$LOAD" \
    --data data/semeval/train.csv --valid data/semeval/val.csv --test data/semeval/test.csv \
    --text-key Tweet --non-binary-cols $PLUTCHIK --process-fn process_tweet --max-seq-len 160 \
    --get-hidden --concat-max --concat-mean \
    --classifier-hidden-layers 256 8 --classifier-dropout 0.1 --heads-per-class 3 \
    --aux-head-variance-loss-weight 0.1 --aux-lm-loss --aux-lm-loss-weight 0.02 \
    --lr 5e-4 --epochs "$EPOCHS" --train-iters "$TRAIN_ITERS" --batch-size 32 --warmup-epochs 0.2 \
    --decay-style linear --clip 1 \
    --automatic-thresholding --threshold-metric f1 --global-tweaks 1000 --micro \
    --report-metric jacc --all-metrics \
    --save "$RUN/classifier.pt" --resume auto "$@"

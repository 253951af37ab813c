#!/usr/bin/env bash
# SemEval-2018 E-c, the 8 Plutchik emotions, from a pretrained 4096-unit character mLSTM, at the scale of
# Kant et al. 2018 (arXiv 1812.01207): the whole model finetuned with an MLP head of 5 heads per class
# (pushed apart by the head-variance loss), the auxiliary LM loss, fp16 with dynamic loss scaling,
# features from the last hidden state (the original finetuning's --get-hidden), per-class thresholds tuned
# on val for F1 and tweaked for micro F1; the best epoch is chosen by micro Jaccard.
#   LOAD  an mLSTM LM (our checkpoint, OpenAI's .npy directory or an original sentiment-discovery file)
#   NPROC processes (default: one per visible GPU); batch 32 per process.
# The test split has no labels: the report covers validation. Re-running continues an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=${LOAD:-mlstm.pt}
RUN=${RUN:-runs/semeval_mlstm_multihead}
NPROC=${NPROC:-}   # empty: multiproc starts one process per visible GPU
PLUTCHIK="anger anticipation disgust fear joy sadness surprise trust"
mkdir -p "$RUN"

python -m multiproc ${NPROC:+--nproc "$NPROC"} finetune_classifier.py --load "$LOAD" \
    --data data/semeval/train.csv --valid data/semeval/val.csv --test data/semeval/test.csv \
    --text-key Tweet --non-binary-cols $PLUTCHIK --process-fn process_tweet --max-seq-len 280 --get-hidden \
    --classifier-hidden-layers 4096 2048 1024 8 --classifier-dropout 0.3 --heads-per-class 5 \
    --aux-head-variance-loss-weight 1 --aux-lm-loss --aux-lm-loss-weight 0.02 \
    --lr 1e-5 --epochs 5 --batch-size 32 --warmup-epochs 0.5 --decay-style linear --clip 1 \
    --fp16 --dynamic-loss-scale \
    --automatic-thresholding --threshold-metric f1 --global-tweaks 1000 --micro \
    --report-metric jacc --all-metrics \
    --save "$RUN/classifier.pt" --save-finetune --model-version-name epochs --resume auto "$@"

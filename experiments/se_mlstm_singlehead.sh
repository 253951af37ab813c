#!/usr/bin/env bash
# SemEval-2018 E-c, the 8 Plutchik emotions, from a pretrained 4096-unit character mLSTM, one head per class:
# the single-head baseline of se_mlstm_multihead.sh (Kant et al. 2018, arXiv 1812.01207), same MLP,
# schedule, fp16, auxiliary LM loss and thresholding, without the extra heads and their variance loss.
#   LOAD  an mLSTM LM; NPROC processes (default: one per visible GPU); batch 32 per process.
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=${LOAD:-mlstm.pt}
RUN=${RUN:-runs/semeval_mlstm_singlehead}
NPROC=${NPROC:-}   # empty: multiproc starts one process per visible GPU
PLUTCHIK="anger anticipation disgust fear joy sadness surprise trust"
mkdir -p "$RUN"

python -m multiproc ${NPROC:+--nproc "$NPROC"} finetune_classifier.py --load "$LOAD" \
    --data data/semeval/train.csv --valid data/semeval/val.csv --test data/semeval/test.csv \
    --text-key Tweet --non-binary-cols $PLUTCHIK --process-fn process_tweet --max-seq-len 280 --get-hidden \
    --classifier-hidden-layers 4096 2048 1024 8 --classifier-dropout 0.3 \
    --aux-lm-loss --aux-lm-loss-weight 0.02 \
    --lr 1e-5 --epochs 5 --batch-size 32 --warmup-epochs 0.5 --decay-style linear --clip 1 \
    --fp16 --dynamic-loss-scale \
    --automatic-thresholding --threshold-metric f1 --global-tweaks 1000 --micro \
    --report-metric jacc --all-metrics \
    --save "$RUN/classifier.pt" --save-finetune --model-version-name epochs --resume auto "$@"

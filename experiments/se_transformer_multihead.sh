#!/usr/bin/env bash
# SemEval-2018 E-c, the 8 Plutchik emotions, from a pretrained sentencepiece Transformer, at the scale of
# Kant et al. 2018 ("Practical Text Classification With Large Pre-Trained Language Models", arXiv 1812.01207):
# the whole model finetuned with an MLP head of 5 heads per class (pushed apart by the head-variance loss),
# the auxiliary LM loss (weight 0.02), fp16 with dynamic loss scaling, per-class thresholds tuned on val
# for F1 and then tweaked for micro F1; the best epoch is chosen by micro Jaccard.
#   LOAD  a transformer LM checkpoint (e.g. pretrain.py --model transformer --decoder-layers 12
#         --decoder-embed-dim 768 --decoder-ffn-embed-dim 3072 --decoder-learned-pos
#         --tokenizer-type SentencePieceTokenizer --vocab-size 32000 ...); its tokenizer comes with it.
#   NPROC processes (default: one per visible GPU); batch 32 per process.
# The test split has no labels: the report covers validation. Re-running continues an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=${LOAD:-transformer.pt}
RUN=${RUN:-runs/semeval_transformer_multihead}
NPROC=${NPROC:-}   # empty: multiproc starts one process per visible GPU
PLUTCHIK="anger anticipation disgust fear joy sadness surprise trust"
mkdir -p "$RUN"

python -m multiproc ${NPROC:+--nproc "$NPROC"} finetune_classifier.py --load "$LOAD" \
    --data data/semeval/train.csv --valid data/semeval/val.csv --test data/semeval/test.csv \
    --text-key Tweet --non-binary-cols $PLUTCHIK --process-fn process_tweet --max-seq-len 128 \
    --classifier-hidden-layers 2048 1024 8 --classifier-dropout 0.3 --heads-per-class 5 \
    --aux-head-variance-loss-weight 1 --aux-lm-loss --aux-lm-loss-weight 0.02 \
    --lr 1e-5 --epochs 5 --batch-size 32 --warmup-epochs 0.5 --decay-style linear --clip 1 \
    --fp16 --dynamic-loss-scale \
    --automatic-thresholding --threshold-metric f1 --global-tweaks 1000 --micro \
    --report-metric jacc --all-metrics \
    --save "$RUN/classifier.pt" --save-finetune --model-version-name epochs --resume auto "$@"

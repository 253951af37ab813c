#!/usr/bin/env bash
# CPU-sized twin of se_transformer_multihead.sh. The quickstart trains no transformer, so this first
# pretrains a small one (2 layers, 128 wide, a 4k-piece sentencepiece tokenizer trained on the corpus) on
# data/lm_corpus/opinions.json for ITERS steps, then finetunes it on SemEval-2018 E-c plutchik-8 with 3 heads
# per class, the head-variance and auxiliary LM losses and tuned thresholds. About ten minutes on 2 cores.
# ITERS / EPOCHS / TRAIN_ITERS shorten or lengthen it; re-running reuses / continues what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/semeval_transformer_multihead_cpu}
ITERS=${ITERS:-600}
EPOCHS=${EPOCHS:-2}
TRAIN_ITERS=${TRAIN_ITERS:-100}
PLUTCHIK="anger anticipation disgust fear joy sadness surprise trust"
mkdir -p "$RUN"

echo "== 1. pretrain a small transformer language model"
python pretrain.py --data data/lm_corpus/opinions.json --loose-json --text-key text --split 100,1,1 \
    --model transformer --decoder-layers 2 --decoder-embed-dim 128 --decoder-ffn-embed-dim 512 \
    --decoder-attention-heads 4 --decoder-learned-pos --decoder-normalize-before --max-positions 256 \
    --tokenizer-type SentencePieceTokenizer --tokenizer-path "$RUN/sp4k.model" --vocab-size 4000 \
    --batch-size 32 --seq-length 64 --lr 1e-3 --warmup 0.05 --decay-style cosine --clip 1 \
    --train-iters "$ITERS" --log-interval 50 --save-iters 200 --save "$RUN/transformer_lm.pt" --resume auto

echo "== 2. finetune it on SemEval plutchik-8"
python finetune_classifier.py --load "$RUN/transformer_lm.pt" \
    --data data/semeval/train.csv --valid data/semeval/val.csv --test data/semeval/test.csv \
    --text-key Tweet --non-binary-cols $PLUTCHIK --process-fn process_tweet --max-seq-len 96 \
    --classifier-hidden-layers 256 8 --classifier-dropout 0.1 --heads-per-class 3 \
    --aux-head-variance-loss-weight 0.1 --aux-lm-loss --aux-lm-loss-weight 0.02 \
    --lr 3e-4 --epochs "$EPOCHS" --train-iters "$TRAIN_ITERS" --batch-size 32 --warmup-epochs 0.2 \
    --decay-style linear --clip 1 --dropout 0.1 \
    --automatic-thresholding --threshold-metric f1 --global-tweaks 1000 --micro \
    --report-metric jacc --all-metrics \
    --save "$RUN/classifier.pt" --resume auto "$@"

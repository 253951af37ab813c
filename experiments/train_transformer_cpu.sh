#!/usr/bin/env bash
# CPU-sized twin of train_transformer_singlenode.sh: a 2-layer 256-wide transformer on the bundled corpus
# with the original 32k sentencepiece model, in minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${ITERS:-300}
python pretrain.py --data data/lm_corpus/opinions.json --loose-json --text-key text --split 200,1,1 \
    --model transformer --decoder-layers 2 --decoder-embed-dim 256 --decoder-ffn-embed-dim 1024 \
    --decoder-attention-heads 4 --decoder-normalize-before --share-decoder-input-output-embed \
    --tokenizer-type SentencePieceTokenizer --tokenizer-path data/tokenizers/imdb_sst_ama_32k_tokenizer.model \
    --batch-size 16 --seq-length 64 --lr 5e-4 --decay-style cosine --warmup 0.05 --clip 1 \
    --train-iters "$ITERS" --log-interval 25 --save runs/transformer_cpu/lang_model.pt --resume auto "$@"

#!/usr/bin/env bash
# The transformer language model of Kant et al. 2018 (arXiv 1812.01207) on one node of GPUs: 12 layers,
# 768/3072, 8 heads, the original 32k sentencepiece model, sequences of 64, cosine decay from 1e-4 with
# warm-up, fp16 with a dynamic loss scale. DATA as in train_mlstm_singlenode.sh (multi-node: see there).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/amazon/reviews.json}
GPUS=${GPUS:-$(python -c "import torch; print(max(torch.cuda.device_count(), 1))")}
python -m multiproc --nproc "$GPUS" pretrain.py --data "$DATA" --loose-json --lazy --text-key reviewText \
    --split 1000,1,1 --model transformer --decoder-layers 12 --decoder-embed-dim 768 \
    --decoder-ffn-embed-dim 3072 --decoder-attention-heads 8 --decoder-learned-pos --decoder-normalize-before \
    --tokenizer-type SentencePieceTokenizer --tokenizer-path data/tokenizers/imdb_sst_ama_32k_tokenizer.model \
    --batch-size 32 --seq-length 64 --lr 1e-4 --decay-style cosine --warmup 0.01 --clip 1 --epochs 1 \
    --fp16 --dynamic-loss-scale --save-iters 5000 --log-interval 100 --save checkpoints/transformer.pt \
    --resume auto "$@"

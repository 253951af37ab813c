#!/usr/bin/env bash
# CPU-sized twin of train_mlstm_singlenode.sh: a 512-unit mLSTM on the bundled corpus (no SST evaluation
# text in it). ITERS=3000 is the run in analysis/realcheck (about 35 minutes on 2 cores, 2.05 bits/char).
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${ITERS:-3000}
python pretrain.py --data data/lm_corpus/opinions.json --loose-json --text-key text --split 200,1,1 \
    --model mLSTM --nhid 512 --emsize 64 --batch-size 32 --seq-length 128 --lr 2e-3 --clip 1 \
    --train-iters "$ITERS" --log-interval 50 --save-iters 100 --save runs/mlstm_cpu/lang_model.pt --resume auto "$@"

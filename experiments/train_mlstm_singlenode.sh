#!/usr/bin/env bash
# The papers' mLSTM pretraining on one node of GPUs (Puri et al. 2018, arXiv 1808.01371; Radford et al. 2017):
# 4096-unit multiplicative LSTM, 64-d character embedding, sequences of 256, batch 32 per GPU, Adam 5e-4
# scaled by the number of GPUs, linear decay to zero, gradient clipping 1, fp16 with a dynamic loss scale.
# DATA is one JSON object per line with the text under "reviewText" (Amazon reviews), read lazily.
# Multi-node: replace the launcher with
#   torchrun --nnodes N --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 --rdzv-id JOB \
#            --max-restarts 3 pretrain.py ...        (every node runs the same command; --resume auto resumes)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/amazon/reviews.json}
GPUS=${GPUS:-$(python -c "import torch; print(max(torch.cuda.device_count(), 1))")}
LR=$(python -c "print(5e-4 * $GPUS)")
python -m multiproc --nproc "$GPUS" pretrain.py --data "$DATA" --loose-json --lazy --text-key reviewText \
    --split 1000,1,1 --model mLSTM --nhid 4096 --emsize 64 --nlayers 1 --batch-size 32 --seq-length 256 \
    --lr "$LR" --decay-style linear --clip 1 --epochs 1 --fp16 --dynamic-loss-scale \
    --save-iters 5000 --log-interval 100 --save checkpoints/mlstm.pt --resume auto "$@"

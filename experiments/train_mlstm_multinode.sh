#!/usr/bin/env bash
# train_mlstm_singlenode.sh on several nodes of GPUs (Puri et al. 2018, arXiv 1808.01371, trained on up to
# 16 DGX-1s): the same 4096-unit mLSTM and flags, launched by torchrun on every node. Run this same command
# on each node (only NODE_RANK may differ); the learning rate is 5e-4 scaled by the number of GPUs in all.
# torchrun's flags, as used here:
#   --nnodes $NNODES              how many nodes join the job (MIN:MAX allows an elastic job)
#   --nproc-per-node $GPUS        processes on this node, one per GPU
#   --node-rank $NODE_RANK        this node's index 0..NNODES-1: needed by RDZV_BACKEND=static; c10d numbers
#                                 the nodes itself (and warns that it ignores a given rank), so it is optional
#   --rdzv-backend $RDZV_BACKEND  how the nodes find each other: c10d (a TCP store hosted by the first node
#                                 to arrive) or static (MASTER_ADDR is node 0)
#   --rdzv-endpoint $MASTER_ADDR:$MASTER_PORT   host:port of that store, reachable from every node
#   --rdzv-id $RDZV_ID            job name shared by all nodes, so two jobs on one endpoint stay apart
#   --max-restarts 3              restart the workers up to 3 times after a failure; --resume auto then
#                                 continues from the newest checkpoint
# DATA and SAVE must be the same paths on every node (a shared filesystem); rank 0 writes the checkpoints.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/amazon/reviews.json}
SAVE=${SAVE:-checkpoints/mlstm.pt}
NNODES=${NNODES:-2}
GPUS=${GPUS:-$(python -c "import torch; print(max(torch.cuda.device_count(), 1))")}
NODE_RANK=${NODE_RANK:-}
MASTER_ADDR=${MASTER_ADDR:?set MASTER_ADDR to the address of the first node}
MASTER_PORT=${MASTER_PORT:-29500}
RDZV_BACKEND=${RDZV_BACKEND:-c10d}
RDZV_ID=${RDZV_ID:-mlstm_pretrain}
LR=$(python -c "print(5e-4 * $NNODES * $GPUS)")

torchrun --nnodes "$NNODES" --nproc-per-node "$GPUS" ${NODE_RANK:+--node-rank "$NODE_RANK"} \
    --rdzv-backend "$RDZV_BACKEND" --rdzv-endpoint "$MASTER_ADDR:$MASTER_PORT" --rdzv-id "$RDZV_ID" \
    --max-restarts 3 \
    pretrain.py --data "$DATA" --loose-json --lazy --text-key reviewText \
    --split 1000,1,1 --model mLSTM --nhid 4096 --emsize 64 --nlayers 1 --batch-size 32 --seq-length 256 \
    --lr "$LR" --decay-style linear --clip 1 --epochs 1 --fp16 --dynamic-loss-scale \
    --save-iters 5000 --log-interval 100 --save "$SAVE" --resume auto "$@"

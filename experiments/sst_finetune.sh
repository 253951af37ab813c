#!/usr/bin/env bash
# Binary SST from a pretrained 4096-unit character mLSTM, finetuned end to end as in Kant et al. 2018
# (arXiv 1812.01207): linear head on the last hidden state, lr 1e-5 held constant (the original
# finetuning's default), fp16 with dynamic loss scaling, the decision threshold tuned on val for F1; the
# best epoch by validation accuracy; then the test split is scored and run_classifier.py applies the result.
#   LOAD  an mLSTM LM; NPROC processes (default: one per visible GPU); batch 32 per process.
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=${LOAD:-mlstm.pt}
RUN=${RUN:-runs/sst_finetune}
NPROC=${NPROC:-}   # empty: multiproc starts one process per visible GPU
mkdir -p "$RUN"

python -m multiproc ${NPROC:+--nproc "$NPROC"} finetune_classifier.py --load "$LOAD" \
    --data data/binary_sst/train.csv --valid data/binary_sst/val.csv --test data/binary_sst/test.csv \
    --get-hidden --lr 1e-5 --epochs 5 --batch-size 32 --decay-style constant --clip 1 \
    --fp16 --dynamic-loss-scale \
    --automatic-thresholding --threshold-metric f1 --report-metric acc --all-metrics \
    --save "$RUN/classifier.pt" --resume auto "$@"
python run_classifier.py --load "$RUN/classifier.pt" --data data/binary_sst/test.csv \
    --save-probs "$RUN/clf_results.npy" --write-results "$RUN/clf_results.csv"

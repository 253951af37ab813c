#!/usr/bin/env bash
# The sentiment neuron on IMDB at paper scale (Radford et al. 2017, arXiv 1704.01444): features of the
# 25k training and 25k test reviews from a pretrained 4096-unit character mLSTM, an L1 logistic regression
# with C chosen on a validation tenth carved out of train (--split 9,1), and the top neuron's own accuracy.
# fp16 inference on one GPU; reviews are long, so the batch is smaller than run_sk_sst.sh's.
#   IMDB     the unpacked aclImdb folder (train/{pos,neg}, test/{pos,neg}, <id>_<rating>.txt files) from
#            https://ai.stanford.edu/~amaas/data/sentiment/ (aclImdb_v1.tar.gz); train/unsup is not read
#   LOAD     the language model (as in run_sk_sst.sh)
#   RESULTS  results subdirectory of <LOAD without extension>_transfer/;  RUN  where test predictions go
set -euo pipefail
cd "$(dirname "$0")/.."
IMDB=${IMDB:-data/aclImdb}
LOAD=${LOAD:-mlstm.pt}
RESULTS=${RESULTS:-imdb}
RUN=${RUN:-runs/sk_imdb}
[ -d "$IMDB/train/pos" ] || { echo "no IMDB at $IMDB: download aclImdb_v1.tar.gz from https://ai.stanford.edu/~amaas/data/sentiment/, unpack it and set IMDB"; exit 1; }
[ -e "$LOAD" ] || { echo "no language model at $LOAD: set LOAD to a checkpoint or OpenAI's .npy directory"; exit 1; }

python transfer.py --load "$LOAD" \
    --data-format imdb --data "$IMDB/train" --test "$IMDB/test" --split 9,1 \
    --neurons 1 --batch-size 32 --fp16 --save-results "$RESULTS" \
    --write-results "$RUN/imdb_test_predictions.csv" "$@"

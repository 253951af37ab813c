#!/usr/bin/env bash
# CPU-sized twin of run_sk_imdb.sh: transfer in IMDB's aclImdb layout (--data-format imdb) with the small
# character mLSTM of experiments/quickstart.sh. IMDB is not bundled: when IMDB does not hold an aclImdb
# folder, this lays out a STAND-IN under $RUN/aclImdb_standin made from the bundled binary SST (train
# sentences -> train/{pos,neg}, test sentences -> test/{pos,neg}, a made-up rating in each file name;
# experiments/imdb_standin.py). Its numbers are SST numbers through the IMDB reader, not IMDB results.
# With the real corpus (https://ai.stanford.edu/~amaas/data/sentiment/, set IMDB) expect an hour or more
# on 2 cores: 50k long reviews; add --max-seq-len 1000 to cut it down.
#   IMDB  aclImdb folder (default data/aclImdb);  LOAD  the language model;  RESULTS / RUN as in run_sk_imdb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
IMDB=${IMDB:-data/aclImdb}
LOAD=${LOAD:-runs/quickstart/lang_model.pt}
RESULTS=${RESULTS:-imdb}
RUN=${RUN:-runs/sk_imdb_cpu}
[ -e "$LOAD" ] || { echo "no language model at $LOAD: run experiments/quickstart.sh or experiments/train_mlstm_cpu.sh first (or set LOAD)"; exit 1; }
if [ ! -d "$IMDB/train/pos" ]; then
    echo "no IMDB at $IMDB (get it from https://ai.stanford.edu/~amaas/data/sentiment/ and set IMDB);"
    echo "using a STAND-IN made from binary SST in aclImdb layout: these are not IMDB results"
    IMDB="$RUN/aclImdb_standin"
    python experiments/imdb_standin.py "$IMDB" --sst data/binary_sst
    RESULTS="${RESULTS}_standin"
fi

python transfer.py --load "$LOAD" \
    --data-format imdb --data "$IMDB/train" --test "$IMDB/test" --split 9,1 \
    --neurons 1 --batch-size 64 --num-workers 2 --save-results "$RESULTS" \
    --write-results "$RUN/imdb_test_predictions.csv" "$@"

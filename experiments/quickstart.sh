#!/usr/bin/env bash
# The whole story on the bundled data, on a CPU, in about ten minutes:
#   1. pretrain a small character-level mLSTM on data/lm_corpus/opinions.json (no SST evaluation text in it);
#   2. transfer it to binary SST: L1 logistic regression on its features, find the sentiment neuron;
#   3. classify the SST test file into clf_results.npy with the saved classifier;
#   4. draw the sentiment neuron over a positive and a negative sentence, and steer generation with it.
# Everything lands in $RUN (default runs/quickstart). Re-running resumes/reuses what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/quickstart}
ITERS=${ITERS:-1000}

python -m pip install --quiet --disable-pip-version-check torch==2.13.0
python -m pip install --quiet --disable-pip-version-check -e .
mkdir -p "$RUN"

echo "== 1. pretrain a small mLSTM language model on data/lm_corpus/opinions.json"
python pretrain.py --data data/lm_corpus/opinions.json --loose-json --text-key text --split 100,1,1 \
    --model mLSTM --nhid 512 --emsize 64 --batch-size 32 --seq-length 64 --lr 2e-3 --clip 1 \
    --train-iters "$ITERS" --log-interval 50 --save-iters 250 --save "$RUN/lang_model.pt" --resume auto

echo "== 2. transfer to binary SST (train/val/test), find the sentiment neuron"
python transfer.py --load "$RUN/lang_model.pt" --neurons 1 --batch-size 128 --use-cached \
    --write-results "$RUN/sst_test_predictions.csv"

echo "== 3. classify the SST test set with the saved classifier"
python run_classifier.py --load "$RUN/lang_model_transfer/classifier.pt" --data data/binary_sst/test.csv \
    --text-key sentence --save-probs "$RUN/clf_results.npy" --write-results "$RUN/clf_results.csv"

echo "== 4. the sentiment neuron over a positive and a negative sentence, and steered generation"
python generate.py --load "$RUN/lang_model_transfer/classifier.pt" --visualize --gen-length 0 \
    --text "a gorgeous, witty, seductive movie that rewards every minute of your attention." \
    --save "$RUN/positive.txt"
python generate.py --load "$RUN/lang_model_transfer/classifier.pt" --visualize --gen-length 0 \
    --text "the plot is a mess, the acting is wooden and the whole thing is a crushing bore." \
    --save "$RUN/negative.txt"
python generate.py --load "$RUN/lang_model_transfer/classifier.pt" --text "this movie is" --gen-length 120 \
    --temperature 0.8 --num-samples 3 --seed 1 --overwrite 1 --visualize --save "$RUN/generated_positive.txt"
python generate.py --load "$RUN/lang_model_transfer/classifier.pt" --text "this movie is" --gen-length 120 \
    --temperature 0.8 --num-samples 3 --seed 1 --overwrite -1 --visualize --save "$RUN/generated_negative.txt"

echo "== done: outputs in $RUN"
ls "$RUN" "$RUN/lang_model_transfer"

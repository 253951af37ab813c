"""Classify the texts of a CSV/TSV/JSON file with a saved classifier (from transfer.py or
finetune_classifier.py).

    python run_classifier.py --load lang_model_transfer/classifier.pt --data data/binary_sst/test.csv
    python run_classifier.py --load clf.pt --data big.json --loose-json --text-key text --lazy \\
        --save-probs out.npy --write-results out.csv

Writes thresholded predictions (--save-probs, default clf_results.npy), probabilities
(clf_results.prob.npy) and, for multi-head classifiers, the heads' std (clf_results.std.npy); row i is
input row i. Without --max-seq-len, rows over 10,000 tokens get one warning (with their count): time
grows with a row's length, and a 1 MB row takes minutes. Output paths are checked before anything is
loaded (writable, not a folder, not --data or --load). See `python run_classifier.py --help`."""
from sentiment_discovery.arguments import reader_options, run_classifier_parser
from sentiment_discovery.cli import run_cli, setup_logging
from sentiment_discovery.output_paths import check_outputs, prediction_outputs
from sentiment_discovery.preflight import check_data


def main(argv=None):
    args = run_classifier_parser().parse_args(argv)
    setup_logging()
    check_data(args.data, **reader_options(args), labels=False, others=[("--load", args.load)])
    check_outputs([*prediction_outputs(args.save_probs), ("--write-results", args.write_results)],
                  inputs=[("--data", args.data), ("--load", args.load)])
    from sentiment_discovery.runtime import choose_device, set_threads
    from sentiment_discovery.transfer.classify import run_classifier
    set_threads(args.num_workers)
    return run_classifier(args, choose_device(args.device))


if __name__ == "__main__":
    run_cli(main)

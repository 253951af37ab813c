"""Classify the texts of a CSV/TSV/JSON file with a saved classifier (from transfer.py or
finetune_classifier.py).

    python run_classifier.py --load lang_model_transfer/classifier.pt --data data/binary_sst/test.csv
    python run_classifier.py --load clf.pt --data big.json --loose-json --text-key text --lazy \\
        --save-probs out.npy --write-results out.csv

Writes thresholded predictions (--save-probs, default clf_results.npy), probabilities
(clf_results.npy.prob.npy) and, for multi-head classifiers, the heads' std (clf_results.npy.std.npy);
row i is input row i. Without --max-seq-len, rows over 10,000 tokens get one warning (with their count): time
grows with a row's length, and a 1 MB row takes minutes. Output paths are checked before anything is
loaded (writable, not a folder, not --data or --load). See `python run_classifier.py --help`."""
from sentiment_discovery.cli import run_cli, start
from sentiment_discovery.output_paths import check_outputs, prediction_outputs
from sentiment_discovery.preflight import check_data


def main(argv=None):
    config = start("run_classifier.py", argv)
    data, options = config.data.data, config.classify
    check_data(data, **config.data.reader_options(), labels=False, others=[("--load", options.load)])
    check_outputs([*prediction_outputs(options.save_probs), ("--write-results", options.write_results)],
                  inputs=[("--data", data), ("--load", options.load)])
    from sentiment_discovery.drivers.classify import run
    return run(config)


if __name__ == "__main__":
    run_cli(main)

"""Find decision thresholds (or ROC AUC) for saved predictions against labels: the original's offline
threshold tool.

    python threshold.py --task binary --preds-file clf_results.npy.prob.npy --labels-file data/semeval/val.csv \\
        --non-binary-cols anger anticipation disgust fear joy sadness surprise trust --metric f1 --micro
    python threshold.py --task auc --preds-file clf_results.npy.prob.npy --labels-file data/binary_sst/test.csv
    python threshold.py --task scalar --preds-file neuron_values.npy --labels-file labels.npy --metric acc

See `python threshold.py --help`."""
from sentiment_discovery.cli import run_cli, start


def main(argv=None):
    config = start("threshold.py", argv)
    from sentiment_discovery.drivers.threshold import run
    return run(config)


if __name__ == "__main__":
    run_cli(main)

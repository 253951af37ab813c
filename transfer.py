"""Find the sentiment neuron: featurize labelled text with a frozen language model, fit an L1 logistic
regression on the features, and report the top neurons (Radford et al. 2017, arXiv 1704.01444).

    python transfer.py --load lang_model.pt                       (binary SST by default)
    python transfer.py --load mlstm_npy/ --data train.csv --valid val.csv --test test.csv --neurons 3

Results go to <load stem>_transfer/<--save-results>/: results.json, classifier.pt (for
run_classifier.py), feature caches (trXt.npy ...) and plots. See `python transfer.py --help`."""
from sentiment_discovery.cli import run_cli, start
from sentiment_discovery.preflight import check_data


def main(argv=None):
    config = start("transfer.py", argv)
    check_data(*config.data.files(), **config.data.reader_options(), labels=True,
               others=config.model.input_files())
    from sentiment_discovery.drivers.transfer import run
    return run(config)


if __name__ == "__main__":
    run_cli(main)

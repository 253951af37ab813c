"""Train a language model (mLSTM, LSTM, GRU or transformer) on a text corpus.

    python pretrain.py --data data/lm_corpus/opinions.json --loose-json --text-key text --nhid 512
    torchrun --nproc-per-node 8 pretrain.py ...        (or: python -m multiproc pretrain.py ...)

See `python pretrain.py --help` for every flag and README.md for recipes."""
from sentiment_discovery.cli import run_cli, start
from sentiment_discovery.preflight import check_data


def main(argv=None):
    config = start("pretrain.py", argv)
    check_data(*config.data.files(), **config.data.reader_options(), labels=False,
               others=[("--load", config.model.load)])
    from sentiment_discovery.drivers.pretrain import run
    return run(config)


if __name__ == "__main__":
    run_cli(main)

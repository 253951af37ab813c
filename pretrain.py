"""Train a language model (mLSTM, LSTM, GRU or transformer) on a text corpus.

    python pretrain.py --data data/lm_corpus/opinions.json --loose-json --text-key text --nhid 512
    torchrun --nproc-per-node 8 pretrain.py ...        (or: python -m multiproc pretrain.py ...)

See `python pretrain.py --help` for every flag and README.md for recipes."""
from sentiment_discovery.arguments import data_files, pretrain_parser, reader_options
from sentiment_discovery.cli import run_cli, setup_logging
from sentiment_discovery.preflight import check_data


def main(argv=None):
    args = pretrain_parser().parse_args(argv)
    setup_logging()
    check_data(*data_files(args), **reader_options(args), labels=False, others=[("--load", args.load)])
    from sentiment_discovery.training.pretraining import pretrain
    return pretrain(args)


if __name__ == "__main__":
    run_cli(main)

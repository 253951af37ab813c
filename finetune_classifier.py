"""Finetune a language model and a classifier head together (binary, multi-class or multi-label), after
"Practical Text Classification With Large Pre-Trained Language Models" (Kant et al. 2018, arXiv 1812.01207).

    python finetune_classifier.py --load lang_model.pt --data data/binary_sst/train.csv \\
        --valid data/binary_sst/val.csv --test data/binary_sst/test.csv --automatic-thresholding
    python finetune_classifier.py --load lang_model.pt --data data/semeval/train.csv \\
        --valid data/semeval/val.csv --text-key Tweet --non-binary-cols anger anticipation disgust fear \\
        joy sadness surprise trust --automatic-thresholding --threshold-metric f1
    torchrun --nproc-per-node 8 finetune_classifier.py ...     (or: python -m multiproc finetune_classifier.py ...)

Writes the best classifier to --save (run_classifier.py loads it), `<stem>.metrics.jsonl`, a report
(`<stem>_report.txt/.json`) and plots beside it. See `python finetune_classifier.py --help`."""
from sentiment_discovery.cli import run_cli, start
from sentiment_discovery.preflight import check_data


def main(argv=None):
    config = start("finetune_classifier.py", argv)
    check_data(*config.data.files(), **config.data.reader_options(), labels=True,
               others=config.model.input_files())
    from sentiment_discovery.drivers.finetune import run
    return run(config)


if __name__ == "__main__":
    run_cli(main)

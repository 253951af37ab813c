"""Featurizing throughput of run_classifier.py's path (tokenize, length-ordered batches, mLSTM encoder,
head, outputs written block by block into .npy files) on the SST test sentences, in characters per second.

Each configuration (hidden size x precision) is run with the fast recurrent path and with the plain
reference cell (`rnn.impl = "reference"`) on the same texts in the same process, so the speedup is a
ratio that survives a noisy machine. Random weights (speed does not depend on them). One JSON line
per configuration.

    python bench/bench_featurize.py                          (first 200 sentences, hidden 4096 and 1024)
    python bench/bench_featurize.py --sentences 1821 --hidden 4096 --precision fp32 bf16
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sentiment_discovery.data.formats.readers import read_dataset  # noqa: E402
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer  # noqa: E402
from sentiment_discovery.models.classifier import build_classifier, classifier_config  # noqa: E402
from sentiment_discovery.models.language_model import recurrent_config  # noqa: E402
from sentiment_discovery.training.distributed import DistEnv  # noqa: E402
from sentiment_discovery.classification import (CHUNK_BATCHES, BlockSettings, LoadedClassifier,  # noqa: E402
                                                   OutputFiles, classify_rows)
from sentiment_discovery.transfer.featurize import prepare_for_inference  # noqa: E402

SST_TEST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "binary_sst",
                        "test.csv")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", default=SST_TEST, help="CSV with a 'sentence' column")
    parser.add_argument("--sentences", type=int, default=200, help="use the first N sentences")
    parser.add_argument("--hidden", type=int, nargs="+", default=[4096, 1024], help="mLSTM hidden sizes")
    parser.add_argument("--emsize", type=int, default=64, help="embedding size")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per batch")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"],
                        help="precisions to measure")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference cell")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return parser.parse_args(argv)


def random_classifier(hidden, emsize, seed=0):
    torch.manual_seed(seed)
    encoder_config = recurrent_config(nhid=hidden, emsize=emsize)
    return build_classifier(classifier_config(encoder_config, n_outputs=1))


def time_classify(model, impl, precision, dataset, batch_size):
    """(seconds, stats) of one classify_rows run with the encoder's recurrent implementation `impl`."""
    model.encoder.rnn.impl = impl
    model, context = prepare_for_inference(model, precision, "cpu")
    loaded = LoadedClassifier(model, CharTokenizer(), ["label"], np.array([0.5]), "bench")
    settings = BlockSettings(CHUNK_BATCHES * batch_size, batch_size, None, torch.device("cpu"), context, False)
    with tempfile.TemporaryDirectory() as folder:
        work = os.path.join(folder, "work")
        os.makedirs(work)
        final = {"pred": os.path.join(folder, "p.npy"), "prob": os.path.join(folder, "p.prob.npy")}
        files = OutputFiles(work, final, (len(dataset.texts), 1), {}, None)
        started = time.perf_counter()
        classify_rows(loaded, dataset, settings, files, 0, "sentence", DistEnv(), progress=False)
        seconds = time.perf_counter() - started
        files.commit()
    return seconds, files.stats


def measure(hidden, precision, dataset, args):
    model = random_classifier(hidden, args.emsize)
    n_chars = sum(len(text) for text in dataset.texts)
    row = {"bench": "featurize", "path": "run_classifier", "model": "mLSTM", "hidden": hidden,
           "emsize": args.emsize, "precision": precision, "batch_size": args.batch_size,
           "texts": len(dataset.texts), "chars": n_chars, "threads": torch.get_num_threads()}
    time_classify(model, "fast", precision, dataset.subset(range(min(8, len(dataset.texts)))), args.batch_size)
    seconds, _ = time_classify(model, "fast", precision, dataset, args.batch_size)
    row["fast_chars_per_s"] = round(n_chars / seconds, 1)
    row["fast_texts_per_s"] = round(len(dataset.texts) / seconds, 2)
    if not args.no_reference:
        seconds_ref, _ = time_classify(model, "reference", precision, dataset, args.batch_size)
        row["reference_chars_per_s"] = round(n_chars / seconds_ref, 1)
        row["speedup_vs_reference"] = round(seconds_ref / seconds, 2)
    return row


def main(argv=None):
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dataset = read_dataset([args.data], require_labels=False)
    dataset = dataset.subset(range(min(args.sentences, len(dataset.texts))))
    for hidden in args.hidden:
        for precision in args.precision:
            print(json.dumps(measure(hidden, precision, dataset, args)), flush=True)


if __name__ == "__main__":
    main()

"""Assembly shared by the top-level scripts: device choice, the train/val/test data sets a script's
flags describe, and the tokenizer. Scripts stay thin: parse, call these, call the library."""
import logging
import os

import torch

from .arguments import data_files, reader_options
from .data.readers import read_dataset
from .data.splits import parse_split, split_dataset
from .errors import UserError

log = logging.getLogger(__name__)


def choose_device(requested=None, local_rank=None):
    """`--device` if given, else the local CUDA device when present, else CPU."""
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"--device {requested} was asked for, but no CUDA device is available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank or 0)
    return torch.device("cpu")


def set_threads(num_workers):
    """`--num-workers N` caps torch's intra-op threads (0 leaves torch's default)."""
    if num_workers and num_workers > 0:
        torch.set_num_threads(num_workers)


def _check_paths(paths, flag):
    for path in paths or []:
        if not os.path.exists(path):
            raise UserError(f"{flag} file not found: {path}")


def load_splits(args, require_labels=True, keep_empty=False, process_fn=None):
    """Train/val/test data sets from --data/--valid/--test and --split.

    When --valid or --test is absent, that part is carved out of --data by the --split fractions.
    `process_fn` (a name, data/preprocess.py) is applied as the records are read; None keeps the raw text
    (the tools that read with a model apply the model's process function when they tokenize).
    Returns (train, valid, test); valid/test may be None when neither a file nor a fraction asks for them.
    """
    options = dict(reader_options(args), process_fn=process_fn)
    data, valid_files, test_files = data_files(args)
    _check_paths(data, "--data")
    _check_paths(valid_files, "--valid")
    _check_paths(test_files, "--test")
    if not data:
        raise UserError("no training data: pass --data FILE")
    train = read_dataset(data, require_labels=require_labels, keep_empty=keep_empty, **options)
    fractions = parse_split(args.split)
    needs_split = (valid_files is None and fractions[1] > 0) or (test_files is None and fractions[2] > 0)
    carved = split_dataset(train, fractions, seed=args.seed) if needs_split else [train, None, None]
    train = carved[0]
    if options["class_names"] is None:  # word labels elsewhere must be the training data's class names
        options = dict(options, known_class_names=list(train.class_names or []))
    valid = _read_optional(valid_files, options, carved[1], keep_empty, require_labels=require_labels)
    test = _read_optional(test_files, options, carved[2], keep_empty, require_labels=False)
    return train, valid, test


def _read_optional(paths, options, fallback, keep_empty, require_labels=True):
    if not paths:
        return fallback if fallback is not None and len(fallback.texts) > 0 else None
    return read_dataset(paths, require_labels=require_labels, keep_empty=keep_empty, **options)

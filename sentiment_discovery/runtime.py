"""Assembly shared by the library's entry points: device choice, threads, the train/val/test data sets a
`config.DataConfig` describes, and the options that change how (not what) a model computes."""
import logging
import os

import torch

from .data.formats.readers import read_dataset
from .data.formats.splits import parse_split, split_dataset
from .errors import UserError

log = logging.getLogger(__name__)


def choose_device(requested=None):
    """`--device` if given, else the local CUDA device when present, else CPU."""
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"--device {requested} was asked for, but no CUDA device is available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", 0)
    return torch.device("cpu")


def set_threads(threads):
    """`--threads N` (alias `--num-workers`) caps torch's intra-op threads (0 leaves torch's default: one per
    physical core, or OMP_NUM_THREADS); the choice and the OpenMP wait policy (cli.configure_threads) are logged."""
    if threads and threads > 0:
        torch.set_num_threads(threads)
    policy = os.environ.get("OMP_WAIT_POLICY", "unset").lower()
    log.info("threads: %d, wait policy %s", torch.get_num_threads(), policy)


def set_runtime_options(model, rnn_impl="fast", compile_model=False):
    """Options that change how, not what, the model computes: --rnn-impl (recurrent models), --compile."""
    rnn = getattr(model, "rnn", None)
    if rnn is not None and hasattr(rnn, "impl"):
        rnn.impl = rnn_impl
    elif rnn_impl != "fast":
        log.warning("--rnn-impl %s ignored: the %s model has no recurrent layers", rnn_impl,
                    getattr(model, "config", {}).get("model", "loaded"))
    if compile_model:
        log.warning("--compile: torch.compile takes a while to start and gave no gain on the recurrent "
                    "models measured here (see analysis/)")
        model.forward = torch.compile(model.forward)
    return model


def report_ignored_architecture(model_config, loaded_config, source):
    """Log one line per typed architecture flag (--nhid, ...) that the loaded model `source` overrides."""
    for line in model_config.ignored_by(loaded_config, source):
        log.warning(line)


def _check_paths(paths, flag):
    for path in paths or []:
        if not os.path.exists(path):
            raise UserError(f"{flag} file not found: {path}")


def load_splits(data_config, seed, require_labels=True, process_fn=None):
    """Train/val/test data sets from a `config.DataConfig` (--data/--valid/--test and --split).

    When --valid or --test is absent, that part is carved out of --data by the --split fractions (shuffled
    with `seed`). `process_fn` (a name, data/preprocess.py) is applied as the records are read; None keeps
    the raw text (the tools that read with a model apply the model's process function when they tokenize).
    Returns (train, valid, test); valid/test may be None when neither a file nor a fraction asks for them.
    """
    options = dict(data_config.reader_options(), process_fn=process_fn)
    data, valid_files, test_files = data_config.files()
    _check_paths(data, "--data")
    _check_paths(valid_files, "--valid")
    _check_paths(test_files, "--test")
    if not data:
        raise UserError("no training data: pass --data FILE")
    train = read_dataset(data, require_labels=require_labels, **options)
    fractions = parse_split(data_config.split)
    needs_split = (valid_files is None and fractions[1] > 0) or (test_files is None and fractions[2] > 0)
    carved = split_dataset(train, fractions, seed=seed) if needs_split else [train, None, None]
    train = carved[0]
    if options["class_names"] is None:  # word labels elsewhere must be the training data's class names
        options = dict(options, known_class_names=list(train.class_names or []))
    valid = _read_optional(valid_files, options, carved[1], require_labels=require_labels)
    test = _read_optional(test_files, options, carved[2], require_labels=False)
    return train, valid, test


def _read_optional(paths, options, fallback, require_labels):
    if not paths:
        return fallback if fallback is not None and len(fallback.texts) > 0 else None
    return read_dataset(paths, require_labels=require_labels, **options)

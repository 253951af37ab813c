"""Saving and loading the project's checkpoints: one versioned dict of plain data and tensors ("format",
"format_version", "kind" and the kind's keys: a language model's from training/language_model_task.py's
`payload`, a classifier's from `classifier_payload` below).

A checkpoint is written atomically (atomic.py), so a crash mid-write leaves the previous file intact. It is
read with `torch.load(weights_only=True)`, so loading one never runs code; anything wrong with the file
becomes a one-line `UserError`. Every older version is returned in the current layout (`upgrade`), so the
code that reads a payload knows one layout only.
"""
import logging
import os
import pickle
import random
import re
import warnings
import zipfile
from collections import OrderedDict

import numpy as np
import torch

from .atomic import atomic_open
from .data.preprocess import PROCESS_FN_KEY, default_process_fn
from .data.tokenizers.builtin import CharTokenizer
from .errors import UserError

log = logging.getLogger(__name__)

FORMAT_NAME = "sentiment-discovery"
FORMAT_VERSION = 2
KIND_WORDS = {"lm": "language model", "classifier": "classifier"}
PLAIN_SCALARS = (str, bytes, int, float, bool, type(None))
IMPORTER_HINT = ("original sentiment-discovery checkpoints and OpenAI .npy directories "
                 "load through the importers (pass them to --load)")


def check_plain_data(value, where="payload"):
    """Raise TypeError naming the first value that `torch.load(weights_only=True)` could not read back."""
    if isinstance(value, torch.Tensor) or type(value) in PLAIN_SCALARS:  # exact: np.float64 is a float subclass
        return
    if type(value) in (dict, OrderedDict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where} has a key of type {type(key).__name__}; use str or int keys")
            check_plain_data(item, f"{where}[{key!r}]")
        return
    if type(value) in (list, tuple, torch.Size):
        for index, item in enumerate(value):
            check_plain_data(item, f"{where}[{index}]")
        return
    raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__name__}, which a checkpoint "
                    "cannot hold; convert it to tensors, lists, dicts, numbers, strings or bytes")


def save_checkpoint(path, payload):
    """Write `payload` (+ format name and version) to `path` atomically, creating parent directories."""
    full = {**payload, "format": FORMAT_NAME, "format_version": FORMAT_VERSION}
    check_plain_data(full)
    path = os.fspath(path)
    with atomic_open(path, "wb") as temp_file:
        torch.save(full, temp_file)
    return path


FOREIGN_GLOBAL = re.compile(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)")


def foreign_global_name(error):
    """The class/function a weights_only load refused (e.g. "argparse.Namespace"), or None."""
    match = FOREIGN_GLOBAL.search(str(error))
    return match.group(1) if match else None


def read_torch_file(path):
    """`torch.load(weights_only=True)` with every failure turned into a one-line UserError."""
    if not os.path.exists(path):
        raise UserError(f"checkpoint {path} does not exist")
    if os.path.isdir(path):
        raise UserError(f"checkpoint {path} is a directory, not a checkpoint file")
    if os.path.getsize(path) == 0:
        raise UserError(f"checkpoint {path} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise UserError(f"checkpoint {path} cannot be read: permission denied") from None
    except pickle.UnpicklingError as err:
        foreign = foreign_global_name(err)
        if foreign:
            raise UserError(f"{path} is not a sentiment-discovery checkpoint: it holds Python objects "
                            f"({foreign}); {IMPORTER_HINT}") from None
        raise UserError(f"{path} is not a readable PyTorch file (corrupted or another format)") from None
    except (OSError, RuntimeError, EOFError, KeyError, ValueError, IndexError, TypeError, AttributeError,
            zipfile.BadZipFile, UnicodeDecodeError, OverflowError, MemoryError) as err:
        truncated = isinstance(err, (OSError, RuntimeError, EOFError))
        reason = "truncated or corrupted" if truncated else "corrupted or another format"
        raise UserError(f"{path} is not a readable PyTorch file ({reason})") from None


def is_checkpoint_payload(contents):
    """True when unpickled `contents` carry this project's format marker."""
    return isinstance(contents, dict) and contents.get("format") == FORMAT_NAME


def check_checkpoint(payload, path, expect_kind=None):
    """Check an unpickled payload's marker, version and kind (`expect_kind`: a kind or a tuple of kinds);
    return it in the current layout (`upgrade`)."""
    if not is_checkpoint_payload(payload):
        raise UserError(f"{path} is not a sentiment-discovery checkpoint (it has no format marker); {IMPORTER_HINT}")
    version = payload.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise UserError(f"{path} has an unknown checkpoint format version {version!r}")
    if version > FORMAT_VERSION:
        raise UserError(f"{path} has checkpoint format version {version!r}, newer than this program reads "
                        f"({FORMAT_VERSION}); upgrade sentiment-discovery")
    if expect_kind is not None:
        expected = (expect_kind,) if isinstance(expect_kind, str) else tuple(expect_kind)
        kind = payload.get("kind")
        if kind not in expected:
            found = KIND_WORDS.get(kind, repr(kind))
            wanted = " or ".join(KIND_WORDS.get(k, k) for k in expected)
            article = "an" if wanted[0] in "aeiou" else "a"
            raise UserError(f"{path} is a {found} checkpoint, but {article} {wanted} is expected")
    if version < FORMAT_VERSION:
        log.info("%s: checkpoint format version %d, read as version %d", path, version, FORMAT_VERSION)
    return upgrade(payload)


def load_checkpoint(path, expect_kind=None):
    """Read one of our checkpoints, in the current layout; `expect_kind` ("lm", "classifier" or a tuple of
    them) is checked."""
    path = os.fspath(path)
    return check_checkpoint(read_torch_file(path), path, expect_kind)


def classifier_payload(classifier_config, model_state, tokenizer, labels, thresholds, process_fn, source,
                       neurons=None, class_names=None):
    """The payload of a classifier checkpoint (kind "classifier"; analysis/architecture.md section 4).

    classifier_config: what models.classifier.build_classifier takes (the encoder's config included);
    model_state: the ClassifierModel's state dict; labels, thresholds: one per output column; process_fn:
    the text clean-up of its encoder (data/preprocess.py); source: "transfer" | "finetune"; neurons: the
    top neurons {"indices": [...], "signs": [...]} or None; class_names: the names of a single label
    column's class ids (binary: class 0 then class 1), None when the labels were numbers."""
    return {
        "kind": "classifier", "classifier_config": classifier_config, "model_state": model_state,
        "tokenizer": tokenizer.to_dict(), "labels": [str(name) for name in labels],
        "thresholds": [float(t) for t in thresholds], "neurons": neurons, "source": source,
        "class_names": [str(name) for name in class_names] if class_names else None,
        PROCESS_FN_KEY: process_fn,
    }


# --- older layouts ------------------------------------------------------------------------------
def upgrade(payload):
    """A checked payload of any format version in the current layout: each version's step, in turn, on
    a shallow copy (the caller's dict is left as it was)."""
    payload = dict(payload)
    for version in range(payload["format_version"], FORMAT_VERSION):
        UPGRADE_STEPS[version](payload)
        payload["format_version"] = version + 1
    return payload


ANNEALING_LR_KEYS = ("iteration", "num_iters", "warmup", "decay_style", "constant_decay", "stlr_cut_frac",
                     "stlr_ratio", "exp_final_ratio", "min_lr", "base_lrs")


def schedule_on_lambdalr(payload):
    """A schedule state of the hand-written `AnnealingLR` (its plain settings) becomes the LambdaLR state of
    training/schedules.py's `WarmupDecayLR`: one `LRFactor`'s attributes per parameter group."""
    old = payload.get("schedule")
    if old is None or "lr_lambdas" in old:
        return
    missing = [key for key in ANNEALING_LR_KEYS if key not in old]
    if missing:
        raise UserError(f"LR scheduler state is missing {', '.join(missing)}")
    factor = {"num_iters": int(old["num_iters"]), "warmup": int(old["warmup"]), "decay_style": old["decay_style"],
              "constant_decay": None if old["constant_decay"] in (None, 0) else int(old["constant_decay"]),
              "stlr_cut_frac": old["stlr_cut_frac"], "stlr_ratio": float(old["stlr_ratio"]),
              "exp_final_ratio": float(old["exp_final_ratio"])}
    base_lrs = [float(lr) for lr in old["base_lrs"]]
    floors = [float(old["min_lr"]) / base if base > 0 else 0.0 for base in base_lrs]
    iteration = int(old["iteration"])
    payload["schedule"] = {"base_lrs": base_lrs, "last_epoch": iteration, "_step_count": iteration + 1,
                           "lr_lambdas": [dict(factor, floor=floor) for floor in floors]}


def fp16_state_on_grad_scaler(payload):
    """--fp16 ran on a hand-written FP16Optimizer (fp32 master copies of a half model) and loss scaler; it
    now runs on fp32 weights, a plain optimizer and torch.amp.GradScaler. The FP16Optimizer state keeps
    its inner optimizer's state (whose params were the masters, which "model_state" already holds); a
    dynamic loss scaler's state becomes GradScaler's, a static one's nothing (its scale is --loss-scale)."""
    optimizer = payload.get("optimizer")
    if isinstance(optimizer, dict) and "master_params" in optimizer:
        payload["optimizer"] = optimizer["optimizer"]
    precision = payload.get("precision")
    if precision is None or precision["mode"] != "fp16" or precision["scaler"] is None:
        return
    scaler = precision["scaler"]
    dynamic = "scale_window" in scaler
    payload["precision"] = dict(precision, scaler={
        "scale": float(scaler["loss_scale"]), "growth_factor": float(scaler["scale_factor"]),
        "backoff_factor": 1.0 / float(scaler["scale_factor"]), "growth_interval": int(scaler["scale_window"]),
        "_growth_tracker": int(scaler["clean_steps"])} if dynamic else None)


def progress_of_the_loop(payload):
    """A run position as training/loop.py's Progress: a language model's top-level iteration, best
    validation loss and evaluations (its epoch is not recorded: None), a finetuning run's best thresholds."""
    if "iteration" in payload and "progress" not in payload:
        history = payload.pop("evaluations", [])
        best = min(history, key=lambda row: row["val_loss"]) if history else {}
        payload["progress"] = {"epoch": None, "step_in_epoch": None, "iteration": int(payload.pop("iteration")),
                               "best_value": -float(payload.pop("best_val_loss", float("inf"))),
                               "best_epoch": int(best.get("epoch", 0)), "best_keep": {}, "history": history,
                               "running": {}}
    progress = payload.get("progress")
    if isinstance(progress, dict) and "best_thresholds" in progress:
        progress = dict(progress, best_keep={"thresholds": progress["best_thresholds"]})
        del progress["best_thresholds"]
        payload["progress"] = progress


def encoder_config_once(payload):
    """A classifier kept its encoder's config twice ("model_config" and classifier_config["encoder"]) and
    its feature options twice ("feature_options" and classifier_config["features"]); "classifier_config"
    keeps both. (A classifier with no "classifier_config" kept it under "model_config".)"""
    if payload.get("kind") != "classifier":
        return
    config = payload.pop("model_config", None)
    if "classifier_config" not in payload and isinstance(config, dict) and "encoder" in config:
        payload["classifier_config"] = config
    payload.pop("feature_options", None)


def records_added_later(payload):
    """Records that files written before they existed lack: a classifier's class names (None: the labels
    were numbers), the process function (the encoder kind's default, logged) and, for a character model,
    the tokenizer."""
    if payload.get("kind") == "classifier":
        payload.setdefault("class_names", None)
    encoder = _encoder_config(payload)
    if encoder is None:
        return
    if payload.get("tokenizer") is None and encoder.get("vocab_size") == CharTokenizer.vocab_size:
        payload["tokenizer"] = CharTokenizer().to_dict()
    if PROCESS_FN_KEY not in payload:
        payload[PROCESS_FN_KEY] = default_process_fn((payload.get("tokenizer") or {}).get("kind"))
        log.info("the checkpoint records no process function (written before they were recorded): its text "
                 "is read with %s; --process-fn overrides", payload[PROCESS_FN_KEY])


def _encoder_config(payload):
    """The config of a payload's language model (a classifier's encoder), or None when it has none."""
    config = payload.get("model_config")
    if payload.get("kind") == "classifier":
        config = (payload.get("classifier_config") or {}).get("encoder")
    return config if isinstance(config, dict) and "model" in config else None


def upgrade_1_to_2(payload):
    """Version 1 -> 2: schedules on LambdaLR, --fp16 on GradScaler, the run position of the one training
    loop, a classifier's configs once, the records version 1 added over time."""
    schedule_on_lambdalr(payload)
    fp16_state_on_grad_scaler(payload)
    progress_of_the_loop(payload)
    encoder_config_once(payload)
    records_added_later(payload)


UPGRADE_STEPS = {1: upgrade_1_to_2}   # version -> the step that makes it version + 1


def rng_state():
    """The python, numpy (global) and torch (and CUDA) random states, as checkpoint-safe plain data."""
    version, internal, gauss_next = random.getstate()
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    """Restore the random states captured by `rng_state` (CUDA only when both sides have it)."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)

"""Saving and loading the project's checkpoints: one versioned dict of plain data and tensors.

A checkpoint is written atomically (atomic.py: a temporary file in the same directory, then `os.replace`), so a
crash mid-write leaves the previous file intact. It is read with `torch.load(weights_only=True)`, so
loading one never runs code; anything wrong with the file becomes a one-line `UserError`.

Payload layout (analysis/architecture.md, "Checkpoints"): {"format": "sentiment-discovery",
"format_version": 1, "kind": "lm" | "classifier", "model_config", "model_state", "tokenizer", ... training
state ...}. `save_checkpoint` refuses values that weights_only loading could not read back (numpy arrays
and scalars, arbitrary objects), naming where they sit. `rng_state` / `set_rng_state` capture and restore the python, numpy
and torch (and CUDA) random generators in that checkpoint-safe form.
"""
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
from .errors import UserError

FORMAT_NAME = "sentiment-discovery"
FORMAT_VERSION = 1
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


def read_torch_file(path, map_location="cpu"):
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
            return torch.load(path, map_location=map_location, weights_only=True)
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
        reason = "truncated or corrupted" if isinstance(err, (OSError, RuntimeError, EOFError)) else "corrupted or another format"
        raise UserError(f"{path} is not a readable PyTorch file ({reason})") from None


def is_checkpoint_payload(contents):
    """True when unpickled `contents` carry this project's format marker."""
    return isinstance(contents, dict) and contents.get("format") == FORMAT_NAME


def check_checkpoint(payload, path, expect_kind=None):
    """Check an unpickled payload's marker, version and kind (`expect_kind`: a kind or a tuple of kinds)."""
    if not is_checkpoint_payload(payload):
        raise UserError(f"{path} is not a sentiment-discovery checkpoint (it has no format marker); {IMPORTER_HINT}")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
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
    return payload


def load_checkpoint(path, expect_kind=None, map_location="cpu"):
    """Read one of our checkpoints; `expect_kind` ("lm", "classifier" or a tuple of them) is checked."""
    path = os.fspath(path)
    return upgrade_progress(check_checkpoint(read_torch_file(path, map_location), path, expect_kind))


def upgrade_progress(payload):
    """A version-1 run position as training/loop.py's Progress: a language model's top-level iteration, best
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
        progress["best_keep"] = {"thresholds": progress.pop("best_thresholds")}
    return payload


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

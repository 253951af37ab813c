"""The feature caches of a transfer run: `<prefix>Xt.npy` features and `<prefix>Y.npy` labels per split
(prefixes tr, va, te, the original's names) and `features.json`, which records what produced them.

`--use-cached` reuses a split's features only when they still describe the data: the array has one
row per text and the expected width, and the model file, feature options, truncation length, data
source, process function and fingerprint of the texts recorded next to it are the current ones. Otherwise the split is
featurized again and a note says why.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os

import numpy as np

from ..atomic import atomic_open, atomic_path

log = logging.getLogger(__name__)

SPLIT_PREFIXES = {"train": "tr", "valid": "va", "test": "te"}
META_FILE = "features.json"


def feature_path(results_dir: str, split: str) -> str:
    return os.path.join(results_dir, f"{SPLIT_PREFIXES[split]}Xt.npy")


def label_path(results_dir: str, split: str) -> str:
    return os.path.join(results_dir, f"{SPLIT_PREFIXES[split]}Y.npy")


def model_stamp(load: str) -> dict:
    """Which model produced features: its absolute path, size and modification time."""
    path = os.path.abspath(load)
    stat = os.stat(path)
    return {"path": path, "size": int(stat.st_size), "mtime": float(stat.st_mtime)}


def texts_fingerprint(texts) -> str:
    """SHA-1 of the texts in order (a split carved with another seed has other texts)."""
    digest = hashlib.sha1()
    for text in texts:
        digest.update(text.encode("utf-8", errors="replace"))
        digest.update(b"\0")
    return digest.hexdigest()


def split_description(stamp: dict, feature_options: dict, max_len, dataset, process_fn=None) -> dict:
    """Everything a split's cached features depend on, as plain data."""
    return {"model": stamp, "feature_options": dict(feature_options), "max_len": max_len,
            "process_fn": process_fn or "none",
            "source": dataset.source, "rows": len(dataset.texts), "texts": texts_fingerprint(dataset.texts)}


def read_meta(results_dir: str) -> dict:
    path = os.path.join(results_dir, META_FILE)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            meta = json.load(handle)
    except (OSError, json.JSONDecodeError):
        return {}
    return meta if isinstance(meta, dict) else {}


def stale_reason(cached: np.ndarray, recorded: dict | None, wanted: dict, width: int) -> str | None:
    """Why cached features cannot be reused (None when they can)."""
    expected_shape = (wanted["rows"], width)
    if cached.shape != expected_shape:
        return f"they have shape {cached.shape}, the data needs {expected_shape}"
    if recorded is None:
        return f"{META_FILE} does not describe them"
    for key, what in (("model", "the model"), ("feature_options", "the feature options"),
                      ("max_len", "--max-seq-len"), ("process_fn", "the process function (--process-fn)"),
                      ("source", "the data files"), ("texts", "the texts")):
        if recorded.get(key) != wanted[key]:
            return f"{what} changed"
    return None


def load_cached(results_dir: str, split: str, wanted: dict, width: int) -> np.ndarray | None:
    """The cached features of a split when they fit `wanted` (see `split_description`), else None
    (with a note saying why, when a cache file exists)."""
    path = feature_path(results_dir, split)
    if not os.path.isfile(path):
        log.info("%s: no cached features at %s; featurizing", split, path)
        return None
    try:
        cached = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as err:
        log.warning("%s: cached features %s are unreadable (%s); featurizing again", split, path, err)
        return None
    recorded = read_meta(results_dir).get(split)
    reason = stale_reason(cached, recorded, json.loads(json.dumps(wanted)), width)
    if reason:
        log.warning("%s: cached features %s not used (%s); featurizing again", split, path, reason)
        return None
    log.info("%s: using cached features %s %s", split, path, cached.shape)
    return np.asarray(cached, dtype=np.float32)


def save_split(results_dir: str, split: str, features: np.ndarray, labels, description: dict) -> None:
    """Write a split's features (and labels, when it has them) and record what produced them."""
    os.makedirs(results_dir, exist_ok=True)
    with atomic_path(feature_path(results_dir, split)) as temp:
        np.save(temp, features)
    if labels is not None:
        with atomic_path(label_path(results_dir, split)) as temp:
            np.save(temp, labels)
    meta = read_meta(results_dir)
    meta[split] = description
    with atomic_open(os.path.join(results_dir, META_FILE), "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=2)

"""Classifying a file with a saved classifier (the library of run_classifier.py, whose driver is
drivers/classify.py): every text of the file, in constant memory.

The classifier checkpoint (kind "classifier", from transfer.py or finetune_classifier.py) holds
everything: `models.loading.classifier_from_checkpoint` rebuilds the model, the tokenizer, label names,
thresholds, neuron selection and the process function of its encoder come with it (a classifier written
before process functions were recorded: process_str, none for an hf encoder). --process-fn overrides it.
The input is read raw and each text put through the process function when it is tokenized, so the
--write-results CSV carries the input text verbatim. The input is read with `keep_empty=True` (and lazily with
--lazy), so row i of every output is row i of the input; an empty text is classified from zero features
(the state before any token).

Memory stays constant in the number of texts: records are read `chunk_size` at a time, tokenized,
classified in length order, and written into preallocated `.npy` memmaps (and appended to the CSV).

Outputs (with `save_probs` = clf_results.npy):
- clf_results.npy       thresholded predictions (N, L) int8, `prob > threshold` per label;
- clf_results.npy.prob.npy  probabilities (N, L) float32, columns in the checkpoint's label order;
- clf_results.npy.std.npy   the std over heads (N, L) float32, for heads_per_class > 1 only;
- --write-results CSV   `<label> pred` / `<label> prob` columns, `predicted class` (the class name of
                        a binary or multi-class prediction, when the checkpoint stores class names:
                        labels given as words or --class-names), and the text.
They are written under temporary names and renamed when the run completes.
When the input has labels (matching the checkpoint's label count) accuracy and F1 are reported; word
labels are read as the checkpoint's class names.

Without --max-seq-len, rows longer than LONG_ROW_TOKENS (10,000) tokens get one warning with their
count and the flag to use: the recurrence runs once per token, so a 1 MB row alone takes minutes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from .. import atomic
from ..data.preprocess import LEGACY_DEFAULT, resolve_process_fn
from ..data.formats.readers import read_dataset
from ..errors import UserError
from ..models.kinds import max_positions
from ..models.loading import classifier_from_checkpoint
from ..output_paths import prediction_files, reported_write
from ..checkpoint import load_checkpoint
from ..evaluation.labels import predict_labels
from ..evaluation.metrics import metrics_report
from ..inference import (RunStats, classify_batch, effective_max_len, empty_text_outputs, encode_texts,
                         progress_bar, run_length_ordered)
from .featurize import prepare_for_inference

log = logging.getLogger(__name__)

# a row longer than this many tokens, without --max-seq-len, gets one warning: classifying time grows
# with length (a 1 MB row took ~8 minutes on a laptop CPU) and nothing else would say why the run stalls
LONG_ROW_TOKENS = 10_000
CHUNK_BATCHES = 50  # records read per chunk = CHUNK_BATCHES x batch size
NO_LABEL_COLUMN = "\0no label column"  # a key no file has: reads a file without its labels (never shown)


@dataclass
class LoadedClassifier:
    """A classifier checkpoint made ready to run."""
    model: torch.nn.Module
    tokenizer: object
    labels: list[str]
    thresholds: np.ndarray       # (L,)
    neurons: dict | None
    source: str
    max_len: int | None          # the encoder's longest input (transformers), else None
    class_names: list[str] | None = None  # names of the class ids (binary: class 0, class 1), if known
    process_fn: str = LEGACY_DEFAULT  # the text clean-up its encoder was trained with (data/preprocess.py)


# ---------------------------------------------------------------- loading

def load_classifier(path) -> LoadedClassifier:
    """Rebuild the classifier a checkpoint describes; UserError for anything but a classifier."""
    ckpt = load_checkpoint(path, expect_kind="classifier")
    missing = [key for key in ("classifier_config", "model_state", "tokenizer", "labels", "thresholds",
                               "neurons", "source", "class_names") if key not in ckpt]
    if missing:
        raise UserError(f"{path} is a classifier checkpoint without {', '.join(missing)}")
    model, tokenizer, process_fn = classifier_from_checkpoint(ckpt, path)
    labels = [str(name) for name in ckpt["labels"]]
    thresholds = np.asarray(ckpt["thresholds"], dtype=np.float64).ravel()
    if len(labels) != model.n_outputs or thresholds.size != model.n_outputs:
        raise UserError(f"{path} has {model.n_outputs} outputs but {len(labels)} label names and "
                        f"{thresholds.size} thresholds")
    max_len = max_positions(ckpt["classifier_config"]["encoder"])
    class_names = ckpt["class_names"]
    return LoadedClassifier(model, tokenizer, labels, thresholds, ckpt["neurons"], str(ckpt["source"]), max_len,
                            [str(name) for name in class_names] if class_names else None, process_fn)


# ---------------------------------------------------------------- outputs on disk

def output_paths(save_probs: str, multi_head: bool) -> dict:
    """Where predictions, probabilities and (multi-head) stds go, from --save-probs: as the original,
    `clf_results.npy`, `clf_results.npy.prob.npy`, `clf_results.npy.std.npy`."""
    return prediction_files(save_probs, multi_head)


class OutputFiles:
    """The memmaps (and CSV) a run writes, under temporary names until `commit`."""

    def __init__(self, paths: dict, n_rows: int, n_labels: int, csv_path=None):
        self.final = dict(paths, **({"csv": csv_path} if csv_path else {}))
        self.temp = {key: atomic.temporary_path(path) for key, path in self.final.items()}
        shape = (n_rows, n_labels)
        self.arrays = {
            key: np.lib.format.open_memmap(self.temp[key], mode="w+", shape=shape,
                                           dtype=np.int8 if key == "pred" else np.float32)
            for key in paths}
        self.csv_started = False

    def write_csv(self, frame):
        frame.to_csv(self.temp["csv"], mode="a" if self.csv_started else "w", header=not self.csv_started,
                     index=False)
        self.csv_started = True

    def commit(self):
        for array in self.arrays.values():
            array.flush()
        self.arrays.clear()
        for key, final in self.final.items():
            if key == "csv" and not self.csv_started:
                atomic.discard(self.temp[key])
                continue
            atomic.commit(self.temp[key], final)

    def discard(self):
        self.arrays.clear()
        for path in self.temp.values():
            atomic.discard(path)


def predicted_class(class_names, preds, probs):
    """(n,) class names of the predictions: a binary classifier's thresholded output picks class 0 or 1,
    a multi-class one's most probable output; None when the checkpoint has no class names for them."""
    if not class_names:
        return None
    names = np.asarray(class_names, dtype=object)
    if probs.shape[1] == 1 and len(names) == 2:
        return names[preds[:, 0].astype(np.int64)]
    if probs.shape[1] == len(names):
        return names[predict_labels(probs, "multiclass")]
    return None


def results_frame(labels, preds, probs, texts, text_key, class_names=None):
    """The --write-results rows of one chunk (a pandas DataFrame): `<label> pred`, `<label> prob` per
    label, `predicted class` when the class names are known, then the text."""
    import pandas as pd
    columns = {}
    for j, name in enumerate(labels):
        columns[f"{name} pred"] = preds[:, j]
        columns[f"{name} prob"] = probs[:, j]
    named = predicted_class(class_names, preds, probs)
    if named is not None:
        columns["predicted class"] = named
    columns[text_key] = list(texts)
    return pd.DataFrame(columns)


# ---------------------------------------------------------------- the run

def read_input(paths, options: dict):
    """The texts to classify (every row kept), with their labels when the file has readable ones."""
    try:
        return read_dataset(paths, require_labels=False, keep_empty=True, **options)
    except UserError as err:
        label_free = dict(options, label_key=NO_LABEL_COLUMN, non_binary_cols=None)
        try:
            dataset = read_dataset(paths, require_labels=False, keep_empty=True, **label_free)
        except UserError:
            raise err from None  # the file is unreadable with or without labels: the first reason is the real one
        log.warning("labels not read (%s); classifying without scoring", err)
        return dataset


def count_long_rows(texts, tokenizer, limit: int | None = None) -> int:
    """How many texts have more than `limit` (default LONG_ROW_TOKENS) tokens (only texts over limit/4
    characters are encoded: a character is at most 4 UTF-8 bytes, no tokenizer gives more tokens than bytes)."""
    limit = LONG_ROW_TOKENS if limit is None else limit
    return sum(len(tokenizer.encode(text)) > limit for text in texts if len(text) > limit // 4)


def warn_long_rows(n_long: int, where: str) -> None:
    log.warning("%d row(s)%s have more than %d tokens and --max-seq-len is not set: classifying time grows "
                "with a row's length (a 1 MB row takes minutes); pass --max-seq-len N to truncate them",
                n_long, where, LONG_ROW_TOKENS)


class LongRowCheck:
    """One warning about very long rows when --max-seq-len is not set: counted over the whole data set
    up front when it is in memory, else (lazy reading) on the first chunk that has any."""

    def __init__(self, dataset, tokenizer, max_len):
        self.active = max_len is None
        self.n_long = 0
        if self.active and isinstance(dataset.texts, list):
            self.n_long = count_long_rows(dataset.texts, tokenizer)
            if self.n_long:
                warn_long_rows(self.n_long, "")
            self.active = False

    def chunk(self, token_lists, start: int) -> None:
        """Count (and warn about, once) a lazily read chunk's long rows (token_lists: int64 arrays)."""
        if not self.active:
            return
        n_long = sum(ids.size > LONG_ROW_TOKENS for ids in token_lists)
        self.n_long += n_long
        if n_long:
            warn_long_rows(n_long, f" of rows {start + 1}-{start + len(token_lists)}")
            self.active = False


def classify_file(loaded: LoadedClassifier, dataset, files: OutputFiles, batch_size: int, max_len,
                  device, context, text_key: str, progress: bool = True) -> RunStats:
    """Classify every text of `dataset` into `files`, chunk by chunk."""
    model = loaded.model
    n_rows = len(dataset.texts)
    chunk_size = max(1, CHUNK_BATCHES * batch_size)
    stats = RunStats()
    long_rows = LongRowCheck(dataset, loaded.tokenizer, max_len)
    with progress_bar(n_rows, "classify", progress) as bar:
        for start in range(0, n_rows, chunk_size):
            texts = [dataset.texts[i] for i in range(start, min(n_rows, start + chunk_size))]
            token_lists, n_truncated, n_chars = encode_texts(texts, loaded.tokenizer, max_len, loaded.process_fn)
            long_rows.chunk(token_lists, start)
            outputs = np.zeros((len(texts), len(loaded.labels), 2), dtype=np.float32)  # (n, L, 2)
            chunk_stats = run_length_ordered(
                token_lists, lambda tokens, lengths: classify_batch(model, tokens, lengths), outputs,
                batch_size, device, context, bar, empty_rows=lambda n: empty_text_outputs(model, n))
            chunk_stats.n_truncated, chunk_stats.n_chars = n_truncated, n_chars
            stats.add(chunk_stats)
            write_chunk(files, loaded, start, outputs, texts, text_key)
    return stats


def write_chunk(files: OutputFiles, loaded: LoadedClassifier, start: int, outputs, texts, text_key):
    probs = outputs[..., 0]  # (n, L)
    preds = predict_labels(probs, "multilabel", loaded.thresholds).astype(np.int8)  # (n, L), per-label thresholds
    end = start + probs.shape[0]
    with reported_write(files.final["pred"], "--save-probs"):
        write_arrays(files, start, end, preds, probs, outputs)
    if "csv" in files.temp:
        with reported_write(files.final["csv"], "--write-results"):
            files.write_csv(results_frame(loaded.labels, preds, probs, texts, text_key, loaded.class_names))


def write_arrays(files: OutputFiles, start: int, end: int, preds, probs, outputs):
    files.arrays["pred"][start:end] = preds
    files.arrays["prob"][start:end] = probs
    if "std" in files.arrays:
        files.arrays["std"][start:end] = outputs[..., 1]


def score_predictions(labels, probs, preds, label_names) -> dict | None:
    """Accuracy / F1 of the predictions against the file's labels, or None when they do not fit:
    multi-label columns against the thresholded predictions, 0/1 labels against a one-output
    classifier's thresholded prediction, class ids against the most probable of several outputs."""
    if labels is None:
        return None
    n_outputs = probs.shape[1]
    if labels.ndim == 2:
        if labels.shape[1] == n_outputs:
            return metrics_report(labels.astype(np.int64), preds.astype(np.int64), task="multilabel")
    elif n_outputs == 1:
        if np.isin(labels, (0, 1)).all():
            return metrics_report(labels.astype(np.int64), preds[:, 0].astype(np.int64), task="binary")
    elif labels.max() < n_outputs:
        return metrics_report(labels.astype(np.int64), predict_labels(probs, "multiclass"), task="multiclass",
                        n_classes=n_outputs)
    shape = "x".join(map(str, labels.shape))
    log.warning("the file's labels (%s) do not fit the classifier's %d output(s) (%s): not scored",
                shape, n_outputs, ", ".join(label_names))
    return None


def classify_to_files(load, data, read_options: dict, save_probs="clf_results.npy", write_results=None,
                      batch_size=64, max_seq_len=None, precision="fp32", device="cpu",
                      progress=True, process_fn=None) -> dict:
    """Classify every text of `data` with the classifier checkpoint `load` (see the module docstring).
    `process_fn`: a process function name overriding the checkpoint's (None: the checkpoint's).

    Returns a summary: output paths, counts and speed, and the scores when the file has labels."""
    if not data:
        raise UserError("nothing to classify: pass --data FILE")
    loaded = load_classifier(load)
    loaded.process_fn = resolve_process_fn(process_fn, loaded.process_fn)
    loaded.model, context = prepare_for_inference(loaded.model, precision, device)
    log.info("classifier %s (from %s; labels: %s; text clean-up: %s)", load, loaded.source,
             ", ".join(loaded.labels), loaded.process_fn)
    if read_options.get("class_names") is None:  # word labels: the classifier's class names, in its order
        read_options = dict(read_options, known_class_names=loaded.class_names or [])
    dataset = read_input(data, read_options)
    max_len = effective_max_len(max_seq_len, loaded.max_len)
    paths = output_paths(save_probs, loaded.model.heads_per_class > 1)
    with reported_write(save_probs, "--save-probs"):
        files = OutputFiles(paths, len(dataset.texts), len(loaded.labels), write_results)
    try:
        stats = classify_file(loaded, dataset, files, batch_size, max_len, device, context,
                              read_options.get("text_key", "sentence"), progress)
        with reported_write(save_probs, "--save-probs"):
            files.commit()
    except BaseException:
        files.discard()
        raise
    summary = {"paths": dict(paths, **({"csv": write_results} if write_results else {})),
               "stats": stats.to_dict(), "labels": loaded.labels, "max_len": max_len,
               "process_fn": loaded.process_fn}
    if dataset.labels is not None:
        probs = np.load(paths["prob"], mmap_mode="r")
        preds = np.load(paths["pred"], mmap_mode="r")
        report = score_predictions(dataset.labels, np.asarray(probs), np.asarray(preds), loaded.labels)
        if report is not None:
            summary["scores"] = report
    return summary

"""Classifying a file with a saved classifier (the library of run_classifier.py, whose driver is
drivers/classify.py): every text of the file, in constant memory, on one process or several, resumable;
README "Large files" describes the sharding, the resuming and a dead process from the user's side.

The classifier checkpoint (kind "classifier", from transfer.py or finetune_classifier.py) holds
everything: `models.loading.classifier_from_checkpoint` rebuilds the model, the tokenizer, label names,
thresholds, neuron selection and the process function of its encoder come with it (a classifier written
before process functions were recorded: process_str, none for an hf encoder). --process-fn overrides it.
The input is read raw and each text put through the process function when it is tokenized, so the
--write-results CSV carries the input text verbatim. The input is read with `keep_empty=True` (and lazily with
--lazy), so row i of every output is row i of the input. An empty or blank row still reaches the model as
the process function's padding (process_str: '\n  '); a text without tokens (--process-fn none) is
classified from zero features (the state before any token). The summary counts both.

Blocks: the rows are cut, in input order, into blocks of CHUNK_BATCHES x batch size rows, each classified
in length order (`inference.run_length_ordered`) by rank b mod world size; rank 0 gathers each round of
blocks and writes them in input order into a work folder (`cache.work_folder`), each block followed by an
atomic `progress.json` (rows done, counts, what the run depends on), and moves them to their names when
complete (`atomic.commit`). A refused `resume="auto"`, SIGTERM or a lost process group raises a `JobError`.

Outputs (with `save_probs` = clf_results.npy):
- clf_results.npy       thresholded predictions (N, L) int8, `prob > threshold` per label;
- clf_results.npy.prob.npy  probabilities (N, L) float32, columns in the checkpoint's label order;
- clf_results.npy.std.npy   the std over heads (N, L) float32, for heads_per_class > 1 only;
- --write-results CSV   `<label> pred` / `<label> prob` columns, `predicted class` (the class name of
                        a binary or multi-class prediction, when the checkpoint stores class names:
                        labels given as words or --class-names), and the text.
When the input has labels (matching the checkpoint's label count) accuracy and F1 are reported; word
labels are read as the checkpoint's class names. Without --max-seq-len, rows longer than LONG_ROW_TOKENS
tokens get one warning with their count and the flag to use.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from . import atomic
from .checkpoint import load_checkpoint
from .data.files.cache import work_folder
from .data.formats.readers import read_dataset
from .data.preprocess import LEGACY_DEFAULT, get_process_fn, resolve_process_fn
from .errors import UserError
from .evaluation.labels import predict_labels
from .evaluation.metrics import metrics_report
from .inference import (RunStats, classify_batch, effective_max_len, empty_text_outputs, encode_texts,
                        progress_bar, run_length_ordered)
from .models.kinds import max_positions
from .models.loading import classifier_from_checkpoint
from .output_paths import prediction_files, reported_write
from .training.distributed import DistEnv, all_gather_objects, broadcast_object
from .transfer.feature_cache import model_stamp as file_identity  # absolute path, size, mtime
from .transfer.featurize import prepare_for_inference

log = logging.getLogger(__name__)

# a row longer than this many tokens, without --max-seq-len, gets one warning: classifying time grows
# with length (the recurrence runs once per token) and nothing else would say why the run stalls
LONG_ROW_TOKENS = 10_000
CHUNK_BATCHES = 50  # rows per block = CHUNK_BATCHES x batch size
NO_LABEL_COLUMN = "\0no label column"  # a key no file has: reads a file without its labels (never shown)
PROGRESS_FILE = "progress.json"
WORK_NAMES = {"pred": "pred.npy", "prob": "prob.npy", "std": "std.npy", "csv": "results.csv"}
STOPPED = ("nothing was written under the output names; the work so far is kept: rerun the same command "
           "with --resume auto to continue")


class JobError(UserError):
    """A UserError every process of the run raises together: rank 0 reports it, the others exit quietly."""


@dataclass
class LoadedClassifier:
    """A classifier checkpoint made ready to run."""
    model: torch.nn.Module
    tokenizer: object
    labels: list[str]
    thresholds: np.ndarray       # (L,)
    source: str
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
    class_names = ckpt["class_names"]
    return LoadedClassifier(model, tokenizer, labels, thresholds, str(ckpt["source"]),
                            [str(name) for name in class_names] if class_names else None, process_fn)


# ---------------------------------------------------------------- outputs on disk

class OutputFiles:
    """Rank 0's outputs while they are written: (N, L) .npy arrays and the CSV in the work `folder`, the
    progress record beside them, the counts so far; `commit` moves them to their names (`final`)."""

    def __init__(self, folder: str, final: dict, shape: tuple, identity: dict, progress: dict | None):
        self.folder, self.final, self.identity = folder, final, identity
        self.work = {key: os.path.join(folder, WORK_NAMES[key]) for key in final}
        self.arrays = [key for key in final if key != "csv"]
        for key in self.arrays if progress is None else ():
            np.lib.format.open_memmap(self.work[key], "w+", np.int8 if key == "pred" else np.float32, shape)
        self.rows_done = progress["rows_done"] if progress else 0
        self.stats = RunStats(**progress["stats"]) if progress else RunStats()
        self.started, self.earlier_seconds = time.perf_counter(), self.stats.seconds
        self.csv = None
        if "csv" in final:
            if progress:
                os.truncate(self.work["csv"], progress["csv_bytes"])  # drop a block appended but not recorded
            self.csv = open(self.work["csv"], "a" if progress else "w", encoding="utf-8", newline="")  # noqa: SIM115

    def write(self, block, loaded: LoadedClassifier, text_key: str) -> None:
        """Write one `Block`'s rows (each array mapped only for that: memory stays flat), then record."""
        probs = block.outputs[..., 0]  # (n, L)
        preds = predict_labels(probs, "multilabel", loaded.thresholds).astype(np.int8)  # (n, L), per-label thresholds
        rows = {"pred": preds, "prob": probs, "std": block.outputs[..., 1]}
        with reported_write(self.final["pred"], "--save-probs"):
            for key in self.arrays:
                array = np.lib.format.open_memmap(self.work[key], mode="r+")
                array[block.start:block.start + len(probs)] = rows[key]
                array.flush()
        if self.csv is not None:
            with reported_write(self.final["csv"], "--write-results"):
                frame = results_frame(loaded.labels, preds, probs, block.texts, text_key, loaded.class_names)
                frame.to_csv(self.csv, header=block.start == 0, index=False)
                self.csv.flush()
                os.fsync(self.csv.fileno())
        self.stats.add(block.stats)
        self.stats.seconds = self.earlier_seconds + time.perf_counter() - self.started  # wall clock, all runs
        self.rows_done = block.start + len(probs)
        progress = {"identity": self.identity, "rows_done": self.rows_done, "stats": dataclasses.asdict(self.stats),
                    "csv_bytes": os.fstat(self.csv.fileno()).st_size if self.csv is not None else 0}
        with reported_write(self.final["pred"], "--save-probs"), \
                atomic.atomic_open(os.path.join(self.folder, PROGRESS_FILE), "w", encoding="utf-8") as handle:
            json.dump(progress, handle)

    def commit(self) -> None:
        """Move the complete files to their names (atomically) and remove the work folder."""
        self.close()
        for key, path in self.final.items():
            with reported_write(path, "--write-results" if key == "csv" else "--save-probs"):
                try:
                    atomic.commit(self.work[key], path)
                except OSError as err:  # another file system: copied beside the target, then renamed
                    if err.errno != errno.EXDEV:
                        raise
                    with atomic.atomic_path(path) as temp:
                        shutil.copyfile(self.work[key], temp)
        shutil.rmtree(self.folder, ignore_errors=True)

    def close(self) -> None:
        if self.csv is not None:
            self.csv.close()


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
    """The --write-results rows of one block (a pandas DataFrame): `<label> pred`, `<label> prob` per
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


# ---------------------------------------------------------------- resuming

def run_identity(load: str, data, n_rows: int, flags: dict) -> dict:
    """What a run's outputs depend on, as plain data (compared when resuming)."""
    return json.loads(json.dumps({"data": [file_identity(path) for path in data], "rows": n_rows,
                                  "classifier": file_identity(load), "flags": flags}))


def identity_change(recorded: dict, current: dict) -> str | None:
    """What differs between the unfinished run's identity and this run's, in words (None: nothing)."""
    if recorded.get("data") != current["data"] or recorded.get("rows") != current["rows"]:
        return "the input (--data) is not the same file(s) (path, size or modification time)"
    if recorded.get("classifier") != current["classifier"]:
        return "the classifier (--load) is not the same file (path, size or modification time)"
    before = recorded.get("flags", {})
    changed = [f"{name} was {before.get(name)!r}, now {value!r}" for name, value in current["flags"].items()
               if before.get(name) != value]
    return ", ".join(changed) or None


def resume_point(folder: str, identity: dict, resume, save_probs: str) -> dict | None:
    """Rank 0: the progress to continue from (`resume` "auto" and a record of the same run), or None after
    emptying the work folder for a fresh start; JobError when the recorded run differs from this one."""
    path = os.path.join(folder, PROGRESS_FILE)
    progress = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            progress = json.load(handle)
    if progress is not None and resume:
        change = identity_change(progress["identity"], identity)
        if change:
            raise JobError(f"--resume auto: the unfinished run of --save-probs {save_probs} differs: {change}; "
                           "run without --resume to start afresh")
        log.info("resuming at row %d of %d (work folder %s)", progress["rows_done"] + 1, identity["rows"], folder)
        return progress
    if progress is not None:
        log.info("an unfinished run of --save-probs %s was discarded (--resume auto continues one)", save_probs)
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    return None


def open_outputs(final: dict, shape: tuple, identity: dict, resume, save_probs: str, env: DistEnv):
    """(rank 0's OutputFiles, None elsewhere; the first row to classify), agreed by every rank; a refused
    resume raises the same JobError on every rank."""
    files, outcome = None, None
    if env.rank == 0:
        try:
            with reported_write(save_probs, "--save-probs"):
                folder = work_folder(final["pred"])
                files = OutputFiles(folder, final, shape, identity, resume_point(folder, identity, resume, save_probs))
            outcome = files.rows_done
        except JobError as err:
            outcome = err
    outcome = broadcast_object(outcome)
    if isinstance(outcome, JobError):
        raise outcome
    return files, outcome


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


class LongRowCheck:
    """One warning about rows over LONG_ROW_TOKENS tokens when --max-seq-len is not set: counted over the
    whole data set up front when it is in memory (encoding only texts over a quarter of that in characters:
    a character is at most 4 UTF-8 bytes, no tokenizer gives more tokens than bytes), else (lazy reading) on
    the first block that has any."""

    def __init__(self, dataset, tokenizer, max_len):
        self.active = max_len is None
        if self.active and isinstance(dataset.texts, list):
            self.warn(sum(len(tokenizer.encode(text)) > LONG_ROW_TOKENS for text in dataset.texts
                          if len(text) > LONG_ROW_TOKENS // 4), "")
            self.active = False

    def block(self, block) -> None:
        """Warn (once) about a lazily read block's long rows."""
        if self.active and block.n_long:
            self.warn(block.n_long, f" of rows {block.start + 1}-{block.start + len(block.outputs)}")
            self.active = False

    @staticmethod
    def warn(n_long: int, where: str) -> None:
        if n_long:
            log.warning("%d row(s)%s have more than %d tokens and --max-seq-len is not set: classifying time "
                        "grows with a row's length (a 1 MB row takes minutes); pass --max-seq-len N to truncate "
                        "them", n_long, where, LONG_ROW_TOKENS)


@dataclass(frozen=True)
class BlockSettings:
    """How blocks are classified: rows per block, batching, truncation, device, precision context, and
    whether a block keeps its texts (for the CSV)."""
    rows: int
    batch_size: int
    max_len: int | None
    device: torch.device
    context: object
    keep_texts: bool


@dataclass
class Block:
    """One block's results, as rank 0 writes them."""
    start: int
    outputs: np.ndarray   # (n, L, 2): probability and std over heads
    texts: list | None    # the raw texts (for the CSV)
    stats: RunStats
    n_long: int           # rows over LONG_ROW_TOKENS tokens


def classify_block(loaded: LoadedClassifier, dataset, start: int, settings: BlockSettings, bar) -> Block:
    """Read, tokenize and classify rows [start, start + settings.rows)."""
    texts = [dataset.texts[i] for i in range(start, min(len(dataset.texts), start + settings.rows))]
    token_lists, n_truncated, n_chars = encode_texts(texts, loaded.tokenizer, settings.max_len, loaded.process_fn)
    outputs = np.zeros((len(texts), len(loaded.labels), 2), dtype=np.float32)  # (n, L, 2)
    stats = run_length_ordered(
        token_lists, lambda tokens, lengths: classify_batch(loaded.model, tokens, lengths), outputs,
        settings.batch_size, settings.device, settings.context, bar,
        empty_rows=lambda n: empty_text_outputs(loaded.model, n))
    stats.n_truncated, stats.n_chars = n_truncated, n_chars
    stats.n_blank = sum(ids.size > 0 and not text.strip() for text, ids in zip(texts, token_lists))
    n_long = sum(ids.size > LONG_ROW_TOKENS for ids in token_lists)
    return Block(start, outputs, texts if settings.keep_texts else None, stats, n_long)


@contextlib.contextmanager
def stop_on_sigterm():
    """Inside the block SIGTERM raises JobError (in the main thread; elsewhere nothing changes)."""
    def stop(signum, frame):
        raise JobError(f"stopped by SIGTERM (under torchrun: another process of the job failed); {STOPPED}")

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def gather_round(block):
    """Every rank's block of this round (None past the last block), on every rank."""
    try:
        return all_gather_objects(block)
    except RuntimeError as err:  # gloo: "Connection closed by peer" (a torch.distributed.DistError on nccl)
        raise JobError(f"lost another process of the job ({str(err).splitlines()[0]}); {STOPPED}") from None


def classify_rows(loaded: LoadedClassifier, dataset, settings: BlockSettings, files: OutputFiles | None,
                  first_row: int, text_key: str, env: DistEnv, progress: bool = True) -> None:
    """Classify the blocks from row `first_row` on, block b on rank b mod world size; rank 0 (`files`)
    writes them in input order."""
    n_rows = len(dataset.texts)
    n_blocks = -(-n_rows // settings.rows)
    long_rows = LongRowCheck(dataset, loaded.tokenizer, settings.max_len) if files is not None else None
    with progress_bar(n_rows, "classify", progress and files is not None) as bar, stop_on_sigterm():
        bar.update(first_row)
        for first in range(first_row // settings.rows, n_blocks, env.world_size):
            mine = first + env.rank
            block = classify_block(loaded, dataset, mine * settings.rows, settings, bar) if mine < n_blocks else None
            for other in gather_round(block):
                if files is None or other is None:
                    continue
                files.write(other, loaded, text_key)
                long_rows.block(other)
                if other.start != block.start:  # rank 0's own rows were counted as they were classified
                    bar.update(len(other.outputs))


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
                      batch_size=64, max_seq_len=None, precision="fp32", process_fn=None,
                      resume=None, env: DistEnv | None = None) -> dict | None:
    """Classify every text of `data` with the classifier checkpoint `load` (see the module docstring) on
    `env.device`; in a torchrun job every rank calls it. `process_fn`: a process function name overriding
    the checkpoint's (None: the checkpoint's); `resume`: "auto" continues an unfinished run.

    Returns, on rank 0, a summary: output paths, counts and speed, and the scores when the file has labels
    (None on the other ranks)."""
    if not data:
        raise UserError("nothing to classify: pass --data FILE")
    env = env or DistEnv()
    loaded = load_classifier(load)
    loaded.process_fn = resolve_process_fn(process_fn, loaded.process_fn)
    loaded.model, context = prepare_for_inference(loaded.model, precision, env.device)
    log.info("classifier %s (from %s; labels: %s; text clean-up: %s)", load, loaded.source,
             ", ".join(loaded.labels), loaded.process_fn)
    if read_options.get("class_names") is None:  # word labels: the classifier's class names, in its order
        read_options = dict(read_options, known_class_names=loaded.class_names or [])
    dataset = read_input(data, read_options)
    max_len = effective_max_len(max_seq_len, max_positions(loaded.model.encoder))
    paths = prediction_files(save_probs, loaded.model.heads_per_class > 1)
    final = dict(paths, **({"csv": write_results} if write_results else {}))
    flags = {"--process-fn": loaded.process_fn, "--max-seq-len": max_len, "--batch-size": batch_size,
             "precision": precision, "device": env.device.type,
             "--write-results": os.path.abspath(write_results) if write_results else None,
             **{"--" + name.replace("_", "-"): value for name, value in read_options.items()
                if name not in ("lazy", "known_class_names")}}
    identity = run_identity(load, data, len(dataset.texts), flags)
    files, first_row = open_outputs(final, (len(dataset.texts), len(loaded.labels)), identity, resume, save_probs,
                                    env)
    settings = BlockSettings(CHUNK_BATCHES * batch_size, batch_size, max_len, env.device, context,
                             keep_texts=bool(write_results))
    try:
        classify_rows(loaded, dataset, settings, files, first_row, read_options.get("text_key", "sentence"), env)
    finally:
        if files is not None:
            files.close()
    if files is None:
        return None
    files.commit()
    clean = get_process_fn(loaded.process_fn)
    summary = {"paths": files.final, "stats": files.stats.to_dict(), "labels": loaded.labels, "max_len": max_len,
               "process_fn": loaded.process_fn, "padding": clean("") if clean else "", "resumed_rows": first_row}
    if dataset.labels is not None:
        probs = np.load(paths["prob"], mmap_mode="r")
        preds = np.load(paths["pred"], mmap_mode="r")
        report = score_predictions(dataset.labels, np.asarray(probs), np.asarray(preds), loaded.labels)
        if report is not None:
            summary["scores"] = report
    return summary

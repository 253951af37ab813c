"""Reading labelled or unlabelled text data sets: `read_dataset(paths, ...) -> TextDataset`.

`data_format` says how each path is read: one module per format turns a path into a `parts.FilePart`
("auto": a folder is imdb, `.txt` is text, anything else is table; a `.gz` file is judged by the name
inside it). Several paths are read one after another and joined (their formats resolved one by one).

Labels given as words (`positive`, `negative`, `neutral`) are class names: without `class_names`
they map to the sorted names (said in one log line, kept as the data set's class_names), or, with
`known_class_names` (what the training data had: pass it when reading validation / test files), to
those names, a word not among them being an error. `class_names` maps names in the order given.

Labels: one column (`label_key`) -> binary float32 (N,) or multi-class int64 (N,); several 0/1
columns (`non_binary_cols`) -> multi-label float32 (N, L); see `label_columns.py` for the checks. A format
may name its labels itself (GoEmotions' emotions, SST-5's classes). `require_labels=False` reads files
that lack labels (labels None). `binarize_sent=MIDPOINT` turns one rating column into binary labels:
above -> 1, below -> 0, rows equal to the midpoint dropped (one warning with the count).

Rows whose text is empty (after `process_fn`) are skipped, with one warning giving the count;
`keep_empty=True` keeps them (as "") so that row i of the output is row i of the input.

`lazy=True` reads texts on demand (table: loose JSON and CSV/TSV without quoted newlines; text;
amazon; imdb), through a byte-offset index (`files/lazy.py`); labels, when present, are read in one pass.
A lazy data set keeps every row (empty texts come back as ""), because skipping them would need a
pass over the texts. GoEmotions and SST-5 files are small and always read whole.
"""
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import UserError
from ..files.gzip_source import inner_name
from ..files.sequences import concat, take
from ..preprocess import get_process_fn
from .amazon import read_amazon
from .goemotions import read_goemotions
from .imdb import read_imdb
from .label_columns import (binarize_ratings, describe_names, finish_multi_label, finish_single_label, name_ids,
                     sorted_names)
from .sst5 import read_sst5
from .table import read_table
from .text import read_text

log = logging.getLogger(__name__)

FORMAT_READERS = {"table": read_table, "text": read_text, "imdb": read_imdb, "amazon": read_amazon,
                  "goemotions": read_goemotions, "sst5": read_sst5}
DATA_FORMATS = ("auto", *FORMAT_READERS)
TEXT_SUFFIX = ".txt"


@dataclass
class TextDataset:
    """Texts and their labels; texts may be a list or a lazy sequence."""

    texts: Sequence[str]
    labels: np.ndarray | None    # (N,) float32 binary | (N,) int64 multi-class | (N, L) float32 multi-label
    label_names: list[str]       # the label column(s), e.g. ["label"] or the non_binary_cols
    source: str                  # file path(s), for messages
    class_names: list[str] | None = None  # names of the class ids (labels given as names, or named by the format)

    def __len__(self):
        return len(self.texts)

    @property
    def task(self):
        """"binary" | "multiclass" | "multilabel", or None without labels."""
        if self.labels is None:
            return None
        if self.labels.ndim == 2:
            return "multilabel"
        return "binary" if self.labels.dtype.kind == "f" else "multiclass"

    def subset(self, indices, source=None):
        """The rows `indices`, in that order (lazy texts stay lazy)."""
        indices = np.asarray(indices, dtype=np.int64)
        labels = None if self.labels is None else self.labels[indices]
        return TextDataset(take(self.texts, indices), labels, list(self.label_names),
                           source or self.source, self.class_names)


def resolve_format(path, data_format="auto"):
    """The format that reads `path`: `data_format`, or for "auto" imdb (a folder), text (.txt) or table."""
    if data_format not in DATA_FORMATS:
        raise UserError(f"unknown data format {data_format!r}; choose one of: {', '.join(DATA_FORMATS)}")
    is_folder = os.path.isdir(path)
    if data_format == "auto":
        if is_folder:
            return "imdb"
        return "text" if inner_name(path).lower().endswith(TEXT_SUFFIX) else "table"
    if is_folder and data_format != "imdb":
        raise UserError(f"{path} is a folder; only the imdb format reads folders (give a file for {data_format})")
    return data_format


def _as_path_list(paths):
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise UserError("no data file given")
    return paths


def _agreed(parts, paths, attribute, default):
    """A label description the parts give (all the same), else `default`."""
    given = {tuple(v) if isinstance(v, list) else v for v in (getattr(p, attribute) for p in parts)}
    given.discard(None)
    if len(given) > 1:
        raise UserError(f"the files {', '.join(paths)} disagree on their {attribute.replace('_', ' ')}")
    if not given:
        return default
    value = given.pop()
    return list(value) if isinstance(value, tuple) else value


def _finish_labels(raw, label_names, source, num_classes):
    """Checked labels from raw (N, L): multi-label for several columns, else one column's task."""
    if raw.shape[1] > 1:
        return finish_multi_label(list(raw.T), label_names, source)
    return finish_single_label(raw[:, 0], label_names[0], source, num_classes)


def _binarize(texts, raw, label_names, midpoint, source):
    """(texts, float32 (M,) labels) with ratings above/below `midpoint` as 1/0 and ties dropped."""
    if raw.shape[1] != 1:
        raise UserError(f"--binarize-sent turns one rating column into binary labels; {source} has "
                        f"{raw.shape[1]} label columns")
    labels, kept = binarize_ratings(raw[:, 0], midpoint, label_names[0], source)
    return (texts if kept.size == len(texts) else take(texts, kept)), labels


def _is_words(raw):
    return raw is not None and raw.dtype == object


def _word_labels(parts, paths, label_names, options):
    """(float64 (N, 1) class ids, names) of parts whose one label column is words."""
    if len(label_names) > 1:
        raise UserError(f"multi-label columns (--non-binary-cols) must be 0/1; {', '.join(paths)} has words in them")
    if not all(_is_words(p.raw_labels) for p in parts):
        numbers = [path for path, part in zip(paths, parts) if not _is_words(part.raw_labels)]
        raise UserError(f"some files give their labels as words and some as numbers ({', '.join(numbers)}); "
                        "use one kind in every file")
    if options["binarize_sent"] is not None:
        raise UserError(f"--binarize-sent needs numeric ratings; the labels of {', '.join(paths)} are words")
    known = options["known_class_names"]
    names = list(known) if known is not None else sorted_names(p.raw_labels[:, 0] for p in parts)
    ids = [name_ids(p.raw_labels[:, 0], label_names[0], path, names,
                    "the training data" if known is not None else None) for p, path in zip(parts, paths)]
    if known is None:
        log.info("labels read as class names: %s", describe_names(names))
    return np.concatenate(ids)[:, None], names


def _join(parts, paths, options):
    """One TextDataset of the parts' texts and labels."""
    source = ", ".join(paths)
    with_labels = [p.raw_labels is not None for p in parts]
    if any(with_labels) and not all(with_labels):
        unlabelled = [path for path, has in zip(paths, with_labels) if not has]
        raise UserError(f"some files have labels and some do not (no labels: {', '.join(unlabelled)})")
    label_names = _agreed(parts, paths, "label_names", options["label_cols"])
    class_names = _agreed(parts, paths, "class_names", options["class_names"])
    num_classes = _agreed(parts, paths, "num_classes", None)
    texts, labels = concat([p.texts for p in parts]), None
    if any(_is_words(p.raw_labels) for p in parts):
        raw, class_names = _word_labels(parts, paths, label_names, options)  # (N, 1) ids, names
        if num_classes is None and len(class_names) > 2:
            num_classes = len(class_names)  # every file read with these names gets the same task
        labels = _finish_labels(raw, label_names, source, num_classes)
    elif all(with_labels):
        raw = np.concatenate([p.raw_labels for p in parts])  # (N, L)
        if options["binarize_sent"] is not None:
            texts, labels = _binarize(texts, raw, label_names, options["binarize_sent"], source)
            class_names = None
        else:
            labels = _finish_labels(raw, label_names, source, num_classes)
    return TextDataset(texts, labels, label_names, source, class_names)


def read_dataset(paths, text_key="sentence", label_key="label", non_binary_cols=None,
                 loose_json=False, delim=",", lazy=False, require_labels=True, process_fn=None,
                 keep_empty=False, class_names=None, data_format="auto", binarize_sent=None,
                 known_class_names=None) -> TextDataset:
    """Read one or more files into a TextDataset (see the module docstring for the rules).

    process_fn: "process_str" | "process_tweet" | "none" | None, applied to each text.
    class_names: label values that are names, mapped to their position in this list.
    known_class_names: the class names the training data's word labels had (validation / test files:
        their word labels must be among them); an empty list when the training labels were numbers.
    data_format: "auto" | "table" | "text" | "imdb" | "amazon" | "goemotions" | "sst5".
    binarize_sent: a rating midpoint (e.g. 3.0): ratings above -> 1, below -> 0, equal dropped."""
    paths = _as_path_list(paths)
    multi_label = bool(non_binary_cols)
    options = {
        "text_key": text_key, "delim": delim, "require_labels": require_labels, "lazy": lazy,
        "label_cols": list(non_binary_cols) if multi_label else [label_key], "multi_label": multi_label,
        "process": get_process_fn(process_fn), "keep_empty": keep_empty, "loose_json": loose_json,
        "class_names": list(class_names) if class_names is not None else None,
        "binarize_sent": None if binarize_sent is None else float(binarize_sent),
        "known_class_names": None if known_class_names is None else list(known_class_names),
    }
    parts = [FORMAT_READERS[resolve_format(path, data_format)](path, options) for path in paths]
    return _join(parts, paths, options)

"""Reading labelled or unlabelled text data sets: `read_dataset(paths, ...) -> TextDataset`.

Formats (chosen by the file name): `.csv`, `.tsv` (tab-separated when `delim` is left at ","),
`.json` (a JSON list of objects, or one object per line), `.jsonl` or `loose_json=True` (one
object per line). Several paths are read one after another and joined.

Labels: one column (`label_key`) -> binary float32 (N,) or multi-class int64 (N,); several 0/1
columns (`non_binary_cols`) -> multi-label float32 (N, L); see `labels.py` for the checks.
`require_labels=False` reads files that lack the label column(s) (labels None).

Rows whose text is empty (after `process_fn`) are skipped, with one warning giving the count;
`keep_empty=True` keeps them (as "") so that row i of the output is row i of the input.

`lazy=True` reads texts on demand through a byte-offset index (`lazy.py`), for loose JSON and for
CSV/TSV without quoted newlines; labels, when present, are read in one pass. A lazy data set keeps
every row (empty texts come back as ""), because skipping them would need a pass over the texts.
"""
import functools
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from .labels import finish_multi_label, finish_single_label, is_missing, parse_label_column
from .lazy_tables import LazyField, LazyTable
from .preprocess import get_process_fn
from .sequences import concat, take
from .tables import file_format, read_frame

log = logging.getLogger(__name__)


@dataclass
class TextDataset:
    """Texts and their labels; texts may be a list or a lazy sequence."""

    texts: Sequence[str]
    labels: np.ndarray | None    # (N,) float32 binary | (N,) int64 multi-class | (N, L) float32 multi-label
    label_names: list[str]       # the label column(s), e.g. ["label"] or the non_binary_cols
    source: str                  # file path(s), for messages
    class_names: list[str] | None = None  # names of the class ids, when labels were names

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


@dataclass
class _FilePart:
    """What one file contributed: texts and raw numeric labels (float64 (N, L)) or None."""

    texts: Sequence[str]
    raw_labels: np.ndarray | None


def _clean_text(cell, process=None):
    """A raw text cell as a processed string (a missing cell is "")."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return ""
    text = cell if isinstance(cell, str) else str(cell)
    return process(text) if process is not None else text


def _require_column(key, columns, path, what):
    if key not in columns:
        shown = ", ".join(repr(c) for c in columns)
        raise UserError(f"{path} has no {what} column {key!r}; its columns are: {shown}")


def _label_matrix(columns, label_cols, get_cells, path, require_labels, class_names):
    """Raw labels float64 (N, L), or None when labels are optional and absent."""
    missing = [c for c in label_cols if c not in columns]
    if missing and (require_labels or len(missing) < len(label_cols)):
        _require_column(missing[0], columns, path, "label")
    if missing:
        return None
    cells = get_cells(label_cols)
    if not require_labels and all(all(is_missing(v) for v in col) for col in cells):
        return None
    parsed = [parse_label_column(col, name, path, class_names) for col, name in zip(cells, label_cols)]
    return np.stack(parsed, axis=1)  # (N, L)


def _drop_empty(texts, raw_labels, path):
    """Remove rows whose text is blank, with one warning giving the count."""
    keep = np.array([bool(t.strip()) for t in texts], bool)
    if keep.all():
        return texts, raw_labels
    log.warning("%s: skipped %d row(s) with empty text (keep_empty=True keeps them)",
                path, int((~keep).sum()))
    texts = [t for t, k in zip(texts, keep) if k]
    return texts, None if raw_labels is None else raw_labels[keep]


def _read_eager(path, fmt, options):
    frame = read_frame(path, fmt, options["delim"])
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    _require_column(options["text_key"], columns, path, "text")
    texts = [_clean_text(cell, options["process"]) for cell in frame[options["text_key"]].tolist()]
    raw_labels = _label_matrix(columns, options["label_cols"],
                               lambda keys: [frame[k].tolist() for k in keys], path,
                               options["require_labels"], options["class_names"])
    if not options["keep_empty"]:
        texts, raw_labels = _drop_empty(texts, raw_labels, path)
        if not texts:
            raise UserError(f"{path} has no rows with non-empty text in column {options['text_key']!r}")
    return _FilePart(texts, raw_labels)


def _read_lazy(path, fmt, options):
    table = LazyTable(path, fmt, options["delim"])
    _require_column(options["text_key"], table.keys, path, "text")
    texts = LazyField(table, options["text_key"],
                      functools.partial(_clean_text, process=options["process"]))
    raw_labels = _label_matrix(table.keys, options["label_cols"], table.scan, path,
                               options["require_labels"], options["class_names"])
    return _FilePart(texts, raw_labels)


def _finish_labels(raw, label_cols, multi_label, source, num_classes):
    if multi_label:
        return finish_multi_label(list(raw.T), label_cols, source)
    return finish_single_label(raw[:, 0], label_cols[0], source, num_classes)


def _as_path_list(paths):
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise UserError("no data file given")
    return paths


def read_dataset(paths, text_key="sentence", label_key="label", non_binary_cols=None,
                 loose_json=False, delim=",", lazy=False, require_labels=True, process_fn=None,
                 keep_empty=False, num_classes=None, class_names=None, data_format="auto",
                 binarize_sent=None) -> TextDataset:
    """Read one or more files into a TextDataset (see the module docstring for the rules).

    process_fn: "process_str" | "process_tweet" | None (or a callable), applied to each text.
    num_classes: declares the task of a single label column (2 = binary 0/1; K > 2 = ids 0..K-1).
    class_names: label values that are names, mapped to their position in this list."""
    paths = _as_path_list(paths)
    multi_label = bool(non_binary_cols)
    options = {
        "text_key": text_key, "delim": delim, "require_labels": require_labels,
        "label_cols": list(non_binary_cols) if multi_label else [label_key],
        "process": get_process_fn(process_fn), "keep_empty": keep_empty,
        "class_names": list(class_names) if class_names is not None else None,
    }
    reader = _read_lazy if lazy else _read_eager
    parts = [reader(path, file_format(path, loose_json), options) for path in paths]
    source = ", ".join(paths)
    with_labels = [p.raw_labels is not None for p in parts]
    if any(with_labels) and not all(with_labels):
        unlabelled = [path for path, has in zip(paths, with_labels) if not has]
        raise UserError(f"some files have labels and some do not (no labels: {', '.join(unlabelled)})")
    labels = None
    if all(with_labels):
        raw = np.concatenate([p.raw_labels for p in parts])  # (N, L)
        labels = _finish_labels(raw, options["label_cols"], multi_label, source, num_classes)
    return TextDataset(concat([p.texts for p in parts]), labels, options["label_cols"], source,
                       options["class_names"])

"""What one data file contributes to a data set (`FilePart`), and the small helpers every format reader
shares: cleaning a raw text cell, dropping rows with empty text, and naming a missing column.

Format readers (`table.py`, `text.py`, ...) each turn one path into a `FilePart`; `readers.read_dataset` joins the
parts and turns their raw labels into checked label arrays (`labels.py`).
"""
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import UserError

log = logging.getLogger(__name__)


@dataclass
class FilePart:
    """Texts of one file and their raw numeric labels (float64 (N, L)), or None without labels.

    A format that knows its labels says so: label_names (e.g. GoEmotions' emotions), class_names
    (e.g. SST-5's five classes) and num_classes (the ids are 0..num_classes-1)."""

    texts: Sequence[str]
    raw_labels: np.ndarray | None
    label_names: list[str] | None = None
    class_names: list[str] | None = None
    num_classes: int | None = None


def clean_text(cell, process=None):
    """A raw text cell as a processed string (a missing cell is "")."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return ""
    text = cell if isinstance(cell, str) else str(cell)
    return process(text) if process is not None else text


def require_column(key, columns, path, what):
    """UserError naming the columns when `key` is not one of them."""
    if key not in columns:
        shown = ", ".join(repr(c) for c in columns)
        raise UserError(f"{path} has no {what} column {key!r}; its columns are: {shown}")


def drop_empty(texts, raw_labels, path):
    """Remove rows whose text is blank, with one warning giving the count."""
    keep = np.array([bool(t.strip()) for t in texts], bool)
    if keep.all():
        return texts, raw_labels
    log.warning("%s: skipped %d row(s) with empty text",
                path, int((~keep).sum()))
    texts = [t for t, k in zip(texts, keep) if k]
    return texts, None if raw_labels is None else raw_labels[keep]


def finish_part(texts, raw_labels, path, options, what="text", **known):
    """A FilePart of eagerly read rows: empty texts dropped unless keep_empty; UserError if none is left."""
    if not options["keep_empty"]:
        texts, raw_labels = drop_empty(texts, raw_labels, path)
        if not texts:
            raise UserError(f"{path} has no rows with non-empty {what}")
    return FilePart(texts, raw_labels, **known)

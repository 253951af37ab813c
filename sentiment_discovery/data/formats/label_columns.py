"""Turning raw label cells into checked label arrays for the three task kinds.

- binary (one column, values 0/1)                 -> float32 (N,)
- multi-class (one column, integers 0..K-1)       -> int64 (N,)
- multi-label (`non_binary_cols`, each 0/1)       -> float32 (N, L)

Which of binary / multi-class a single column is, is inferred from its values unless
`num_classes` declares classes. Label names (e.g. "negative") map to their position in
`class_names` when it is given (order as given); without it a column whose every value is a word is
read as class names: `parse_label_column` returns the words, and `name_ids` turns them into ids of
the sorted names (or of the names the training data had). Every problem is a UserError naming the
file, the column, a row (1-based, header not counted) and the offending value.

`binarize_ratings` turns star ratings into binary sentiment (`--binarize-sent MIDPOINT`): above the
midpoint -> 1, below -> 0, equal -> dropped (the caller removes those rows).
"""
import logging
import math

import numpy as np
import pandas as pd

from ...errors import UserError

log = logging.getLogger(__name__)

MISSING_STRINGS = {"", "nan", "NaN", "NAN", "null", "None", "NA", "N/A"}


def is_missing(value):
    """True for an empty, NaN, null or None cell."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in MISSING_STRINGS


def _first_bad(values, bad_mask):
    """(1-based row, value) of the first True in bad_mask."""
    row = int(np.flatnonzero(bad_mask)[0])
    return row + 1, values[row]


def _map_class_names(values, column, source, class_names):
    """Names (or their string forms) -> positions in class_names, as float64 (N,)."""
    lookup = {str(name): float(i) for i, name in enumerate(class_names)}
    mapped = np.array([lookup.get(str(v).strip(), np.nan) for v in values], np.float64)
    if np.isnan(mapped).any():
        row, value = _first_bad(values, np.isnan(mapped))
        raise UserError(f"{source}: label {column!r} has {value!r} in row {row}, "
                        f"which is not one of the class names {list(class_names)}")
    return mapped


def parse_label_column(values, column, source, class_names=None):
    """Raw cells of one label column (strings, numbers, bools, None) -> float64 (N,), or object (N,) of
    stripped words when class_names is None and no cell is a number."""
    values = list(values)
    missing = np.array([is_missing(v) for v in values], bool)
    if missing.any():
        row, value = _first_bad(values, missing)
        raise UserError(f"{source}: label {column!r} is missing or NaN in row {row} (value {value!r})")
    if class_names is not None:
        return _map_class_names(values, column, source, class_names)
    cells = [int(v) if isinstance(v, bool) else v for v in values]
    numbers = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce").to_numpy(np.float64)
    non_numeric = np.isnan(numbers)
    if non_numeric.all():
        return np.array([str(v).strip() for v in values], dtype=object)  # word labels: class names
    if non_numeric.any():
        row, value = _first_bad(values, non_numeric)
        number_row, number = _first_bad(values, ~non_numeric)
        raise UserError(f"{source}: label {column!r} mixes numbers ({number!r} in row {number_row}) and words "
                        f"({value!r} in row {row}); give every label as a number or every label as a "
                        "class name (--class-names NAME ... maps names to ids in the order given)")
    if np.isinf(numbers).any():
        row, value = _first_bad(values, np.isinf(numbers))
        raise UserError(f"{source}: label {column!r} is infinite in row {row} (value {value!r})")
    return numbers


def sorted_names(word_columns):
    """The class names the word labels of several (N_i,) object arrays use, sorted."""
    return sorted({str(word) for words in word_columns for word in words})


def name_ids(words, column, source, names, known_from=None):
    """Word labels (N,) object -> float64 (N,) positions in `names`; a word not among them is a
    UserError (`known_from` says where the names came from, e.g. "the training data")."""
    lookup = {name: float(i) for i, name in enumerate(names)}
    ids = np.array([lookup.get(word, np.nan) for word in words], np.float64)
    if np.isnan(ids).any():
        row, value = _first_bad(list(words), np.isnan(ids))
        where = f"a class not seen in {known_from}" if known_from else "not one of the class names"
        raise UserError(f"{source}: label {column!r} has {value!r} in row {row}, {where} "
                        f"({', '.join(names) if names else 'its labels are numbers'})")
    return ids


def describe_names(names):
    """'negative=0, neutral=1, positive=2'."""
    return ", ".join(f"{name}={i}" for i, name in enumerate(names))


def _check_binary(values, column, source):
    not_binary = (values != 0) & (values != 1)
    if not_binary.any():
        row, value = _first_bad(values, not_binary)
        raise UserError(f"{source}: label {column!r} is {value:g} in row {row}; multi-label labels must be 0 or 1")


def _check_class_ids(values, column, source):
    bad = (values != np.round(values)) | (values < 0)
    if bad.any():
        row, value = _first_bad(values, bad)
        raise UserError(f"{source}: label {column!r} is {value:g} in row {row}; class labels must be integers >= 0")


def finish_single_label(values, column, source, num_classes=None):
    """Checked labels of one column: float32 for binary (every value 0 or 1, and no `num_classes`, which a
    format or word labels declare: their ids are in range by construction), else int64 class ids."""
    if num_classes is None and np.isin(values, (0.0, 1.0)).all():
        return values.astype(np.float32)
    _check_class_ids(values, column, source)
    return values.astype(np.int64)


def finish_multi_label(columns, names, source):
    """Checked (N, L) float32 multi-label matrix from L columns of 0/1 values."""
    for values, name in zip(columns, names):
        _check_binary(values, name, source)
    return np.stack(columns, axis=1).astype(np.float32)


def binarize_ratings(ratings, midpoint, column, source):
    """(labels float32 (M,), kept row indices (M,) int64) of ratings (N,): > midpoint -> 1, < -> 0,
    == midpoint dropped with one warning giving the count."""
    ratings = np.asarray(ratings, dtype=np.float64)
    if not np.isfinite(midpoint):
        raise UserError(f"--binarize-sent needs a finite midpoint, got {midpoint}")
    kept = np.flatnonzero(ratings != midpoint)  # (M,)
    dropped = ratings.size - kept.size
    labels = (ratings[kept] > midpoint).astype(np.float32)
    if dropped:
        log.warning("%s: --binarize-sent %g dropped %d of %d row(s) whose %r equals the midpoint "
                    "(%d positive, %d negative kept)", source, midpoint, dropped, ratings.size, column,
                    int(labels.sum()), int(labels.size - labels.sum()))
    if labels.size == 0:
        raise UserError(f"{source}: every {column!r} equals the --binarize-sent midpoint {midpoint:g}; nothing is left")
    return labels, kept

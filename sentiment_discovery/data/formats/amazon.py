"""The `amazon` format: Amazon product reviews as distributed (McAuley et al.), one JSON object per line
with the review in `reviewText` and the star rating in `overall` (1-5), usually as `.json.gz`.

Keys: `reviewText` and `overall` unless the caller chose other keys than the generic defaults
("sentence", "label"). Labels: with binarize_sent (e.g. 3.0) the raw ratings are returned and
`readers.read_dataset` turns them into 0/1, dropping the midpoint; without it the rating must be a
whole number of stars and becomes a 5-class id 0..4 (1 star -> 0 ... 5 stars -> 4).

Eager reading streams the lines (a .gz is decompressed as it goes) and keeps only texts and ratings;
a line that is not a JSON object is a UserError naming the file and line, and reviews without text are
skipped with one warning. Lazy reading (for files of tens of GB) decompresses a .gz once to a sidecar
file (see `files/gzip_source.py` for the disk cost), indexes its lines (`files/lazy.py`), and reads texts on
demand; the ratings are read in one pass into a float array (8 bytes a review) when labels are
required, and not at all otherwise (pretraining starts without a pass over the file). A malformed line
is then reported when its record is read.
"""
import functools
import math

import numpy as np

from ...errors import UserError
from ..files.utf8 import decode_counting, warn_replaced
from ..files.gzip_source import iter_lines
from ..files.lazy_tables import LazyField
from ..files.tables import parse_json_object
from .label_columns import is_missing, parse_label_column
from .parts import FilePart, clean_text, finish_part, require_column
from .table import open_lazy_table

TEXT_KEY = "reviewText"
LABEL_KEY = "overall"
GENERIC_KEYS = ("sentence", "label")  # the flags' defaults, replaced by the Amazon keys
N_STARS = 5
CLASS_NAMES = ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]


def amazon_keys(options):
    """(text key, label key): the Amazon keys unless the caller chose others."""
    text_key = TEXT_KEY if options["text_key"] == GENERIC_KEYS[0] else options["text_key"]
    label_key = LABEL_KEY if options["label_cols"][0] == GENERIC_KEYS[1] else options["label_cols"][0]
    return text_key, label_key


def _stars_as_ids(ratings, label_key, path):
    """Ratings 1..5 (float64 (N,)) -> class ids 0..4; UserError for anything else."""
    bad = (ratings != np.round(ratings)) | (ratings < 1) | (ratings > N_STARS)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise UserError(f"{path}: {label_key!r} is {ratings[row]:g} in review {row + 1}; without --binarize-sent the "
                        f"rating must be a whole number of stars 1-{N_STARS} (a {N_STARS}-class task)")
    return ratings - 1


def _finish_ratings(ratings, label_key, path, options):
    """Raw labels (N, 1) from ratings (N,) float64: ratings for binarize_sent, else star ids 0..4."""
    if options["binarize_sent"] is None:
        ratings = _stars_as_ids(ratings, label_key, path)
    return ratings[:, None]


def _known(options, label_key):
    """What the part declares about its labels: their name, and the 5-class task unless binarised."""
    if options["binarize_sent"] is not None:
        return {"label_names": [label_key]}
    return {"label_names": [label_key], "class_names": CLASS_NAMES, "num_classes": N_STARS}


def _read_eager(path, options, text_key, label_key):
    texts, cells, replaced, with_text = [], [], 0, 0
    for line_number, line in iter_lines(path):
        if not line.strip():
            continue
        decoded, count = decode_counting(line)
        replaced += count
        record = parse_json_object(decoded, path, line_number, "Amazon reviews are one JSON object per line")
        with_text += text_key in record
        texts.append(clean_text(record.get(text_key), options["process"]))
        cells.append(record.get(label_key))
    warn_replaced(path, replaced)
    if not texts:
        raise UserError(f"{path} holds no reviews")
    if not with_text:
        raise UserError(f"{path}: no review has the text key {text_key!r} (pass --text-key for another key)")
    raw_labels = None
    if options["require_labels"] or not all(is_missing(c) for c in cells):
        raw_labels = _finish_ratings(parse_label_column(cells, label_key, path), label_key, path, options)
    return finish_part(texts, raw_labels, path, options, what=f"review text ({text_key!r})",
                       **_known(options, label_key))


def _rating(cell, label_key, path, row):
    """One rating cell as a float; UserError naming the review (= non-blank line) otherwise."""
    if type(cell) in (int, float) and math.isfinite(cell):
        return float(cell)  # the usual case, checked first: this runs once per review
    if is_missing(cell):
        raise UserError(f"{path}: review {row} (non-blank line {row}) has no {label_key!r} rating")
    try:
        value = float(cell) if not isinstance(cell, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise UserError(f"{path}: {label_key!r} is {cell!r} in review {row} (non-blank line {row}); ratings must "
                        "be numbers")
    return value


def _scan_ratings(table, label_key, path):
    """The rating of every record as float64 (N,), in one sequential pass (8 bytes a review, no Python list)."""
    ratings = np.empty(len(table), np.float64)  # (N,)
    for i, record in enumerate(table.iter_records()):
        ratings[i] = _rating(record.get(label_key), label_key, path, i + 1)
    return ratings


def _read_lazy(path, options, text_key, label_key):
    table = open_lazy_table(path, "loose_json", ",")
    require_column(text_key, table.keys, path, "text (key of the first review)")
    texts = LazyField(table, text_key, functools.partial(clean_text, process=options["process"]))
    if not options["require_labels"]:
        return FilePart(texts, None)
    return FilePart(texts, _finish_ratings(_scan_ratings(table, label_key, path), label_key, path, options),
                    **_known(options, label_key))


def read_amazon(path, options):
    """One Amazon reviews file (.json / .jsonl, optionally .gz) as a FilePart."""
    if options["multi_label"]:
        raise UserError("Amazon reviews have one rating per review; --non-binary-cols does not apply")
    text_key, label_key = amazon_keys(options)
    reader = _read_lazy if options["lazy"] else _read_eager
    return reader(path, options, text_key, label_key)

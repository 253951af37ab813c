"""The `table` format: .csv / .tsv / .json / .jsonl files (optionally .gz) with a text column and label
column(s), read whole (`files/tables.py`) or on demand (`files/lazy_tables.py`).

A lazily read .gz is first decompressed once to a sidecar file in the cache (`files/gzip_source.py`);
messages still name the .gz. Labels: one column (`label_key`), or several 0/1 columns (`non_binary_cols`); with
require_labels=False a file may lack them (raw labels None).
"""
import functools

import numpy as np

from ..files.gzip_source import decompressed_copy, inner_name, is_gzip
from ..files.lazy_tables import LazyField, LazyTable
from ..files.tables import file_delimiter, file_format, read_frame
from .label_columns import is_missing, parse_label_column
from .parts import FilePart, clean_text, finish_part, require_column


def label_matrix(columns, label_cols, get_cells, path, require_labels, class_names):
    """Raw labels float64 (N, L), or None when labels are optional and absent."""
    missing = [c for c in label_cols if c not in columns]
    if missing and (require_labels or len(missing) < len(label_cols)):
        require_column(missing[0], columns, path, "label")
    if missing:
        return None
    cells = get_cells(label_cols)
    if not require_labels and all(all(is_missing(v) for v in col) for col in cells):
        return None
    parsed = [parse_label_column(col, name, path, class_names) for col, name in zip(cells, label_cols)]
    return np.stack(parsed, axis=1)  # (N, L)


def read_table_eager(path, options, fmt=None):
    """All rows of one table file (a .gz is decompressed while it is read)."""
    fmt = fmt or file_format(path, options["loose_json"])
    frame = read_frame(path, fmt, options["delim"])
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    text_key = options["text_key"]
    require_column(text_key, columns, path, "text")
    texts = [clean_text(cell, options["process"]) for cell in frame[text_key].tolist()]
    raw_labels = label_matrix(columns, options["label_cols"], lambda keys: [frame[k].tolist() for k in keys],
                              path, options["require_labels"], options["class_names"])
    return finish_part(texts, raw_labels, path, options, what=f"text in column {text_key!r}")


def open_lazy_table(path, fmt, delim):
    """A LazyTable of `path`, through a decompressed sidecar when it is a .gz."""
    if not is_gzip(path):
        return LazyTable(path, fmt, delim)
    return LazyTable(decompressed_copy(path), fmt, file_delimiter(inner_name(path), delim), name=path)


def read_table_lazy(path, options, fmt=None):
    """Texts read on demand; labels (when present) read in one pass now."""
    fmt = fmt or file_format(path, options["loose_json"])
    table = open_lazy_table(path, fmt, options["delim"])
    require_column(options["text_key"], table.keys, path, "text")
    texts = LazyField(table, options["text_key"], functools.partial(clean_text, process=options["process"]))
    raw_labels = label_matrix(table.keys, options["label_cols"], table.scan, path,
                              options["require_labels"], options["class_names"])
    return FilePart(texts, raw_labels)


def read_table(path, options):
    """One table file as a FilePart, lazily when options["lazy"]."""
    reader = read_table_lazy if options["lazy"] else read_table_eager
    return reader(path, options)

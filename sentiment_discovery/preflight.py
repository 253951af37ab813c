"""Cheap input checks a script runs right after parsing its flags, before torch, pandas, sklearn or
matplotlib are imported, so a mistyped file name or column is reported in well under a second:

- every input file or folder (--data, --valid, --test, --load, ...) exists;
- a plain .csv/.tsv file's header (read with the csv module) has the text column and, where the run
  needs labels, the label column(s); the message is the one the full reader gives.

Anything these checks cannot judge cheaply (JSON, .gz, other data formats, the contents of rows, a
checkpoint's kind) is left to the real readers, which run later and check everything. These checks
never reject input the readers would accept: when unsure they pass.
"""
from __future__ import annotations

import csv
import os
import re

from .errors import UserError
from .output_paths import flag_paths

TABLE_SUFFIXES = (".csv", ".tsv")
# pandas renames unnamed and duplicated header cells ("Unnamed: 0", "a.1"): such keys are not judged here
PANDAS_MANGLED = re.compile(r"^Unnamed: \d+$|\.\d+$")


def check_inputs_exist(inputs) -> None:
    """UserError `<flag> file not found: <path>` for the first (flag, path or paths) that does not exist."""
    for flag, value in inputs:
        for path in flag_paths(value):
            if not os.path.exists(path):
                raise UserError(f"{flag} file not found: {path}")


def table_header(path: str, delim: str = ","):
    """The header cells of a plain .csv/.tsv file, or None when this check cannot read it cheaply."""
    if not path.lower().endswith(TABLE_SUFFIXES) or not os.path.isfile(path):
        return None
    if path.lower().endswith(".tsv") and delim == ",":
        delim = "\t"
    if len(delim) != 1:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            header = next(csv.reader(handle, delimiter=delim), None)
    except (OSError, csv.Error):
        return None
    if not header:
        return None
    header[0] = header[0].lstrip("\ufeff")
    return header


def _require(path, key, header, what):
    if key is None or key in header or PANDAS_MANGLED.search(str(key)):
        return
    shown = ", ".join(repr(c) for c in header)
    raise UserError(f"{path} has no {what} column {key!r}; its columns are: {shown}")


def check_columns(paths, text_key, label_cols=None, delim=",", data_format="auto") -> None:
    """The text column (and, when `label_cols` is given, every label column) in each plain CSV/TSV header."""
    if data_format not in ("auto", "table"):
        return
    for path in flag_paths(paths):
        header = table_header(path, delim)
        if header is None:
            continue
        _require(path, text_key, header, "text")
        for key in label_cols or []:
            _require(path, key, header, "label")


def check_data(data, valid=None, test=None, text_key="sentence", label_key="label", non_binary_cols=None,
               delim=",", data_format="auto", labels=True, others=(), **_other_reader_options) -> None:
    """--data/--valid/--test exist and have their columns (labels on --data and --valid when `labels`;
    --test may lack them); `others` are more (flag, path) inputs that must exist (e.g. --load). Takes the
    keyword arguments of `config.ReadConfig.reader_options` (those it does not judge are ignored)."""
    check_inputs_exist([("--data", data), ("--valid", valid), ("--test", test), *others])
    label_cols = (list(non_binary_cols) if non_binary_cols else [label_key]) if labels else None
    check_columns(data, text_key, label_cols, delim, data_format)
    check_columns(valid, text_key, label_cols, delim, data_format)
    check_columns(test, text_key, None, delim, data_format)

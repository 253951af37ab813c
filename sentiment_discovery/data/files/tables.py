"""Reading a whole .csv / .tsv / .json / loose-JSON file into a pandas DataFrame of raw cells.

Every cell is kept as read (strings for CSV, JSON values for JSON) so that the label checks in
`formats/label_columns.py` see exactly what the file holds. Bytes that are not UTF-8 are replaced and counted
(one warning per file). Format problems are UserErrors naming the file and, for JSON, the line.
A `.gz` file is decompressed while it is read, and judged by the name inside (`a.tsv.gz` is a .tsv).
"""
import csv
import io
import json

import pandas as pd

from ...errors import UserError
from .utf8 import decode_counting, warn_replaced
from .gzip_source import inner_name, read_all_bytes

CSV_SUFFIXES = (".csv", ".tsv")


def file_format(path, loose_json=False):
    """"csv", "json" (a list, or one object per line) or "loose_json" for a path (.gz: its inner name)."""
    lower = inner_name(path).lower()
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    if loose_json or lower.endswith(".jsonl"):
        return "loose_json"
    if lower.endswith(".json"):
        return "json"
    raise UserError(f"cannot tell the format of {path}: expected a .csv, .tsv, .json or .jsonl file, "
                    "optionally .gz (or pass --loose-json for one JSON object per line, or choose a --data-format)")


def file_delimiter(path, delim):
    """The delimiter for a path: a .tsv file with the default "," is read with tabs."""
    if inner_name(path).lower().endswith(".tsv") and delim == ",":
        return "\t"
    return delim


def read_text_file(path):
    """The decoded contents of a file (a .gz decompressed); UserError if it is missing or has no text."""
    text, replaced = decode_counting(read_all_bytes(path))
    warn_replaced(path, replaced)
    if not text.strip():
        raise UserError(f"{path} is empty")
    return text


def read_csv_frame(path, delim=","):
    """All rows of a delimited file as strings (empty cells stay "")."""
    text = read_text_file(path)
    delim = file_delimiter(path, delim)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False,
                            na_filter=False, engine="c" if len(delim) == 1 else "python",
                            quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path} is not a valid delimited file (delimiter {delim!r}): {first_line}") from None
    if frame.empty:
        raise UserError(f"{path} has a header ({', '.join(map(str, frame.columns))}) but no rows")
    return frame


def _loose_json_records(text, path):
    """One JSON object per non-blank line."""
    records = []
    for line_number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 is text
        if not line.strip():
            continue
        records.append(parse_json_object(line, path, line_number, "a JSON file must be a JSON list of objects "
                                                                  "or one JSON object per line"))
    return records


def parse_json_object(line, path, line_number, hint):
    """The JSON object on one line; UserError naming the file and line (and `hint`) otherwise."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"{path} line {line_number} is not valid JSON ({err.msg}); {hint}") from None
    if not isinstance(record, dict):
        raise UserError(f"{path} line {line_number} is a JSON {type(record).__name__}, not an object")
    return record


def _json_list_records(text, path):
    """A file that is one JSON list of objects."""
    try:
        records = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{path} starts with '[' but is not a valid JSON list ({err.msg} at line "
                        f"{err.lineno}); a JSON file must be a JSON list of objects or one object per line") from None
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise UserError(f"{path}: item {position} of the JSON list is a {type(record).__name__}, "
                            "not an object")
    return records


def read_json_frame(path, loose_json=False):
    """Records of a JSON list or loose-JSON file as a DataFrame (a key missing in a record -> NaN)."""
    text = read_text_file(path)
    is_list = not loose_json and text.lstrip().startswith("[")
    records = _json_list_records(text, path) if is_list else _loose_json_records(text, path)
    if not records:
        raise UserError(f"{path} holds no records")
    return pd.DataFrame.from_records(records)


def read_frame(path, fmt, delim=","):
    """The raw cells of one file as a DataFrame, for fmt "csv" | "json" | "loose_json"."""
    if fmt == "csv":
        return read_csv_frame(path, delim)
    return read_json_frame(path, loose_json=fmt == "loose_json")

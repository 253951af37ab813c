"""Line-oriented files read on demand through a `LineIndex`: loose JSON, and CSV/TSV whose
quoted fields hold no newlines.

`LazyTable(path, fmt, delim)` exposes the keys (the CSV header, or the first JSON record's keys),
the number of records, a lazy sequence of one field's raw cells (`LazyField`) and a one-pass scan
of some fields (for labels). A record whose line cannot be parsed is a UserError naming the line,
raised when that record is read. Undecodable bytes are replaced; the first record that has any
gets one warning for the whole file. `name` is the file messages name (e.g. the .gz a decompressed
copy came from); it defaults to the path.
"""
import csv
import json
import logging
from collections.abc import Sequence

import numpy as np

from ...errors import UserError
from .utf8 import decode_counting
from .lazy import CHUNK_BYTES, LineIndex
from .sequences import SubsetSequence
from .tables import file_delimiter

log = logging.getLogger(__name__)


def _starts_with_list(path, peek_bytes=4096):
    """Whether the first non-blank character of a file is '[' (a JSON list, not loose JSON)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(peek_bytes).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False  # LineIndex names the missing file
    return head.startswith(b"[")


class DecodedLines(Sequence):
    """Item i is non-blank line i of a `LineIndex`, decoded, without its newline. Undecodable bytes are
    replaced; the first line that has any gets one warning for the whole file (`name`)."""

    def __init__(self, index, name):
        self.index, self.name, self.warned = index, name, False

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return SubsetSequence(self, np.arange(len(self))[i])
        raw = self.index[i]
        return self.text(i % len(self), raw)

    def text(self, line, raw):
        """Line number `line` from its bytes `raw`."""
        text, replaced = decode_counting(raw)
        if replaced and not self.warned:
            self.warned = True
            log.warning("%s: undecodable (not UTF-8) bytes on non-blank line %d were replaced with U+FFFD; "
                        "later lines are not reported", self.name, line + 1)
        return text.rstrip("\r\n")


class LazyTable:
    """Records of a loose-JSON or CSV/TSV file, parsed one line at a time."""

    def __init__(self, path, fmt, delim=",", name=None):
        self.path = name or path
        if fmt == "json" and _starts_with_list(path):
            raise UserError(f"lazy reading needs one JSON object per line; {self.path} is a JSON list: "
                            "read it without lazy")
        self.fmt = "csv" if fmt == "csv" else "loose_json"
        self.delim = file_delimiter(path, delim)
        self.index = LineIndex(path)
        self.lines = DecodedLines(self.index, self.path)
        self.first_record = 1 if self.fmt == "csv" else 0  # the CSV header is line 0
        if len(self.index) <= self.first_record:
            what = "is empty" if len(self.index) == 0 else "has a header but no rows"
            raise UserError(f"{self.path} {what}")
        self.header = None  # set before parsing line 0, which is not checked against a header
        self.header = self._parse_csv_line(0) if self.fmt == "csv" else None
        self.keys = self.header if self.fmt == "csv" else list(self.record(0))

    def __len__(self):
        return len(self.index) - self.first_record

    def _line_text(self, line, raw=None):
        """Non-blank line `line` decoded (its bytes `raw` when the caller has them already)."""
        return self.lines.text(line, self.index[line] if raw is None else raw)

    def _parse_csv_line(self, line, raw=None):
        try:
            fields = next(csv.reader([self._line_text(line, raw)], delimiter=self.delim, strict=True), [])
        except csv.Error as err:
            raise UserError(f"{self.path} non-blank line {line + 1} is not a complete CSV record ({err}; "
                            "a quoted newline?); read this file without lazy") from None
        if self.header is not None and len(fields) != len(self.header):
            raise UserError(f"{self.path} non-blank line {line + 1} has {len(fields)} fields, the header has "
                            f"{len(self.header)} (a quoted newline?); read this file without lazy")
        return fields

    def _parse_json_line(self, line, raw=None):
        try:
            record = json.loads(self._line_text(line, raw))
        except json.JSONDecodeError as err:
            raise UserError(f"{self.path} non-blank line {line + 1} is not valid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise UserError(f"{self.path} non-blank line {line + 1} is a JSON {type(record).__name__}, not an object")
        return record

    def _record_at(self, line, raw=None):
        if self.fmt == "csv":
            return dict(zip(self.header, self._parse_csv_line(line, raw)))
        return self._parse_json_line(line, raw)

    def record(self, i):
        """Record i as a dict of raw cells."""
        return self._record_at(i + self.first_record)

    def field(self, key, i):
        """The raw cell `key` of record i (None when a JSON record lacks it)."""
        return self.record(i).get(key)

    def _non_blank_lines(self):
        """(line number, bytes) of the records' non-blank lines, read front to back (no index look-ups)."""
        line = 0
        with open(self.index.path, "rb", buffering=CHUNK_BYTES) as handle:
            for raw in handle:
                if raw.rstrip(b"\n") in (b"", b"\r"):
                    continue  # blank, as the index counts it
                if line >= self.first_record:
                    yield line, raw
                line += 1

    def iter_records(self):
        """Every record as a dict, in order, reading the file sequentially (for one-pass scans)."""
        n_read = 0
        for line, raw in self._non_blank_lines():
            yield self._record_at(line, raw)
            n_read += 1
        if n_read != len(self):
            raise UserError(f"{self.path} changed while it was being read; read it again")

    def scan(self, keys):
        """Lists of the raw cells of `keys`, reading every record once."""
        columns = [[] for _ in keys]
        for record in self.iter_records():
            for column, key in zip(columns, keys):
                column.append(record.get(key))
        return columns


class LazyField(Sequence):
    """Item i is `fn(cell)` of field `key` of record i, read when asked for."""

    def __init__(self, table, key, fn):
        self.table = table
        self.key = key
        self.fn = fn

    def __len__(self):
        return len(self.table)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return SubsetSequence(self, np.arange(len(self))[i])
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"record {i} out of range for {n} records")
        return self.fn(self.table.field(self.key, i % n))

"""Metric logs as JSON lines: one JSON object per line, appended and flushed as it is written, so a
crashed or running job's curves can be read (and plotted) at any time.

Values may be Python/numpy numbers, 0-d tensors, strings, bools, None, lists or dicts of those;
nan and inf are written as JSON's common NaN/Infinity extensions (Python's json reads them back).
With `enabled=False` (ranks other than 0) nothing is opened or written. An existing file is appended
to, so a resumed run continues its log. An optional `mirror` (training/tensorboard_log.py's
TensorBoardLog) gets each row too, as scalars, and the PNGs passed to `image(...)`."""
import json
import os

from ..errors import UserError
from ..output_paths import describe_os_error


def _plain(value):
    """`value` as plain JSON-able data (numbers from numpy/torch become Python numbers)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist"):            # numpy scalars/arrays, torch tensors
        return _plain(value.tolist())
    if hasattr(value, "item"):
        return _plain(value.item())
    raise TypeError(f"cannot log a value of type {type(value).__name__}")


class MetricsLog:
    """Append-only JSON-lines writer; one `write(...)` call is one line, flushed at once."""

    def __init__(self, path, enabled=True, mirror=None):
        self.path = os.fspath(path)
        self.enabled = enabled
        self.mirror = mirror if enabled else None
        self._file = None

    def _open(self):
        """The file, opened on the first line written (a run that writes nothing leaves no file)."""
        if self._file is None:
            try:
                directory = os.path.dirname(self.path)
                if directory:
                    os.makedirs(directory, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")
            except OSError as err:
                raise UserError(f"cannot open metrics log {self.path}: {describe_os_error(err)}") from None
        return self._file

    def write(self, record=None, **fields):
        """Append one JSON object made of `record` (a dict) updated with `fields`."""
        if not self.enabled:
            return
        row = dict(record or {})
        row.update(fields)
        row = _plain(row)
        try:
            handle = self._open()
            handle.write(json.dumps(row) + "\n")
            handle.flush()
        except OSError as err:
            raise UserError(f"cannot write metrics log {self.path}: {describe_os_error(err)}") from None
        if self.mirror is not None:
            self.mirror.scalars(row)

    def image(self, tag, png_path, step):
        """Hand a PNG the run has drawn to the mirror (nothing without one, or when the file is missing)."""
        if self.mirror is not None and os.path.exists(png_path):
            self.mirror.image(tag, png_path, step)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.mirror is not None:
            self.mirror.close()
            self.mirror = None


def read_metrics(path):
    """Every row of a metrics log as a list of dicts.

    A torn last line (the job died while writing it) is skipped; any other bad line is a UserError."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        raise UserError(f"metrics log {path} does not exist") from None
    except UnicodeDecodeError:
        raise UserError(f"metrics log {path} is not UTF-8 text") from None
    torn_tail = lines[-1]                   # text after the last newline: a line still being written
    rows = []
    for number, line in enumerate(lines[:-1], start=1):
        if line.strip():
            rows.append(_parse_row(path, number, line))
    if torn_tail.strip():
        try:
            rows.append(_parse_row(path, len(lines), torn_tail))
        except UserError:
            pass
    return rows


def _parse_row(path, number, line):
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"metrics log {path} line {number} is not JSON: {err.msg}") from None
    if not isinstance(row, dict):
        raise UserError(f"metrics log {path} line {number} is not a JSON object")
    return row


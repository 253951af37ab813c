"""The `text` format: plain text, one document per line, no labels (auto for `.txt` and `.txt.gz`).

Blank lines are skipped. Eager reading keeps the processed lines in memory (a .gz is decompressed
while it is read); lazy reading keeps only a byte-offset index (`lazy.LineIndex`, 8 bytes a line) and
reads a line when it is asked for, so pretraining on a corpus larger than memory works; a lazily read
.gz is decompressed once to a sidecar file in the cache first (`files/gzip_source.py`). Undecodable bytes are replaced
with U+FFFD, with one warning per file. Plain text carries no labels, so asking for labels is a UserError.
"""
import logging
from collections.abc import Sequence

import numpy as np

from ...errors import UserError
from ..files.utf8 import decode_counting, warn_replaced
from ..files.gzip_source import decompressed_copy, is_gzip, iter_lines
from ..files.lazy import LineIndex
from ..files.sequences import SubsetSequence
from .parts import FilePart, finish_part

log = logging.getLogger(__name__)


def _no_labels(path):
    return UserError(f"{path} is plain text (one document per line) and carries no labels; give a labelled "
                     "table (.csv/.tsv/.json) or another --data-format for a task that needs labels")


class LazyLines(Sequence):
    """Item i is `process(line i)` of a file's non-blank lines, read when asked for."""

    def __init__(self, index, name, process=None):
        self.index = index          # LineIndex of the (decompressed) file
        self.name = name            # the file messages name
        self.process = process
        self.warned_undecodable = False

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return SubsetSequence(self, np.arange(len(self))[i])
        text, replaced = decode_counting(self.index[i])
        if replaced and not self.warned_undecodable:
            self.warned_undecodable = True
            log.warning("%s: undecodable (not UTF-8) bytes on non-blank line %d were replaced with U+FFFD; "
                        "later lines are not reported", self.name, i % len(self) + 1)
        text = text.rstrip("\r\n")
        return self.process(text) if self.process is not None else text


def _read_eager(path, options):
    texts, replaced = [], 0
    for _, line in iter_lines(path):
        text, count = decode_counting(line)
        replaced += count
        text = text.rstrip("\r\n")
        if text.strip():
            texts.append(options["process"](text) if options["process"] else text)
    warn_replaced(path, replaced)
    if not texts:
        raise UserError(f"{path} is empty")
    return finish_part(texts, None, path, options, what="text")


def _read_lazy(path, options):
    index = LineIndex(decompressed_copy(path) if is_gzip(path) else path)
    if len(index) == 0:
        raise UserError(f"{path} is empty")
    return FilePart(LazyLines(index, path, options["process"]), None)


def read_text(path, options):
    """One plain-text file as an unlabelled FilePart (lazily when options["lazy"])."""
    if options["require_labels"]:
        raise _no_labels(path)
    reader = _read_lazy if options["lazy"] else _read_eager
    return reader(path, options)


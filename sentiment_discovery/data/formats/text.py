"""The `text` format: plain text, one document per line, no labels (auto for `.txt` and `.txt.gz`).

Blank lines are skipped. Eager reading keeps the processed lines in memory (a .gz is decompressed
while it is read); lazy reading keeps only a byte-offset index (`lazy.LineIndex`, 8 bytes a line) and
reads a line when it is asked for, so pretraining on a corpus larger than memory works; a lazily read
.gz is decompressed once to a sidecar file in the cache first (`files/gzip_source.py`). Undecodable bytes are replaced
with U+FFFD, with one warning per file. Plain text carries no labels, so asking for labels is a UserError.
"""
from ...errors import UserError
from ..files.utf8 import decode_counting, warn_replaced
from ..files.gzip_source import decompressed_copy, is_gzip, iter_lines
from ..files.lazy import LineIndex
from ..files.lazy_tables import DecodedLines
from ..files.sequences import MappedSequence
from .parts import FilePart, finish_part


def _no_labels(path):
    return UserError(f"{path} is plain text (one document per line) and carries no labels; give a labelled "
                     "table (.csv/.tsv/.json) or another --data-format for a task that needs labels")


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
    lines = DecodedLines(index, path)
    return FilePart(lines if options["process"] is None else MappedSequence(lines, options["process"]), None)


def read_text(path, options):
    """One plain-text file as an unlabelled FilePart (lazily when options["lazy"])."""
    if options["require_labels"]:
        raise _no_labels(path)
    reader = _read_lazy if options["lazy"] else _read_eager
    return reader(path, options)


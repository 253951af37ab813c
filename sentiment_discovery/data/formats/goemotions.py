"""The `goemotions` format: GoEmotions as distributed (`train.tsv`, `dev.tsv`, `test.tsv`), a multi-label task.

Each line has three tab-separated columns and no header: the text, the comma-separated emotion ids
(e.g. `3,27`; an empty cell means no emotion) and the comment id. `emotions.txt` in the same folder
names the emotions, one per line (line i = id i; 28 in the real data). Result: multi-label float32
(N, L) targets with the emotion names as label names. Rows with empty text are skipped with one
warning. Errors name the file and line: a wrong number of columns, an id that is not a number or
has no name in emotions.txt; a missing emotions.txt names where it was looked for. The files are
small (58k comments), so they are always read whole (lazy does not apply); a .gz is decompressed
while it is read.
"""
import os

import numpy as np

from ...errors import UserError
from ..files.utf8 import decode_counting, warn_replaced
from ..files.gzip_source import iter_lines
from .parts import clean_text, finish_part

EMOTIONS_FILE = "emotions.txt"
N_COLUMNS = 3  # text, emotion ids, comment id


def read_emotion_names(data_path):
    """The emotion names from emotions.txt beside `data_path` (line i = id i)."""
    where = os.path.join(os.path.dirname(os.path.abspath(data_path)), EMOTIONS_FILE)
    if not os.path.isfile(where):
        raise UserError(f"GoEmotions needs {EMOTIONS_FILE} (one emotion name per line) beside {data_path}; "
                        f"looked for {where}")
    with open(where, "rb") as handle:
        names = [line.strip() for line in decode_counting(handle.read())[0].splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names or not all(names):
        raise UserError(f"{where} must list one emotion name on each line, with no blank lines between them")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UserError(f"{where} lists {', '.join(map(repr, duplicates))} more than once")
    return names


def _emotion_ids(cell, n_emotions, path, line_number):
    """The ids of a comma-separated cell, each checked against the number of emotions."""
    ids = []
    for piece in (p.strip() for p in cell.split(",") if p.strip()):
        if not piece.isdigit():
            raise UserError(f"{path} line {line_number}: emotion id {piece!r} is not a whole number (the second "
                            "column holds comma-separated ids such as 3,27)")
        if int(piece) >= n_emotions:
            raise UserError(f"{path} line {line_number}: unknown emotion id {piece}; {EMOTIONS_FILE} names "
                            f"{n_emotions} emotions (ids 0..{n_emotions - 1})")
        ids.append(int(piece))
    return ids


def _rows(path):
    """(line number, [text, ids, comment id]) of every non-blank line, and the undecodable count."""
    rows, replaced = [], 0
    for line_number, line in iter_lines(path):
        text, count = decode_counting(line)
        replaced += count
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        columns = text.split("\t")
        if len(columns) != N_COLUMNS:
            raise UserError(f"{path} line {line_number} has {len(columns)} tab-separated column(s); GoEmotions rows "
                            "have 3 (text, emotion ids, comment id) and no header")
        rows.append((line_number, columns))
    return rows, replaced


def read_goemotions(path, options):
    """One GoEmotions .tsv file as a multi-label FilePart named by emotions.txt."""
    if options["multi_label"]:
        raise UserError(f"GoEmotions takes its label names from {EMOTIONS_FILE}; --non-binary-cols does not apply")
    names = read_emotion_names(path)
    rows, replaced = _rows(path)
    warn_replaced(path, replaced)
    if not rows:
        raise UserError(f"{path} is empty")
    targets = np.zeros((len(rows), len(names)), np.float64)  # (N, L)
    for row, (line_number, columns) in enumerate(rows):
        targets[row, _emotion_ids(columns[1], len(names), path, line_number)] = 1.0
    texts = [clean_text(columns[0], options["process"]) for _, columns in rows]
    return finish_part(texts, targets, path, options, what="text", label_names=names)

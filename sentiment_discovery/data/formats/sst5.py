"""The `sst5` format: the Stanford Sentiment Treebank's five classes, sentence level.

Two layouts are accepted:
- the treebank's PTB tree files (`train.txt`, `dev.txt`, `test.txt`), one tree per line such as
  `(3 (2 It) (4 (2 's) (3 good)))`: the label is the root's number and the text is the leaves joined
  by spaces, with the PTB escapes undone (`-LRB-` -> `(`, `-RRB-` -> `)`, and the bracket kin);
- a CSV (.csv/.tsv, optionally .gz) with a header naming the label and text columns (`label`,
  `sentence` by default), labels 0-4.
Result: multi-class int64 ids 0..4 with the class names "very negative" ... "very positive" (or the
caller's five class_names). Errors name the file and line: a label outside 0-4, unbalanced
parentheses, a node without a label, an empty sentence. The files are small, so they are always read
whole (lazy does not apply).
"""
import csv
import io
import re

import numpy as np

from ...errors import UserError
from ..files.gzip_source import inner_name
from ..files.tables import file_delimiter, read_text_file
from .parts import FilePart, clean_text

CLASS_NAMES = ["very negative", "negative", "neutral", "positive", "very positive"]
N_CLASSES = len(CLASS_NAMES)
TREE_TOKEN = re.compile(r"\(|\)|[^\s()]+")
PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
PTB_ESCAPE = re.compile("|".join(map(re.escape, PTB_ESCAPES)))


class _TreeError(ValueError):
    """A structural problem of one tree line (turned into a UserError naming the file and line)."""


def _class_id(value, where):
    """A label cell as a class id 0..4, or UserError naming `where`."""
    text = str(value).strip()
    if not text.isdigit() or int(text) >= N_CLASSES:
        raise UserError(f"{where}: label {text!r} is outside 0-{N_CLASSES - 1} (SST-5 has {N_CLASSES} classes)")
    return int(text)


def _walk_tree(tokens):
    """(root label, leaves) of one tree's tokens; _TreeError when the tree is malformed."""
    depth, root_label, leaves, expect_label, closed = 0, None, [], False, False
    for token in tokens:
        if closed:
            raise _TreeError("has text after the tree's closing ')' (unbalanced parentheses)")
        if token == "(":
            if expect_label:
                raise _TreeError("has a node without a label")
            depth, expect_label = depth + 1, True
        elif token == ")":
            if expect_label:
                raise _TreeError("has a node without a label")
            depth -= 1
            closed = depth == 0
        elif expect_label:
            root_label = token if root_label is None else root_label
            expect_label = False
        else:
            leaves.append(PTB_ESCAPE.sub(lambda match: PTB_ESCAPES[match.group()], token))
    if depth != 0:
        raise _TreeError(f"has unbalanced parentheses ({depth} '(' not closed)")
    return root_label, leaves


def parse_tree(line, path, line_number):
    """(class id, sentence) of one PTB tree line."""
    tokens = TREE_TOKEN.findall(line)
    where = f"{path} line {line_number}"
    if not tokens or tokens[0] != "(":
        raise UserError(f"{where} is not a tree: SST-5 tree files have one '(label (label word) ...)' per line")
    try:
        root_label, leaves = _walk_tree(tokens)
    except _TreeError as err:
        raise UserError(f"{where} {err}") from None
    if not leaves:
        raise UserError(f"{where} has an empty sentence (a tree without words)")
    return _class_id(root_label, where), " ".join(leaves)


def _read_trees(path):
    """(class ids, sentences) of a tree file."""
    ids, texts = [], []
    for line_number, line in enumerate(read_text_file(path).split("\n"), start=1):
        if line.strip():
            class_id, text = parse_tree(line, path, line_number)
            ids.append(class_id)
            texts.append(text)
    return ids, texts


def _header_index(header, key, path, what):
    if key not in header:
        raise UserError(f"{path} has no {what} column {key!r}; its header is: {', '.join(map(repr, header))}")
    return header.index(key)


def _read_csv(path, options):
    """(class ids, sentences) of a label,sentence CSV, errors naming the physical line."""
    reader = csv.reader(io.StringIO(read_text_file(path)), delimiter=file_delimiter(path, options["delim"]))
    header = next(reader, [])
    text_col = _header_index(header, options["text_key"], path, "text")
    label_col = _header_index(header, options["label_cols"][0], path, "label")
    ids, texts = [], []
    for row in reader:
        where = f"{path} line {reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise UserError(f"{where} has {len(row)} fields, the header has {len(header)}")
        if not row[text_col].strip():
            raise UserError(f"{where} has an empty sentence")
        ids.append(_class_id(row[label_col], where))
        texts.append(row[text_col])
    return ids, texts


def _class_names(options):
    names = options["class_names"]
    if names is None:
        return CLASS_NAMES
    if len(names) != N_CLASSES:
        raise UserError(f"SST-5 has {N_CLASSES} classes; --class-names lists {len(names)}")
    return list(names)


def read_sst5(path, options):
    """One SST-5 file (tree file or CSV) as a 5-class FilePart."""
    if options["multi_label"]:
        raise UserError("SST-5 has one label per sentence; --non-binary-cols does not apply")
    is_csv = inner_name(path).lower().endswith((".csv", ".tsv"))
    ids, texts = _read_csv(path, options) if is_csv else _read_trees(path)
    if not texts:
        raise UserError(f"{path} holds no sentences")
    texts = [clean_text(text, options["process"]) for text in texts]
    raw_labels = np.asarray(ids, np.float64)[:, None]  # (N, 1)
    return FilePart(texts, raw_labels, class_names=_class_names(options), num_classes=N_CLASSES)

"""The `imdb` format: a split folder of the Large Movie Review Dataset as distributed (`aclImdb/train`,
`aclImdb/test`); auto for a directory.

Layout: `pos/` (label 1) and `neg/` (label 0), and in train also `unsup/` (no label, rating 0); one
review per file named `<id>_<rating>.txt`, rating 1-10. pos/ and neg/ are required. unsup/ is read
only when labels are not required (LM pretraining), and then the data set has no labels.
Labels: `label_key` "label" (the default) gives pos/neg as 1/0; "rating" gives the 1-10 rating from the
file name (turn it binary with binarize_sent, e.g. 5.5). Order: by id, then neg, pos, unsup, so it is
the same on every machine. The `<br />` tags of the reviews become newlines. Lazy reading keeps the
sorted file list and reads a review when it is asked for.
"""
import dataclasses
import functools
import os
import re

import numpy as np

from ...errors import UserError
from ..files.utf8 import decode_counting, warn_replaced
from ..files.sequences import MappedSequence
from .parts import FilePart, clean_text, finish_part

LABELLED_FOLDERS = (("neg", 0.0), ("pos", 1.0))
UNLABELLED_FOLDER = "unsup"
FILE_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")
LINE_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
LABEL_KEYS = ("label", "rating")


def _review_files(split_dir, folder, label):
    """(id, folder rank, path, label, rating) of every review in one folder."""
    rank = [name for name, _ in LABELLED_FOLDERS].index(folder) if label is not None else len(LABELLED_FOLDERS)
    folder_path = os.path.join(split_dir, folder)
    entries = []
    for name in os.listdir(folder_path):
        match = FILE_NAME.match(name)
        if match is None:
            raise UserError(f"{os.path.join(folder_path, name)}: IMDB review files are named <id>_<rating>.txt")
        entries.append((int(match.group(1)), rank, os.path.join(folder_path, name), label, int(match.group(2))))
    return entries


def _check_layout(split_dir):
    for folder, _ in LABELLED_FOLDERS:
        if not os.path.isdir(os.path.join(split_dir, folder)):
            raise UserError(f"{split_dir} is not an IMDB split folder: it has no {folder}/ folder (expected pos/ "
                            "and neg/ holding <id>_<rating>.txt reviews, e.g. aclImdb/train)")


def _review_and_count(path, process=None):
    """(text, undecodable byte sequences) of one review file, `<br />` tags turned into newlines."""
    with open(path, "rb") as handle:
        text, replaced = decode_counting(handle.read())
    return clean_text(LINE_BREAK_TAG.sub("\n", text), process), replaced


def read_review(path, process=None):
    """One review file as text (undecodable bytes replaced)."""
    return _review_and_count(path, process)[0]


def _read_reviews(paths, process, source):
    """Every review's text, with one warning for undecodable bytes in any of them."""
    texts, replaced = [], 0
    for path in paths:
        text, count = _review_and_count(path, process)
        texts.append(text)
        replaced += count
    warn_replaced(source, replaced)
    return texts


def _raw_labels(entries, label_key):
    if label_key == "rating":
        return np.array([[entry[4]] for entry in entries], np.float64)  # (N, 1)
    return np.array([[entry[3]] for entry in entries], np.float64)  # (N, 1)


def _read_unlabelled(split_dir, options):
    """The folder's reviews without labels (for a --label-key an IMDB folder does not have, when labels
    are optional)."""
    return dataclasses.replace(read_imdb(split_dir, dict(options, label_cols=[LABEL_KEYS[0]])), raw_labels=None)


def read_imdb(split_dir, options):
    """One aclImdb split folder as a FilePart."""
    if not os.path.isdir(split_dir):
        raise UserError(f"{split_dir} is not a folder; the imdb format reads an aclImdb split folder such as "
                        "aclImdb/train")
    _check_layout(split_dir)
    label_key = options["label_cols"][0]
    if options["multi_label"]:
        raise UserError(f"{split_dir} is an IMDB folder: it has one label (--label-key label or rating), "
                        "not --non-binary-cols")
    if label_key not in LABEL_KEYS:
        if options["require_labels"]:
            raise UserError(f"{split_dir} is an IMDB folder: its labels are --label-key "
                            f"{' or '.join(LABEL_KEYS)}; got --label-key {label_key}")
        return _read_unlabelled(split_dir, options)
    entries = [e for folder, label in LABELLED_FOLDERS for e in _review_files(split_dir, folder, label)]
    with_unsup = not options["require_labels"] and os.path.isdir(os.path.join(split_dir, UNLABELLED_FOLDER))
    if with_unsup:
        entries += _review_files(split_dir, UNLABELLED_FOLDER, None)
    if not entries:
        raise UserError(f"{split_dir} holds no reviews in pos/ and neg/")
    entries.sort(key=lambda entry: entry[:2])
    paths = [entry[2] for entry in entries]
    raw_labels = None if with_unsup and any(e[3] is None for e in entries) else _raw_labels(entries, label_key)
    if options["lazy"]:
        return FilePart(MappedSequence(paths, functools.partial(read_review, process=options["process"])), raw_labels)
    texts = _read_reviews(paths, options["process"], split_dir)
    return finish_part(texts, raw_labels, split_dir, options, what="review text")

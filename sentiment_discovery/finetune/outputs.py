"""What the labels of a finetuning run ask the classifier for, checked against the flags.

- binary: one 0/1 label column -> one sigmoid output;
- multilabel: several 0/1 columns (`--non-binary-cols`) -> one sigmoid output per column; also a
  multi-class column trained with `--joint-binary-train` (one-hot, one sigmoid output per class);
- multiclass: `--use-softmax` over K classes, given as class ids in one column (K from
  `--classifier-hidden-layers`' last size, `--class-names` or the largest id) or as one-hot columns.

`output_spec(train, others, ...)` returns an `OutputSpec` or raises a one-line UserError: a binary column
with other values than 0/1, class ids that do not fit K, `--classifier-hidden-layers` whose last size is
not the number of outputs, dual thresholds without a (positive, negative) pair of columns.
`spec.targets(dataset)` gives the loss targets and `spec.truth(dataset)` the labels the metrics score.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..inference import output_names

KINDS = ("binary", "multiclass", "multilabel")


@dataclass(frozen=True)
class OutputSpec:
    """The outputs a classifier is trained to produce."""
    kind: str                     # "binary" | "multiclass" | "multilabel"
    names: tuple                  # one name per output column
    use_softmax: bool = False
    joint_binary: bool = False    # multi-class ids trained as one-hot binary columns
    one_hot_columns: bool = False  # softmax classes given as one-hot label columns
    class_names: tuple = ()       # names of the class ids of one label column (words or --class-names)

    @property
    def n_outputs(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict:
        spec = {"kind": self.kind, "names": list(self.names), "use_softmax": self.use_softmax,
                "joint_binary": self.joint_binary, "one_hot_columns": self.one_hot_columns}
        if self.class_names:  # only then, so that resume checkpoints of numeric labels still match
            spec["class_names"] = list(self.class_names)
        return spec

    def class_ids(self, labels: np.ndarray) -> np.ndarray:
        """Class ids (N,) int64 of multi-class labels (ids, or one-hot rows)."""
        if labels.ndim == 2:
            return labels.argmax(axis=1).astype(np.int64)
        return labels.astype(np.int64)

    def targets(self, dataset) -> np.ndarray:
        """Loss targets: class ids (N,) int64 for softmax, else 0/1 (N, C) float32."""
        labels = dataset.labels
        if self.kind == "multiclass":
            return self.class_ids(labels)
        if self.joint_binary:
            return np.eye(self.n_outputs, dtype=np.float32)[labels.astype(np.int64)]
        return labels.reshape(len(labels), -1).astype(np.float32)

    def truth(self, dataset) -> np.ndarray:
        """Labels as the metrics read them: (N,) 0/1, (N,) class ids or (N, C) 0/1, int64."""
        targets = self.targets(dataset)
        if self.kind == "binary":
            return targets[:, 0].astype(np.int64)
        return targets.astype(np.int64)

    def report_names(self) -> list[str]:
        """Row names of the per-class report: both classes of a binary task, else the outputs."""
        if self.kind == "binary":
            return list(self.class_names) or [f"{self.names[0]}=0", f"{self.names[0]}=1"]
        return list(self.names)


def _check_binary_split(dataset, label_name):
    """UserError naming the first label other than 0/1."""
    labels = np.asarray(dataset.labels, dtype=np.float64).reshape(len(dataset.labels), -1)
    bad = ~np.isin(labels, (0.0, 1.0))
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise UserError(f"{dataset.source}: label {label_name!r} is {labels[row, column]:g} in row {row + 1}; a "
                        "binary task needs 0/1 labels (pass --use-softmax for multi-class, or --joint-binary-train "
                        "for one binary output per class)")


def _check_hidden_layers(hidden_layers, n_outputs, what):
    if hidden_layers and hidden_layers[-1] != n_outputs:
        sizes = " ".join(str(size) for size in hidden_layers)
        raise UserError(f"--classifier-hidden-layers {sizes} ends in {hidden_layers[-1]} outputs, but the task "
                        f"has {n_outputs} ({what}); make the last size {n_outputs}")


def _number_of_classes(splits, hidden_layers, class_names):
    """K for class ids: --classifier-hidden-layers' last size, else --class-names, else the largest id + 1."""
    largest = max(int(np.max(split.labels)) for split in splits)
    if hidden_layers:
        n_classes = hidden_layers[-1]
    elif class_names:
        n_classes = len(class_names)
    else:
        n_classes = largest + 1
    if class_names and len(class_names) != n_classes:
        raise UserError(f"--class-names lists {len(class_names)} classes but --classifier-hidden-layers ends in "
                        f"{n_classes} outputs")
    if n_classes < 2:
        raise UserError(f"a multi-class task needs at least 2 classes, the labels have {n_classes}")
    for split in splits:
        ids = np.asarray(split.labels)
        if ids.max() >= n_classes or ids.min() < 0:
            row = int(np.flatnonzero((ids >= n_classes) | (ids < 0))[0]) + 1
            raise UserError(f"{split.source}: class id {ids[row - 1]:g} in row {row} does not fit {n_classes} "
                            f"classes (0..{n_classes - 1})")
    return n_classes


def _check_one_hot(splits):
    for split in splits:
        sums = np.asarray(split.labels).sum(axis=1)
        if not np.all(sums == 1):
            row = int(np.flatnonzero(sums != 1)[0]) + 1
            raise UserError(f"{split.source}: --use-softmax with --non-binary-cols needs exactly one 1 per row "
                            f"(one-hot classes); row {row} has {sums[row - 1]:g}")


def _multilabel_spec(first, splits, use_softmax, hidden_layers):
    names = tuple(first.label_names)
    if use_softmax:
        _check_one_hot(splits)
        _check_hidden_layers(hidden_layers, len(names), "one class per --non-binary-cols column")
        return OutputSpec("multiclass", names, use_softmax=True, one_hot_columns=True)
    _check_hidden_layers(hidden_layers, len(names), "one output per --non-binary-cols column")
    return OutputSpec("multilabel", names)


def _single_column_spec(first, splits, use_softmax, joint_binary, hidden_layers, class_names):
    label = first.label_names[0]
    if use_softmax or joint_binary:
        n_classes = _number_of_classes(splits, hidden_layers if use_softmax else None, class_names)
        names = tuple(output_names("multiclass", first.label_names, class_names, n_classes))
        _check_hidden_layers(hidden_layers, n_classes, f"{n_classes} classes")
        known = tuple(str(name) for name in class_names) if class_names and len(class_names) == n_classes else ()
        if use_softmax:
            return OutputSpec("multiclass", names, use_softmax=True, class_names=known)
        return OutputSpec("multilabel", names, joint_binary=True, class_names=known)
    for split in splits:
        _check_binary_split(split, label)
    _check_hidden_layers(hidden_layers, 1, f"one binary label {label!r}")
    known = tuple(str(name) for name in class_names) if class_names and len(class_names) == 2 else ()
    return OutputSpec("binary", (label,), class_names=known)


def output_spec(splits, use_softmax=False, joint_binary=False, hidden_layers=None, class_names=None,
              dual_thresh=False) -> OutputSpec:
    """The OutputSpec the labelled splits (train first) and the flags describe; UserError when they disagree."""
    splits = [split for split in splits if split is not None and split.labels is not None]
    if not splits:
        raise UserError("finetuning needs labelled training data")
    first = splits[0]
    if use_softmax and joint_binary:
        raise UserError("choose one of --use-softmax and --joint-binary-train")
    multi_column = np.asarray(first.labels).ndim == 2
    if multi_column and joint_binary:
        raise UserError("--joint-binary-train turns one multi-class column into binary outputs; "
                        "--non-binary-cols are binary already")
    if multi_column:
        spec = _multilabel_spec(first, splits, use_softmax, hidden_layers)
    else:
        spec = _single_column_spec(first, splits, use_softmax, joint_binary, hidden_layers, class_names)
    if dual_thresh and (spec.kind != "multilabel" or spec.n_outputs < 2):
        raise UserError("--dual-thresh needs at least two sigmoid outputs, positive then negative "
                        "(e.g. --non-binary-cols positive negative ...)")
    return spec

"""Decision thresholds of a finetuned classifier, tuned on validation probabilities.

`tune_thresholds(probs, labels, options)` for sigmoid outputs (binary, multi-label):
1. without `automatic`, 0.5 for every output;
2. `automatic`: per output, the grid threshold maximising `metric` (evaluation.thresholds.best_thresholds);
3. `double` (--double-thresh): a second pass, output by output, re-tunes each threshold on the grid for
   the *averaged* metric (micro with `micro`, else macro) with the other outputs' thresholds held at
   their current values (evaluation.thresholds.second_pass); the macro average is already optimal
   per output, the micro one is not;
4. `global_tweaks` > 0: random nudges of single thresholds kept when the averaged metric rises;
5. `dual` (--dual-thresh): the first two outputs are a (positive, negative) pair; their thresholds are
   replaced by the pair maximising 3-way positive/neutral/negative accuracy (evaluation.thresholds).
Softmax outputs have no thresholds (the prediction is the most probable class, evaluation.labels.
predict_labels): 0.5 is stored for each, as run_classifier expects one per label.
"""
from dataclasses import dataclass

import numpy as np

from ..evaluation.names import canonical_metric
from ..evaluation.thresholds import best_thresholds, dual_thresholds, evaluate_thresholds, global_tweaks, second_pass

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ThresholdOptions:
    automatic: bool = False
    metric: str = "f1"
    micro: bool = False
    double: bool = False
    global_tweaks: int = 0
    dual: bool = False
    seed: int = 0


def tune_thresholds(probs, labels, options: ThresholdOptions):
    """(thresholds (L,), info dict) for sigmoid probabilities (N, L) and 0/1 labels (N, L)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).reshape(probs.shape).astype(np.int64)
    thresholds = np.full(probs.shape[1], DEFAULT_THRESHOLD)
    info = {}
    if not options.automatic:
        return thresholds, info
    metric = canonical_metric(options.metric)
    thresholds = best_thresholds(probs, labels, metric).thresholds
    if options.double:
        thresholds = second_pass(probs, labels, thresholds, metric, options.micro)
    if options.global_tweaks > 0:
        thresholds, _ = global_tweaks(probs, labels, thresholds, n=options.global_tweaks, metric=metric,
                                      micro=options.micro, seed=options.seed)
    if options.dual:
        pair, accuracy = dual_thresholds(probs[:, :2], labels[:, :2])
        thresholds[:2] = pair
        info["dual_accuracy"] = accuracy
    info["averaged_metric"] = evaluate_thresholds(probs, labels, thresholds, metric, options.micro)
    return thresholds, info

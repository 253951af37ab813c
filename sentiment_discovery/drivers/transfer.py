"""The transfer run behind transfer.py (Radford et al., arXiv 1704.01444, as NVIDIA's sentiment-discovery ran
it; README "Transfer"): featurize the splits with the frozen language model (`transfer/featurize.py`, cached
per split by `transfer/feature_cache.py`), the L1 logistic-regression sweep and the top --neurons
(`transfer/regression.py`), the report, and the results folder (`transfer/transfer_outputs.py`).

Each text goes through the model's process function as it is featurized; the data sets keep the raw text,
so --write-results carries the input verbatim. A test split without labels is featurized and predicted,
but not scored.
"""
from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, field

import numpy as np

from ..checkpoint import save_checkpoint
from ..errors import UserError
from ..inference import effective_max_len, output_names
from ..models.hf_encoder import resolve_model_path
from ..models.kinds import feature_width, max_positions, model_kind
from ..models.loading import load_text_encoder
from ..output_paths import check_output_folder, check_unused_folder, check_outputs, reported_write
from ..runtime import choose_device, load_splits, set_runtime_options, set_threads
from ..training.distributed import broadcast_object, init_distributed, is_main, shutdown
from ..transfer import feature_cache
from ..transfer.featurize import featurize_texts, precision_mode, prepare_for_inference
from ..transfer.transfer_outputs import CLASSIFIER_FILE, RESULTS_FILE
# sklearn (regression.py) and matplotlib (plots.py) are imported where they are used, so that a bad input
# or output path is reported before they load

log = logging.getLogger(__name__)
SPLITS = ("train", "valid", "test")
SIGN_MARKS = {1: "+", -1: "-", 0: "0"}


@dataclass
class Split:
    """One data split and its features."""
    name: str
    dataset: object
    features: np.ndarray | None = None
    featurized: dict | None = None    # featurizing stats, None when the cache was used

    @property
    def labels(self):
        return self.dataset.labels


@dataclass
class FitReport:
    """One regression (all neurons, top neurons or the rest) and its per-split scores."""
    name: str
    result: object
    scores: dict = field(default_factory=dict)   # split -> {"accuracy", "score", ...} or None

    def to_dict(self) -> dict:
        return {"sweep": self.result.to_dict(), "best_c": self.result.best_c,
                "n_nonzero": self.result.n_nonzero, "scores": self.scores}


# ---------------------------------------------------------------- setup

def results_directory(load: str, save_results: str = "", output_dir: str | None = None) -> str:
    """`<output_dir>/<save_results>`; without --output-dir `<load without extension>_transfer/<save_results>`
    (next to the model file or directory)."""
    if output_dir:
        return os.path.join(output_dir, save_results or "")
    stem = os.path.splitext(os.path.normpath(load))[0]
    return os.path.join(stem + "_transfer", save_results or "")


def results_stem(model) -> str:
    """The model path the results folder is named after (a `config.ModelConfig`): --load, an hf model folder,
    or runs/<package> for an hf model given as an installed package's name (so no folder lands in the
    working directory)."""
    if not model_kind(model).pretrained_only:
        return model.load
    return model.hf_model if os.path.isdir(model.hf_model) else os.path.join("runs", model.hf_model)


def model_stamp(model) -> dict:
    """What identifies the features' model for the cache: the --load file, or the hf folder and pooling."""
    if not model_kind(model).pretrained_only:
        return feature_cache.model_stamp(model.load)
    folder = resolve_model_path(model.hf_model)
    return dict(feature_cache.model_stamp(os.path.join(folder, "config.json")), pooling=model.hf_pooling)


# ---------------------------------------------------------------- features

def split_features(split: Split, model, tokenizer, options: dict, width: int, settings: dict) -> None:
    """Fill `split.features`: from the cache when allowed and current (rank 0 decides, and only rank 0
    reads it), else by featurizing, every rank its share of the batches (then rank 0 caches them)."""
    env = settings["env"]
    wanted = feature_cache.split_description(settings["stamp"], options, settings["max_len"], split.dataset,
                                             settings["process_fn"])
    if settings["use_cached"]:
        cached = feature_cache.load_cached(settings["results_dir"], split.name, wanted, width) if is_main(env) else None
        if broadcast_object(cached is not None):
            split.features = cached
            return
    log.info("featurizing %s: %d texts", split.name, len(split.dataset.texts))
    features, stats = featurize_texts(model, tokenizer, split.dataset.texts, options, width,
                                      batch_size=settings["batch_size"], max_seq_len=settings["max_len"],
                                      device=env.device, context=settings["context"],
                                      desc=f"featurize {split.name}", process=settings["process_fn"],
                                      share=(env.rank, env.world_size))
    if stats.n_truncated:
        log.info("%s: %d text(s) longer than %s tokens were truncated", split.name, stats.n_truncated,
                 settings["max_len"])
    split.features, split.featurized = features, stats.to_dict()
    if is_main(env):
        with reported_write(settings["results_dir"], "--save-results"):
            feature_cache.save_split(settings["results_dir"], split.name, features, split.labels, wanted)


# ---------------------------------------------------------------- regression

def validation_split(splits: dict) -> Split:
    """The split C is chosen on: the labelled validation split, or train (with a warning) without one."""
    valid = splits.get("valid")
    if valid is not None and valid.labels is not None:
        return valid
    log.warning("no labelled validation data: C is chosen on the training data "
                "(pass --valid FILE or a --split with a validation fraction)")
    return splits["train"]


def score_splits(result, splits: dict) -> dict:
    """{split: score(...)} for every split with labels; None for a split without them."""
    from ..transfer.regression import score
    scores = {}
    for name, split in splits.items():
        scores[name] = None if split.labels is None else score(result, split.features, split.labels)
    return scores


def fit_all(splits: dict, chosen_on: Split, k: int, drop: bool,
            sweep_options: dict) -> tuple[dict, np.ndarray, np.ndarray]:
    """The regressions, C chosen on the split `chosen_on`: all neurons, the top k, and (drop) all but the
    top k. Returns (reports by name, top indices (k,), their signs (k,))."""
    from ..transfer.regression import drop_neurons, fit_on_neurons, sweep_logistic_regression, top_neurons
    train = splits["train"]
    val_x, val_y = chosen_on.features, chosen_on.labels
    full = sweep_logistic_regression(train.features, train.labels, val_x, val_y, **sweep_options)
    reports = {"all": FitReport("all neurons", full, score_splits(full, splits))}
    indices = signs = np.zeros(0, dtype=np.int64)
    if k > 0:
        indices, signs = top_neurons(full.weights, k)
        only = fit_on_neurons(train.features, train.labels, val_x, val_y, indices, **sweep_options)
        reports["top"] = FitReport(f"{k} neuron(s)", only, score_splits(only, splits))
        if drop:
            rest = drop_neurons(train.features, train.labels, val_x, val_y, indices, **sweep_options)
            reports["rest"] = FitReport(f"all but the top {k} neuron(s)", rest, score_splits(rest, splits))
    return reports, indices, signs


# ---------------------------------------------------------------- report

def score_triple(scores: dict, key: str) -> str:
    """'91.2/90.0/91.3' (percent) for train/val/test; '-' for a split without a score."""
    parts = []
    for name in SPLITS:
        value = scores.get(name)
        parts.append("-" if value is None else f"{100 * value[key]:.1f}")
    return "/".join(parts)


def fit_explained(result, metric: str, chosen_on: str = "validation") -> list[str]:
    """The original's `regularization coef` / `NNZ` lines, each saying what its number is."""
    weights = np.atleast_2d(result.weights)  # (C, F)
    outputs = f" x {weights.shape[0]} outputs" if weights.shape[0] > 1 else ""
    return [f"regularization coef: {result.best_c:g} (C, the inverse L1 regularisation strength: smaller keeps "
            f"fewer features; chosen on {chosen_on} {metric})",
            f"NNZ: {result.n_nonzero} (non-zero weights, of {weights.shape[1]} feature"
            f"{'' if weights.shape[1] == 1 else 's'}{outputs})"]


def print_fit(report: FitReport, metric: str, chosen_on: str = "validation") -> None:
    print(f"{score_triple(report.scores, 'accuracy')} train/val/test accuracy w/ {report.name}")
    if metric != "accuracy":
        print(f"{score_triple(report.scores, 'score')} train/val/test {metric} w/ {report.name}")
    for line in fit_explained(report.result, metric, chosen_on):
        print(line)


def print_report(reports: dict, indices, signs, metric: str, test_unscored: bool,
                 chosen_on: str = "validation") -> None:
    print_fit(reports["all"], metric, chosen_on)
    if len(indices):
        listed = ", ".join(f"{int(i)} ({SIGN_MARKS[int(s)]})" for i, s in zip(indices, signs))
        print(f"neuron(s) {listed} are top sentiment neurons")
        if not np.all(signs):
            print(f"note: only {int(np.count_nonzero(signs))} of the top {len(signs)} neurons have a "
                  "non-zero weight; the others (0) are arbitrary")
        print_fit(reports["top"], metric, chosen_on)
    if "rest" in reports:
        print_fit(reports["rest"], metric, chosen_on)
    if test_unscored:
        print("test split has no labels: test scores skipped (predictions still written)")


# ---------------------------------------------------------------- the run

def read_splits(config) -> dict:
    """Train (labels required), validation and test (labels optional) as Split objects."""
    train, valid, test = load_splits(config.data, config.run.seed)
    if train.labels is None:
        raise UserError(f"training data {train.source} has no labels")
    splits = {"train": Split("train", train)}
    if valid is not None:
        splits["valid"] = Split("valid", valid)
    if test is not None and not config.transfer.no_test_eval:
        splits["test"] = Split("test", test)
    return splits


def check_output_paths(config, results_dir: str) -> None:
    """The results folder and --write-results can be written, and overwrite none of the inputs."""
    data, valid, test = config.data.files()
    inputs = [("--load", config.model.load), ("--data", data), ("--valid", valid), ("--test", test)]
    check_output_folder("--save-results", results_dir, inputs)
    if not (config.transfer.use_cached or config.transfer.overwrite_output_dir):
        check_unused_folder(results_dir, (RESULTS_FILE, CLASSIFIER_FILE), "--output-dir DIR or --save-results NAME")
    named = [("--save-results", os.path.join(results_dir, name)) for name in (CLASSIFIER_FILE, RESULTS_FILE)]
    check_outputs([*named, ("--write-results", config.transfer.write_results)], inputs)


def run(config) -> dict | None:
    """Everything transfer.py does (a `config.TransferConfig`); returns the results dict also written to
    results.json. Under torchrun every rank featurizes its share of each split; rank 0 alone then fits,
    reports and writes (the other ranks return None)."""
    run, transfer, neurons = config.run, config.transfer, config.classifier.neurons
    set_threads(run.threads)
    env = init_distributed(choose_device(run.device))
    results_dir = results_directory(results_stem(config.model), transfer.save_results, transfer.output_dir)
    check_output_paths(config, results_dir)
    # a classifier checkpoint contributes its encoder
    model, tokenizer, process_fn = load_text_encoder(config.model, config.data.process_fn)
    set_runtime_options(model, config.model.rnn_impl)
    options = config.features.options()
    width = feature_width(model.config, **options)
    if neurons > width:
        raise UserError(f"--neurons {neurons} is larger than the {width} features the model gives")
    splits = read_splits(config)
    with reported_write(results_dir, "--save-results"):
        os.makedirs(results_dir, exist_ok=True)

    p = config.precision
    mode = precision_mode(p.fp16, p.amp, p.bf16)
    encoder = copy.deepcopy(model) if mode == "fp16" else model  # fp32 weights for the checkpoint
    model, context = prepare_for_inference(model, mode, env.device)
    max_len = effective_max_len(config.features.max_seq_len, max_positions(model))
    settings = {"results_dir": results_dir, "use_cached": transfer.use_cached,
                "stamp": model_stamp(config.model), "max_len": max_len, "batch_size": config.data.eval_batch,
                "env": env, "context": context, "process_fn": process_fn}
    for split in splits.values():
        split_features(split, model, tokenizer, options, width, settings)
    shutdown(env)
    if not is_main(env):
        return None

    sweep_options = {"metric": "mcc" if transfer.mcc else "accuracy", "seed": run.seed}
    chosen_on = validation_split(splits)
    reports, indices, signs = fit_all(splits, chosen_on, neurons, transfer.drop_neurons, sweep_options)
    test = splits.get("test")
    print_report(reports, indices, signs, reports["all"].result.metric, test is not None and test.labels is None,
                 "validation" if chosen_on.name == "valid" else "training")
    with reported_write(results_dir, "--save-results"):
        return write_outputs(config, splits, reports, indices, signs, (encoder, tokenizer, process_fn), options,
                             results_dir)


def write_outputs(config, splits, reports, indices, signs, pipeline, options, results_dir) -> dict:
    """classifier.pt, plots, --write-results and results.json."""
    from ..transfer.regression import probabilities
    from ..transfer.transfer_outputs import (regression_payload, stored_class_names, write_plots, write_results_json,
                                             write_test_results)
    full = reports["all"].result
    train = splits["train"].dataset
    n_columns = np.atleast_2d(full.weights).shape[0]
    names = output_names(full.task, train.label_names, train.class_names, n_columns)
    class_names = stored_class_names(full.task, train.class_names, n_columns)
    neurons = {"indices": [int(i) for i in indices], "signs": [float(s) for s in signs]} if len(indices) else None
    encoder, tokenizer, process_fn = pipeline
    files = {"classifier": save_checkpoint(os.path.join(results_dir, CLASSIFIER_FILE), regression_payload(
        encoder, tokenizer, full.weights, full.intercepts, names, options, neurons, process_fn, class_names))}
    files["plots"] = write_plots(results_dir, full.task, splits["train"].features, splits["train"].labels,
                                 full.weights, indices, names, class_names)
    test = splits.get("test")
    write_results = config.transfer.write_results
    if write_results and test is not None:
        probs_top = probabilities(reports["top"].result, test.features) if "top" in reports else None
        with reported_write(write_results, "--write-results"):
            files["test_results"] = write_test_results(
                write_results, test.dataset.texts, config.data.text_key, test.labels, full.task, train.label_names,
                probabilities(full, test.features), probs_top, len(indices), test.features, indices, class_names)
    elif write_results:
        log.warning("--write-results %s not written: there is no test split", write_results)
    model_config = config.model
    results = {
        "load": model_kind(model_config).source(model_config),
        "results_dir": results_dir, "task": full.task, "metric": full.metric,
        "labels": names, "class_names": class_names, "n_features": int(full.n_input_features),
        "feature_options": options, "process_fn": process_fn,
        "rows": {name: len(split.dataset.texts) for name, split in splits.items()},
        "featurized": {name: split.featurized or "cached" for name, split in splits.items()},
        "neurons": neurons, "fits": {name: report.to_dict() for name, report in reports.items()},
        "files": files,
    }
    files["results"] = write_results_json(results_dir, results)
    for path in (files["classifier"], files["results"]):
        print(f"wrote {path}")
    return results

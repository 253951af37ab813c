"""Classifier finetuning as a task of training/loop.py (Kant et al. 2018, arXiv 1812.01207).

Every rank tokenizes the whole split (`FinetuneData`) and computes the same global batch order for an epoch
(`epoch_steps`: bucketed by length, optionally stratified, a pure function of the seed and the epoch, so a
resumed run needs only the epoch and the step), then runs its slice of each global batch. The loss of a batch is
classification loss - variance weight * head variance + LM weight * aux LM loss, each a sum over this
rank's rows divided by the global batch's count times the world size (losses.py), so N processes step
exactly like one on the same global batch. Each epoch ends with a validation pass that tunes the
thresholds (validation.py) and scores the report metric that picks the best epoch.
"""
import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..checkpoint import classifier_payload
from ..data.batches.padded import make_batches, pad_batch
from ..data.preprocess import NONE
from ..inference import encode_texts
from ..training.distributed import unwrap_model
from ..training.loop import Evaluation, fp32_state
from .losses import aux_lm_loss, classification_loss, head_variance, predicted_token_count
from .validation import (DEFAULT_THRESHOLD, ThresholdOptions, epoch_message, epoch_row, mirror_confusion,
                         selection_value, split_outputs, tune_thresholds)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneSettings:
    """What the task reads of a `config.FinetuneConfig`, as plain values."""
    batch_size: int
    eval_batch_size: int
    seed: int
    grad_accum: int
    train_iters: int
    stratified: bool
    freeze_lm: bool
    class_weights: torch.Tensor | None
    aux_lm_weight: float          # 0: no auxiliary LM loss
    head_variance_weight: float
    thresholds: ThresholdOptions
    report_metric: str
    micro: bool
    all_metrics: bool


class FinetuneData:
    """Token lists, loss targets and metric labels of the splits (texts through `process_fn`)."""

    def __init__(self, spec, tokenizer, max_len, train, valid, test, process_fn=NONE):
        self.process_fn, self.tokenizer = process_fn, tokenizer
        self.train_tokens, self.train_targets = drop_tokenless(
            encode_split(train, tokenizer, max_len, "train", process_fn), spec.targets(train), "train")
        self.valid = self._eval_split(spec, tokenizer, max_len, valid, "validation")
        self.test = self._eval_split(spec, tokenizer, max_len, test, "test")

    def _eval_split(self, spec, tokenizer, max_len, split, what):
        if split is None:
            return None
        return {"tokens": encode_split(split, tokenizer, max_len, what, self.process_fn), "truth": spec.truth(split)}


def encode_split(dataset, tokenizer, max_len, what, process_fn=None):
    """Token id arrays of a split's texts after the process function `process_fn` (a name or None), cut to
    max_len (the count logged)."""
    token_lists, n_truncated, _ = encode_texts(dataset.texts, tokenizer, max_len, process_fn)
    if n_truncated:
        log.info("%s: %d of %d texts cut to %d tokens", what, n_truncated, len(token_lists), max_len)
    return token_lists


def drop_tokenless(token_lists, targets, what):
    """Training rows without tokens carry no signal: drop them (with a warning)."""
    keep = np.array([ids.size > 0 for ids in token_lists], dtype=bool)
    if keep.all():
        return token_lists, targets
    log.warning("%s: dropped %d text(s) without tokens", what, int((~keep).sum()))
    return [ids for ids, k in zip(token_lists, keep) if k], targets[keep]


def epoch_steps(token_lists, targets, global_batch, epoch, seed, stratified, grad_accum, world_size,
                max_steps=0):
    """The optimizer steps of one epoch: a list of steps, each a list of global batches (row index lists).

    Global batches smaller than the world size (each rank needs a row) are left out."""
    batches = make_batches(token_lists, targets, global_batch, bucket=True, stratified=stratified,
                           seed=seed * 1009 + epoch, shuffle=True)
    batches = [batch for batch in batches if len(batch) >= world_size]
    steps = [batches[i:i + grad_accum] for i in range(0, len(batches), grad_accum)]
    return steps[:max_steps] if max_steps > 0 else steps


def rank_rows(global_rows, rank, world_size):
    """This rank's contiguous share of a global batch's rows."""
    return np.array_split(np.asarray(global_rows, dtype=np.int64), world_size)[rank]


def tensor_batch(token_lists, targets, rows, device):
    """tokens (B, T) int64, lengths (B,) int64 and targets (B,) or (B, C) of the given rows, on device."""
    tokens, lengths = pad_batch([token_lists[i] for i in rows])
    batch_targets = torch.from_numpy(np.ascontiguousarray(targets[np.asarray(rows)]))
    return tokens.to(device), lengths.to(device), batch_targets.to(device)


class ClassifierTask:
    """One rank's batches, losses, validation and checkpoints of a finetuning run."""

    best_is_resumable = False

    def __init__(self, model, precision, data, spec, settings, env, reporter):
        """`data`: the run's token lists and targets (drivers/finetune.py's RunData); `settings`: a
        `FinetuneSettings`."""
        self.model, self.precision, self.data, self.spec = model, precision, data, spec
        self.settings, self.env, self.reporter = settings, env, reporter
        self.thresholds = [DEFAULT_THRESHOLD] * spec.n_outputs   # of the model as it is now
        self._steps = (None, None)

    @property
    def bare_model(self):
        return unwrap_model(self.model)

    # --- training ----------------------------------------------------------------------------------
    def epoch(self, epoch):
        """The optimizer steps of `epoch`: each a list of `grad_accum` global batches of row indices."""
        if self._steps[0] != epoch:
            s = self.settings
            self._steps = (epoch, epoch_steps(self.data.train_tokens, self.data.train_targets,
                                              s.batch_size * self.env.world_size, epoch, s.seed, s.stratified,
                                              s.grad_accum, self.env.world_size, s.train_iters))
        return self._steps[1]

    def steps_in_epoch(self, epoch):
        return len(self.epoch(epoch))

    def batches(self, epoch, start):
        for step in self.epoch(epoch)[start:]:
            self.model.train()
            if self.settings.freeze_lm:
                self.bare_model.encoder.eval()   # a frozen encoder gives deterministic features
            yield step

    def loss(self, rows_global):
        """Forward of this rank's rows of one global batch."""
        s, env, data = self.settings, self.env, self.data
        rows = rank_rows(rows_global, env.rank, env.world_size)
        tokens, lengths, targets = tensor_batch(data.train_tokens, data.train_targets, rows, env.device)
        n_rows = len(rows_global) / env.world_size  # rank's sum / (global count / world size)
        with self.precision.autocast():
            outputs = self.model(tokens, lengths, lm_logits=s.aux_lm_weight > 0)
        logits, lm_logits = outputs if isinstance(outputs, tuple) else (outputs, None)
        loss = classification_loss(logits, targets, n_rows, self.spec.use_softmax, s.class_weights)
        parts = {"clf_loss": float(loss.detach()) / env.world_size}
        if s.head_variance_weight > 0 and logits.dim() == 3:
            variance = head_variance(logits, n_rows, self.spec.use_softmax)
            loss = loss - s.head_variance_weight * variance
            parts["head_variance"] = float(variance.detach()) / env.world_size
        if lm_logits is not None:
            n_tokens = predicted_token_count([len(data.train_tokens[i]) for i in rows_global]) / env.world_size
            lm_loss = aux_lm_loss(lm_logits, tokens[:, : lm_logits.shape[1]], lengths, n_tokens)
            loss = loss + s.aux_lm_weight * lm_loss
            parts["lm_loss"] = float(lm_loss.detach()) / env.world_size
        parts["loss"] = float(loss.detach()) / env.world_size
        return loss, parts

    def interval_row(self, window, progress, lr):
        means = window.means()
        return {"step": progress.iteration, "lr": lr,
                **{f"train_{key}": value for key, value in means.items()}}

    # --- validation --------------------------------------------------------------------------------
    def score(self, split, thresholds=None, desc="validate"):
        """Probabilities, thresholds (tuned on the split unless given), report and loss of a split."""
        spec = self.spec

        def choose(probs):
            if thresholds is not None:
                return np.asarray(thresholds, dtype=np.float64), {}
            if spec.use_softmax:
                return np.full(spec.n_outputs, DEFAULT_THRESHOLD), {}
            return tune_thresholds(probs, split["truth"], self.settings.thresholds)
        return split_outputs(self.bare_model, split["tokens"], split["truth"], spec, choose,
                             self.settings.eval_batch_size, self.env.device, self.precision.autocast(), self.env,
                             desc)

    def validate(self, progress, lr):
        """The epoch's validation: tuned thresholds and the report metric (without validation data, the
        latest epoch counts as the best)."""
        s, epoch = self.settings, progress.epoch + 1
        val = self.score(self.data.valid) if self.data.valid is not None else None
        if val is not None:
            self.thresholds = [float(t) for t in val["thresholds"]]
            mirror_confusion(self.reporter.metrics, val["report"], self.spec.names, progress.iteration, "validation")
        row = epoch_row(epoch, progress.iteration, progress.epoch_means(), lr, val, self.thresholds)
        value = selection_value(val["report"], s.report_metric, s.micro) if val else float(epoch)
        message = epoch_message(row, s.report_metric, s.micro, s.all_metrics, self.spec.kind)
        return Evaluation(value, row, message, keep={"thresholds": list(self.thresholds)})

    # --- checkpoints -------------------------------------------------------------------------------
    def payload(self, progress, resumable):
        bare = self.bare_model
        payload = classifier_payload(bare.config, fp32_state(bare), self.data.tokenizer, self.spec.names,
                                     self.thresholds, self.data.process_fn, "finetune",
                                     class_names=self.spec.class_names)
        if resumable:
            payload["task"] = self.spec.to_dict()
        return payload

    def restore(self, ckpt):
        self.thresholds = [float(t) for t in ckpt["thresholds"]]

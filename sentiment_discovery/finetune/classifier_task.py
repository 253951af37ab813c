"""Classifier finetuning as a task of training/loop.py (Kant et al. 2018, arXiv 1812.01207).

Every rank tokenizes the whole split and computes the same global batch order for an epoch (batching.py:
bucketed by length, optionally stratified, a pure function of the seed and the epoch, so a resumed run
needs only the epoch and the step), then runs its slice of each global batch. The loss of a batch is
classification loss - variance weight * head variance + LM weight * aux LM loss, each a sum over this
rank's rows divided by the global batch's count times the world size (losses.py), so N processes step
exactly like one on the same global batch. Each epoch ends with a validation pass that tunes the
thresholds (thresholding.py) and scores the report metric that picks the best epoch.
"""
from dataclasses import dataclass

import numpy as np
import torch

from ..checkpoint import classifier_payload
from ..training.distributed import unwrap_model
from ..training.loop import Evaluation, fp32_state
from .batching import epoch_steps, rank_rows, tensor_batch
from .validation import DEFAULT_THRESHOLD, ThresholdOptions, selection_value, split_outputs, tune_thresholds
from .losses import aux_lm_loss, classification_loss, head_variance, predicted_token_count
from .reports import epoch_message, epoch_row, mirror_confusion


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
        if thresholds is not None:
            choose = lambda probs: (np.asarray(thresholds, dtype=np.float64), {})
        elif spec.use_softmax:
            choose = lambda probs: (np.full(spec.n_outputs, DEFAULT_THRESHOLD), {})
        else:
            choose = lambda probs: tune_thresholds(probs, split["truth"], self.settings.thresholds)
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

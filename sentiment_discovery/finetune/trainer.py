"""`FinetuneTrainer`: one rank's classifier, optimizer, precision and schedule, and one optimizer step.

A step takes `grad_accum` global batches; this rank runs the forward and backward of its slice of each
(training/loop.py's `train_step`: DDP synchronises gradients on the last). The loss of a batch is
classification loss - variance weight * head variance + LM weight * aux LM loss, each a sum over this
rank's rows divided by the global batch's count times the world size (see losses.py), so N processes
step exactly like one on the same global batch. Precision: --fp16/--amp/--bf16 autocast the forward;
losses are fp32.
"""
from dataclasses import dataclass, field

import torch

from ..training.distributed import unwrap_model, wrap_ddp
from ..training.loop import fp32_model_state, restore_training_state, train_step, training_state
from ..training.optim import build_optimizer
from ..training.precision import Precision
from ..training.schedules import build_schedule
from .batching import rank_rows, tensor_batch
from .losses import (
    aux_lm_loss,
    classification_loss,
    head_variance,
    predicted_token_count,
)


@dataclass(frozen=True)
class LossOptions:
    use_softmax: bool = False
    class_weights: torch.Tensor | None = None
    aux_lm_weight: float = 0.0          # 0: no auxiliary LM loss
    head_variance_weight: float = 0.0


@dataclass
class Progress:
    """Where the run is; saved in the resume checkpoint."""
    epoch: int = 0                 # epochs completed
    step_in_epoch: int = 0         # optimizer steps completed in the current epoch
    iteration: int = 0             # optimizer steps in all
    best_value: float = float("-inf")
    best_epoch: int = 0
    best_thresholds: list = field(default_factory=list)
    history: list = field(default_factory=list)   # one metrics row per finished epoch
    running: dict = field(default_factory=dict)   # this epoch's summed step losses (this rank's shares)

    def to_dict(self):
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "iteration": self.iteration,
                "best_value": self.best_value, "best_epoch": self.best_epoch,
                "best_thresholds": [float(t) for t in self.best_thresholds], "history": list(self.history),
                "running": dict(self.running)}

    @classmethod
    def from_dict(cls, d):
        return cls(int(d["epoch"]), int(d["step_in_epoch"]), int(d["iteration"]), float(d["best_value"]),
                   int(d["best_epoch"]), list(d["best_thresholds"]), list(d["history"]), dict(d["running"]))

    def add_step(self, parts):
        for key, value in parts.items():
            self.running[key] = self.running.get(key, 0.0) + value

    def next_epoch(self):
        self.epoch, self.step_in_epoch, self.running = self.epoch + 1, 0, {}


class FinetuneTrainer:
    """Owns the model (DDP-wrapped when distributed), optimizer, precision and schedule of one rank."""

    def __init__(self, model, train_tokens, train_targets, env, precision_flags, optim_flags, loss_options,
                 freeze_lm=False, clip=0.0):
        self.env, self.loss_options, self.clip = env, loss_options, clip
        self.train_tokens, self.train_targets = train_tokens, train_targets
        self.precision = Precision.from_flags(device=env.device, **precision_flags)
        self.freeze_lm = freeze_lm
        if freeze_lm:
            model.encoder.requires_grad_(False)
        self.model = model.to(env.device)
        self.model.aux_lm = loss_options.aux_lm_weight > 0
        self.ddp_model = wrap_ddp(self.model, env, find_unused_parameters=not self.model.aux_lm and not freeze_lm)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(optim_flags["optim"], trainable, optim_flags["lr"], optim_flags["weight_decay"])
        self.schedule = None
        self.progress = Progress()

    def build_schedule(self, total_iters, lr, decay_style, warmup_iters, constant_decay, cos_cut_frac,
                       stlr_cut_frac):
        """The LambdaLR schedule (training/schedules.py) over the run's `total_iters` optimizer steps."""
        self.schedule = build_schedule(self.optimizer, total_iters, start_lr=lr, warmup=warmup_iters,
                                       decay_style=decay_style, constant_decay=constant_decay,
                                       cos_cut_frac=cos_cut_frac, stlr_cut_frac=stlr_cut_frac)

    def train_mode(self):
        self.ddp_model.train()
        if self.freeze_lm:
            self.model.encoder.eval()  # a frozen encoder gives deterministic features

    # --- one step ---------------------------------------------------------------------------------
    def batch_loss(self, rows_global):
        """Forward of this rank's rows of one global batch -> (loss tensor, parts dict of floats)."""
        o, env = self.loss_options, self.env
        rows = rank_rows(rows_global, env.rank, env.world_size)
        tokens, lengths, targets = tensor_batch(self.train_tokens, self.train_targets, rows, env.device)
        n_rows = len(rows_global) / env.world_size  # rank's sum / (global count / world size)
        with self.precision.autocast():
            outputs = self.ddp_model(tokens, lengths)
        logits, lm_logits = outputs if isinstance(outputs, tuple) else (outputs, None)
        loss = classification_loss(logits, targets, n_rows, o.use_softmax, o.class_weights)
        parts = {"clf_loss": float(loss.detach()) / env.world_size}
        if o.head_variance_weight > 0 and logits.dim() == 3:
            variance = head_variance(logits, n_rows, o.use_softmax)
            loss = loss - o.head_variance_weight * variance
            parts["head_variance"] = float(variance.detach()) / env.world_size
        if lm_logits is not None:
            all_lengths = [len(self.train_tokens[i]) for i in rows_global]
            n_tokens = predicted_token_count(all_lengths) / env.world_size
            lm_loss = aux_lm_loss(lm_logits, tokens[:, : lm_logits.shape[1]], lengths, n_tokens)
            loss = loss + o.aux_lm_weight * lm_loss
            parts["lm_loss"] = float(lm_loss.detach()) / env.world_size
        parts["loss"] = float(loss.detach()) / env.world_size
        return loss, parts

    def train_step(self, step_batches):
        """One optimizer step over `grad_accum` global batches. Returns the parts averaged over them
        (this rank's share: summing them over ranks gives the global values)."""
        self.train_mode()
        infos, _ = train_step(self.ddp_model, step_batches, self.batch_loss, self.precision, self.optimizer,
                              self.schedule, self.clip)
        totals = {}
        for parts in infos:
            for key, value in parts.items():
                totals[key] = totals.get(key, 0.0) + value / len(infos)
        self.progress.iteration += 1
        self.progress.step_in_epoch += 1
        return totals

    # --- state ------------------------------------------------------------------------------------
    def model_state(self):
        """The classifier's state dict in fp32, on CPU."""
        return fp32_model_state(unwrap_model(self.ddp_model))

    def training_state(self):
        return dict(training_state(self.optimizer, self.schedule, self.precision, self.env.world_size),
                    progress=self.progress.to_dict())

    def restore(self, ckpt):
        """Continue exactly from a resume checkpoint (the model state is loaded by the caller)."""
        restore_training_state(ckpt, self.env.world_size, self.optimizer, self.schedule, self.precision)
        self.progress = Progress.from_dict(ckpt["progress"])


"""The training loop of language-model pretraining and classifier finetuning.

`train` owns the iteration: epochs of optimizer steps, each over `grad_accum` micro-batches; a metrics line
every --log-interval steps; at every epoch's end a validation pass that keeps the best checkpoint; the last
state saved at every epoch's end, every --save-iters steps and when a stop signal reaches any rank. What
differs between the two kinds of run is a `TrainingTask`: language_model_task.py and
finetune/classifier_task.py implement it. `Trainer` takes one optimizer step; `Progress` is where a run is.

Checkpoint files follow training/checkpoint_files.py (--save, its `_best`/`_last` sibling, the metrics log).
"""
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Iterator, Protocol

import torch
from tqdm import tqdm

from ..checkpoint import rng_state, save_checkpoint, set_rng_state
from ..errors import UserError
from ..output_paths import reported_write
from .distributed import all_reduce_sum, any_rank, grad_sync, unwrap_model
from .metrics_log import MetricsLog
from .signals import StepInterrupted
from .tensorboard_log import open_tensorboard

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """A validation pass: `value` picks the best epoch (higher is better), `row` is its metrics line,
    `message` its log line, `keep` what the task wants back from the best epoch (e.g. thresholds)."""
    value: float
    row: dict
    message: str
    keep: dict = field(default_factory=dict)


@dataclass
class Progress:
    """Where a run is; every resumable checkpoint holds it as plain data."""
    epoch: int = 0                  # epochs completed
    step_in_epoch: int = 0          # optimizer steps completed in the current epoch
    iteration: int = 0              # optimizer steps in all
    best_value: float = float("-inf")
    best_epoch: int = 0
    best_keep: dict = field(default_factory=dict)
    history: list = field(default_factory=list)   # one metrics row per validation pass
    running: dict = field(default_factory=dict)   # this epoch's step parts, summed over steps and ranks

    def to_dict(self):
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, stored):
        return cls(**stored)

    def epoch_means(self):
        """This epoch's step parts averaged over its steps."""
        steps = max(self.step_in_epoch, 1)
        return {key: value / steps for key, value in self.running.items()}


class TrainingTask(Protocol):
    """What a kind of run gives the loop."""

    best_is_resumable: bool        # the best checkpoint also holds the training state

    def steps_in_epoch(self, epoch: int) -> int:
        """Optimizer steps of `epoch`."""

    def batches(self, epoch: int, start: int) -> Iterator[list]:
        """The epoch's optimizer steps from step `start`, each a list of micro-batches."""

    def loss(self, micro) -> tuple[torch.Tensor, dict]:
        """One micro-batch's forward (under the precision's autocast): the loss to back-propagate and its
        parts as floats, this rank's shares (their sum over ranks is the global value)."""

    def interval_row(self, window: "Window", progress: Progress, lr: float) -> dict:
        """The metrics line of a log interval (its step parts in `window`)."""

    def validate(self, progress: Progress, lr: float) -> Evaluation | None:
        """Validation at the end of epoch `progress.epoch + 1` (None: nothing to validate on)."""

    def payload(self, progress: Progress, resumable: bool) -> dict:
        """The checkpoint of the model as it is now; `resumable`: with the task's own state (call on
        every rank: it may gather)."""

    def restore(self, ckpt: dict) -> None:
        """Continue the task's own state (data position, carried state) from a resumable checkpoint."""


class Trainer:
    """The model (DDP-wrapped when distributed), optimizer, precision and schedule of one rank, and the
    optimizer step."""

    def __init__(self, model, optimizer, precision, schedule, clip=0.0, world_size=1):
        self.model, self.optimizer, self.precision = model, optimizer, precision
        self.schedule, self.clip, self.world_size = schedule, clip, world_size

    @property
    def lr(self):
        return self.schedule.lr

    def step(self, micro_batches, loss_fn):
        """One optimizer step over `micro_batches` (DDP syncs gradients on the last only): the parts of
        `loss_fn(micro)` averaged over the micro-batches."""
        totals, n = {}, len(micro_batches)
        for index, micro in enumerate(micro_batches):
            with grad_sync(self.model, sync=index == n - 1):
                loss, parts = loss_fn(micro)
                self.precision.backward(loss / n)
            for key, value in parts.items():
                totals[key] = totals.get(key, 0.0) + value / n
        self.precision.step(self.optimizer, clip=self.clip or None)
        self.optimizer.zero_grad(set_to_none=True)
        self.schedule.step()
        return totals

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                "precision": self.precision.state_dict(), "rng": rng_state(), "world_size": self.world_size}

    def load_state_dict(self, ckpt):
        if int(ckpt["world_size"]) != self.world_size:
            raise UserError(f"the checkpoint was written by {ckpt['world_size']} processes, this run has "
                            f"{self.world_size}: resume with the same number of processes")
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["schedule"])
        self.precision.load_state_dict(ckpt["precision"])
        set_rng_state(ckpt["rng"])


@dataclass(frozen=True)
class LoopOptions:
    epochs: int
    log_interval: int = 0           # 0: no interval lines
    save_iters: int = 0             # 0: the last state only at epoch ends and on a stop
    epoch_path: object = None       # epoch -> path: also keep every epoch's checkpoint (--save-finetune)
    patience: int = 0               # stop after this many epochs without a better validation (0: never)

    def done(self, progress):
        """All epochs run, or `patience` epochs without a better validation."""
        waited = progress.epoch - progress.best_epoch
        return progress.epoch >= self.epochs or (self.patience > 0 and progress.history and waited >= self.patience)


def train(task, trainer, progress, reporter, files, stop, options):
    """Train until `options.epochs` epochs are done ('done') or a stop signal reaches any rank ('stopped',
    the last state saved); a step that the stop had to interrupt ends the run at once ('interrupted':
    nothing is saved, the last checkpoint stays as it was)."""
    window = Window()
    while not options.done(progress):
        n_steps = task.steps_in_epoch(progress.epoch)
        reporter.start_bar(n_steps, progress.step_in_epoch, f"epoch {progress.epoch + 1}/{options.epochs}")
        for micro_batches in task.batches(progress.epoch, progress.step_in_epoch):
            try:
                with stop.step():
                    parts = trainer.step(micro_batches, task.loss)
            except StepInterrupted:
                return "interrupted"
            count_step(progress, window, parts)
            reporter.advance(loss=f"{progress.running['loss'] / progress.step_in_epoch:.4f}", lr=f"{trainer.lr:.2e}")
            if options.log_interval and progress.iteration % options.log_interval == 0:
                reporter.write(task.interval_row(window, progress, trainer.lr))
                window = Window()
            if progress.step_in_epoch >= n_steps:
                break                   # the epoch's end saves
            stopping = any_rank(stop.should_stop)
            if stopping or (options.save_iters and progress.iteration % options.save_iters == 0):
                save(task, trainer, progress, reporter, files["last"], resumable=True)
            if stopping:
                return "stopped"
        reporter.close_bar()
        end_epoch(task, trainer, progress, reporter, files, options)
        if any_rank(stop.should_stop):
            return "stopped"
    if progress.epoch < options.epochs:
        log.info(f"early stop after epoch {progress.epoch}: no better validation for {options.patience} "
                     f"epochs (the best was epoch {progress.best_epoch})")
    return "done"


def count_step(progress, window, parts):
    """Add one step's parts (this rank's shares, summed over ranks here) to the epoch and the log window."""
    keys = sorted(parts)
    parts = dict(zip(keys, all_reduce_sum([parts[key] for key in keys])))
    progress.step_in_epoch += 1
    progress.iteration += 1
    for key, value in parts.items():
        progress.running[key] = progress.running.get(key, 0.0) + value
    window.add(parts)


def end_epoch(task, trainer, progress, reporter, files, options):
    """Validate, keep the best, save the last state, start the next epoch."""
    evaluation = task.validate(progress, trainer.lr)
    epoch = progress.epoch + 1
    if evaluation is not None:
        progress.history.append(evaluation.row)
        reporter.write(evaluation.row)
        log.info(evaluation.message)
        if evaluation.value > progress.best_value:
            progress.best_value, progress.best_epoch, progress.best_keep = evaluation.value, epoch, evaluation.keep
            save(task, trainer, progress, reporter, files["best"], resumable=task.best_is_resumable)
    if options.epoch_path is not None:
        save(task, trainer, progress, reporter, options.epoch_path(epoch), resumable=False)
    progress.epoch, progress.step_in_epoch, progress.running = epoch, 0, {}
    save(task, trainer, progress, reporter, files["last"], resumable=True)


def save(task, trainer, progress, reporter, path, resumable):
    """Write a checkpoint of the task (call on every rank; rank 0 writes)."""
    payload = task.payload(progress, resumable)
    if resumable:
        payload.update(trainer.state_dict(), progress=progress.to_dict())
    reporter.save(path, payload)


def fp32_state(model):
    """The bare model's state dict in fp32 on CPU."""
    return {name: tensor.detach().float().cpu() for name, tensor in unwrap_model(model).state_dict().items()}


class Window:
    """The step parts of one log interval, summed over ranks, and the time it has taken."""

    def __init__(self):
        self.start, self.sums, self.steps = time.perf_counter(), {}, 0

    def add(self, parts):
        self.steps += 1
        for key, value in parts.items():
            self.sums[key] = self.sums.get(key, 0.0) + value

    def means(self):
        return {key: value / max(self.steps, 1) for key, value in self.sums.items()}

    def seconds(self):
        return time.perf_counter() - self.start


class Reporter:
    """A run's bar, metrics log and checkpoint writer. A fresh run (`fresh=True`) starts a fresh metrics
    log; a resumed one appends to its log."""

    def __init__(self, metrics_path, enabled, tensorboard=None, list_names=None, fresh=False):
        self.enabled = enabled
        if enabled and fresh and os.path.exists(metrics_path):
            os.remove(metrics_path)
        mirror = open_tensorboard(tensorboard, enabled=enabled, list_names=list_names)
        self.metrics = MetricsLog(metrics_path, enabled=enabled, mirror=mirror)
        self._bar = None

    def start_bar(self, total, initial=0, desc="train", unit="step"):
        self.close_bar()
        self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not self.enabled,
                         dynamic_ncols=True, mininterval=1.0)

    def advance(self, **postfix):
        """One step done; `postfix` (formatted strings) shown beside the bar."""
        self._bar.update(1)
        self._bar.set_postfix(**postfix, refresh=False)

    def close_bar(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def write(self, row):
        self.metrics.write(row)

    def image(self, tag, path, step):
        self.metrics.image(tag, path, step)

    def save(self, path, payload):
        """Write a checkpoint (rank 0); a failing write is one line naming --save."""
        if self.enabled:
            with reported_write(path, "--save"):
                save_checkpoint(path, payload)

    def close(self):
        self.close_bar()
        self.metrics.close()

"""The training core shared by pretraining (drivers/pretrain.py) and finetuning (drivers/finetune.py).

- `train_step`: one optimizer step over micro-batches (DDP gradient sync only on the last; the caller's
  loss function runs its forward under the precision's autocast), the precision's backward and step
  (overflow skips the step and lowers the scale), clipping and the schedule's step.
- `drive`: the loop of a run (steps, epoch ends, the last-state checkpoint, a clean stop on a signal).
- `Reporter`: the tqdm bar, the JSON-lines metrics log and its TensorBoard mirror.
- the checkpoint convention (`run_files`, `resume_path`) and the training state every resumable
  checkpoint carries (`training_state`, `restore_training_state`, `fp32_model_state`).

Checkpoint convention (README "Checkpoints and resuming"): a run writes a *family* of files from --save:
the last state (full training state; written at every epoch's end, every --save-iters optimizer steps,
on SIGTERM/SIGINT and at the end) and the best one by validation. Pretraining's --save is the last state
(its `_best` the best), finetuning's --save is the best classifier (its `_last` the last state), so that
--save is what the next tool reads in both. `--resume auto` takes the newest file of the family that holds
a training state; `--resume PATH` that file.
"""
import os

from tqdm import tqdm

from ..errors import UserError
from ..checkpoint import rng_state, set_rng_state
from .collective import any_rank
from .distributed import grad_sync
from .metrics_log import MetricsLog
from .tensorboard_log import open_tensorboard


# --- one step -------------------------------------------------------------------------------------
def train_step(ddp_model, micro_batches, loss_fn, precision, optimizer, schedule, clip=0.0):
    """One optimizer step over `micro_batches`: `loss_fn(micro)` -> (loss tensor, info) for each, its
    backward scaled by 1/len(micro_batches) (DDP syncs gradients on the last only); then the precision's
    step (skipped on overflow), zeroed gradients and the schedule's step. Returns ([info...], stepped)."""
    infos, n = [], len(micro_batches)
    for index, micro in enumerate(micro_batches):
        with grad_sync(ddp_model, sync=index == n - 1):
            loss, info = loss_fn(micro)
            precision.backward(loss / n)
        infos.append(info)
    stepped = precision.step(optimizer, clip=clip or None)
    optimizer.zero_grad(set_to_none=True)
    schedule.step()
    return infos, stepped


# --- the loop of a run ----------------------------------------------------------------------------
def drive(run, stop, save_iters=0):
    """Train `run` until it is finished or a stop signal reaches any rank: 'done' | 'stopped'.

    `run` provides: finished(), epoch_pending() (its current epoch has no steps left and has not been
    ended), step() (one optimizer step), end_epoch() (validate, keep the best), save_last(), iteration.
    The last state is saved after every epoch's end, every `save_iters` steps and on a stop."""
    while not run.finished() or run.epoch_pending():
        stepped = False
        if not run.epoch_pending():
            run.step()
            stepped = True
        ended = run.epoch_pending()
        if ended:
            run.end_epoch()
        if ended or (stepped and save_iters > 0 and run.iteration % save_iters == 0):
            run.save_last()
            saved = True
        else:
            saved = False
        if any_rank(stop.should_stop):
            if not saved:
                run.save_last()
            return "stopped"
    return "done"


# --- progress and metrics -------------------------------------------------------------------------
class Reporter:
    """A run's progress bar (rank 0), JSON-lines metrics log and optional TensorBoard mirror. A fresh
    run (`fresh=True`) starts a fresh metrics log; a resumed one appends to its log."""

    def __init__(self, metrics_path, enabled, tensorboard=None, list_names=None, fresh=False):
        self.enabled = enabled
        if enabled and fresh and os.path.exists(metrics_path):
            os.remove(metrics_path)
        mirror = open_tensorboard(tensorboard, enabled=enabled, list_names=list_names)
        self.metrics = MetricsLog(metrics_path, enabled=enabled, mirror=mirror)
        self._bar = None

    def start_bar(self, total, initial=0, desc="train", unit="it", mininterval=1.0):
        self.close_bar()
        self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not self.enabled,
                         dynamic_ncols=True, mininterval=mininterval)

    def advance(self, **postfix):
        """One step done; `postfix` (already formatted strings) shown beside the bar."""
        self._bar.update(1)
        if postfix:
            self._bar.set_postfix(**postfix)

    def show(self, **postfix):
        self._bar.set_postfix(**postfix)

    def write(self, row):
        self.metrics.write(row)

    def image(self, tag, path, step):
        self.metrics.image(tag, path, step)

    def close_bar(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def close(self):
        self.close_bar()
        self.metrics.close()


# --- the checkpoint convention --------------------------------------------------------------------
# entries of `run_files` that name a file of the family again (not one more file to check or write)
ALIASES = ("save", "resumable")


def run_files(save, save_is):
    """The family of files a run writes from --save: 'last' (full training state), 'best', 'metrics',
    and 'resumable' (the ones `--resume auto` may pick, in order of preference on equal times).
    `save_is`: 'last' (pretraining: --save is the last state, `<stem>_best` the best) or 'best'
    (finetuning: --save is the best classifier, `<stem>_last` the last state)."""
    stem, ext = os.path.splitext(os.fspath(save))
    ext = ext or ".pt"
    if save_is == "last":
        last, best = os.fspath(save), f"{stem}_best{ext}"
        resumable = [last, best]          # both carry the full training state
    elif save_is == "best":
        last, best = f"{stem}_last{ext}", os.fspath(save)
        resumable = [last]                # the best classifier holds no training state
    else:
        raise ValueError(f"save_is must be 'last' or 'best', not {save_is!r}")
    return {"save": os.fspath(save), "last": last, "best": best, "metrics": f"{stem}.metrics.jsonl",
            "resumable": resumable}


def written_files(files) -> list[str]:
    """The distinct file paths of a run's family (without the 'resumable' list and folders such as
    finetuning's per-epoch 'epochs'), e.g. to check before the run that each can be written."""
    return sorted({path for key, path in files.items() if key not in (*ALIASES, "epochs")})


def resume_path(resume, files):
    """--resume PATH as given; 'auto': the newest existing resumable file of the run (None: start fresh)."""
    if resume is None:
        return None
    if resume != "auto":
        return resume
    existing = [(index, path) for index, path in enumerate(files["resumable"]) if os.path.exists(path)]
    if not existing:
        return None
    return max(existing, key=lambda item: (os.path.getmtime(item[1]), -item[0]))[1]


# --- the training state of a resumable checkpoint -------------------------------------------------
def training_state(optimizer, schedule, precision, world_size):
    """What every resumable checkpoint holds besides the model and the run's own progress."""
    return {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
            "precision": precision.state_dict(), "rng": rng_state(), "world_size": world_size}


def restore_training_state(ckpt, world_size, optimizer, schedule, precision):
    """Restore `training_state`'s part of a checkpoint (an older one was upgraded by checkpoint.upgrade),
    after checking it was written by as many processes as this run has."""
    if int(ckpt["world_size"]) != world_size:
        raise UserError(f"the checkpoint was written by {ckpt['world_size']} processes, this run has "
                        f"{world_size}: resume with the same number of processes")
    optimizer.load_state_dict(ckpt["optimizer"])
    schedule.load_state_dict(ckpt["schedule"])
    precision.load_state_dict(ckpt["precision"])
    set_rng_state(ckpt["rng"])


def fp32_model_state(model):
    """The model's state dict in fp32 on CPU."""
    return {name: tensor.detach().float().cpu() for name, tensor in model.state_dict().items()}


"""What a finetuning run writes beside --save, and the two checkpoints it writes (training/loop.py's
checkpoint convention with --save = the best; README "Checkpoints and resuming").

- `--save` (default classifier.pt): the best classifier so far, a classifier checkpoint
  (checkpoint.classifier_payload, `source: "finetune"`); run_classifier.py and generate.py load it.
- `<stem>_last.pt`: the same keys plus the full training state (optimizer, schedule, precision, RNG,
  progress: epoch, step within the epoch, best value and thresholds, metric history), written at every
  epoch's end, every --save-iters optimizer steps and on SIGTERM/SIGINT; `--resume auto` continues from it.
- with --save-finetune, every epoch's classifier as `<model-version-name>/e<epoch>.pt` beside --save.
"""
import os

from ..errors import UserError
from ..checkpoint import load_checkpoint
from ..training.checkpoint_files import run_files

RESUME_KEYS = ("classifier_config", "model_state", "tokenizer", "labels", "optimizer", "schedule",
               "precision", "rng", "progress", "task")


def finetune_files(save, model_version_name="classifier"):
    """Every output path of a run, from --save: training/loop.py's family (best = --save, last, metrics,
    resumable) and the reports."""
    save = os.fspath(save)
    stem = os.path.splitext(save)[0]
    return dict(run_files(save, save_is="best"), report_txt=f"{stem}_report.txt",
                report_json=f"{stem}_report.json", curves=f"{stem}_curves.png", confusion=f"{stem}_confusion.png",
                epochs=os.path.join(os.path.dirname(save), model_version_name))


def epoch_path(paths, epoch):
    return os.path.join(paths["epochs"], f"e{epoch}.pt")


def load_resume(path, task):
    """A resume checkpoint of a finetuning run on the same task; UserError otherwise."""
    ckpt = load_checkpoint(path, expect_kind="classifier")
    missing = [key for key in RESUME_KEYS if key not in ckpt]
    if missing:
        raise UserError(f"{path} is a classifier but not a finetuning resume checkpoint (it lacks "
                        f"{', '.join(missing)}); pass it to --load with --load-finetuned to keep training it")
    if ckpt["task"] != task.to_dict():
        raise UserError(f"{path} was trained for outputs {ckpt['task'].get('names')} "
                        f"({ckpt['task'].get('kind')}), this run asks for {list(task.names)} ({task.kind})")
    return ckpt

"""The files a training run writes from --save, and which of them `--resume` continues from.

A run writes a family of files: the last state (full training state; written at every epoch's end, every
--save-iters optimizer steps and on a stop signal) and the best one by validation. Pretraining's --save is
the last state (its `_best` the best), finetuning's --save is the best classifier (its `_last` the last
state), so that --save is what the next tool reads in both. `--resume auto` takes the newest file of the
family that holds a training state; `--resume PATH` that file.
"""
import os


def run_files(save, save_is):
    """The family from --save: 'last', 'best', 'metrics' and 'resumable' (the files `--resume auto` may
    pick, in order of preference on equal times). `save_is`: 'last' (pretraining) or 'best' (finetuning)."""
    stem, ext = os.path.splitext(os.fspath(save))
    ext = ext or ".pt"
    if save_is == "last":
        last, best = os.fspath(save), f"{stem}_best{ext}"
        resumable = [last, best]          # both carry the full training state
    else:
        last, best = f"{stem}_last{ext}", os.fspath(save)
        resumable = [last]                # the best classifier holds no training state
    return {"last": last, "best": best, "metrics": f"{stem}.metrics.jsonl", "resumable": resumable}


def written_files(files) -> list[str]:
    """The distinct file paths of a run's family (not the 'resumable' list, not folders), e.g. to check
    before the run that each can be written."""
    return sorted({path for key, path in files.items() if isinstance(path, str) and key != "epochs"})


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

"""Output paths checked before the long work: every script calls `check_outputs` right after parsing its
flags, so a two-hour run does not die at the end on a folder it cannot write.

For each output (flag, path) it checks, by trying rather than asking `os.access` (which says yes to
root and lies on some mounts):
- the path is not a folder, and not one of the run's inputs (same file by real path or by inode), nor
  another output of the same run;
- its folder exists and is a folder, or the nearest existing folder above it is one (the scripts create
  the missing folders);
- a file can be created in that folder (a temporary file is made and removed at once), and an existing
  output file can be opened for writing (it is not changed).
A failure is one `UserError` line naming the flag, the path and the reason.

`reported_write(path, flag)` turns an OSError raised while an output is being written late in a run (disk
full, permissions changed under it) into the same kind of one line, and `describe_os_error` words one.

This module imports only the standard library, so its checks run before torch, pandas or sklearn load.
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile

from .errors import UserError

PROBE_PREFIX = ".write-check-"


def describe_os_error(err: OSError) -> str:
    """A short reason for an OSError: 'permission denied', 'no space left on device', ..."""
    if err.errno == errno.EROFS:
        return "the file system is read-only"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    reason = err.strerror or str(err) or type(err).__name__
    return reason[0].lower() + reason[1:]


def flag_paths(value) -> list[str]:
    """A flag's value as a list of paths (None, one path or a list of them)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [os.fspath(v) for v in value if v]
    return [os.fspath(value)]


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file: equal real paths, or (both existing) the same inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _nearest_existing(folder: str) -> str:
    """`folder` itself when it exists, else the nearest ancestor that does (something always does)."""
    while not os.path.lexists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def _probe(opener) -> OSError | None:
    """The OSError of opening (and closing) the file `opener()` opens, or None when that works."""
    try:
        with opener():
            pass
    except OSError as err:
        return err
    return None


def check_folder(flag: str, path: str, folder: str) -> None:
    """UserError unless a file can be written in `folder`, or in the nearest existing folder above it."""
    existing = _nearest_existing(folder)
    if not os.path.isdir(existing):
        raise UserError(f"{flag} {path}: {existing} is a file, not a folder")
    failure = _probe(lambda: tempfile.TemporaryFile(dir=existing, prefix=PROBE_PREFIX))  # removed on close
    if failure is not None:
        raise UserError(f"{flag} {path}: cannot write in {existing} ({describe_os_error(failure)})")


def check_output(flag: str, path: str, inputs=()) -> None:
    """One output path (see the module docstring); `inputs` is a list of (flag, path or paths)."""
    path = os.fspath(path)
    if path.endswith(os.sep) or os.path.isdir(path):
        raise UserError(f"{flag} {path} is a folder; give a file name")
    for in_flag, value in inputs:
        for in_path in flag_paths(value):
            if _same_file(path, in_path):
                raise UserError(f"{flag} {path} is also the run's {in_flag}: refusing to overwrite an input "
                                "(choose another output name)")
    check_folder(flag, path, os.path.dirname(os.path.abspath(path)))
    if os.path.lexists(path):
        failure = _probe(lambda: open(path, "ab"))  # appending writes nothing
        if failure is not None:
            raise UserError(f"{flag} {path} cannot be overwritten ({describe_os_error(failure)})")


def check_outputs(outputs, inputs=()) -> None:
    """Check every (flag, path) of `outputs` (None paths are skipped) against the run's `inputs`
    [(flag, path or list of paths)]: writable, not a folder, not an input, no two outputs the same."""
    seen = []
    for flag, value in outputs:
        for path in flag_paths(value):
            for other_flag, other in seen:
                if _same_file(path, other):
                    raise UserError(f"{flag} {path} is the same file as {other_flag} {other}; give them "
                                    "different names")
            check_output(flag, path, inputs)
            seen.append((flag, path))


def check_output_folder(flag: str, folder: str, inputs=()) -> None:
    """An output folder (e.g. transfer's results folder): a folder, or creatable, and writable; not an input."""
    folder = os.fspath(folder)
    for in_flag, value in inputs:
        for in_path in flag_paths(value):
            if os.path.isfile(in_path) and _same_file(folder, in_path):
                raise UserError(f"{flag} {folder} is also the run's {in_flag}: refusing to overwrite an input")
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise UserError(f"{flag} {folder} is a file, but the run writes a folder there")
    check_folder(flag, folder, os.path.abspath(folder))


def check_unused_folder(folder: str, results, new_folder_flag: str) -> None:
    """Refuse a folder that already holds another run's `results` (file names in it), naming the flag that
    allows replacing them (--overwrite-output-dir) and the one that picks another folder."""
    found = [name for name in results if os.path.exists(os.path.join(folder, name))]
    if found:
        raise UserError(f"{folder} already holds another run's results ({', '.join(found)}): pass "
                        f"--overwrite-output-dir to replace them, or {new_folder_flag} for a new folder")


def prediction_files(save_probs: str, multi_head: bool = True) -> dict:
    """run_classifier's outputs from --save-probs, as the original named them: predictions
    `clf_results.npy`, probabilities `clf_results.npy.prob.npy`, (multi-head) std `clf_results.npy.std.npy`."""
    pred = save_probs if save_probs.endswith(".npy") else save_probs + ".npy"
    paths = {"pred": pred, "prob": pred + ".prob.npy"}
    if multi_head:
        paths["std"] = pred + ".std.npy"
    return paths


def prediction_outputs(save_probs: str) -> list:
    """(flag, path) of every file --save-probs names (for `check_outputs`)."""
    return [("--save-probs", path) for path in prediction_files(save_probs).values()]


@contextlib.contextmanager
def reported_write(path, flag: str | None = None):
    """Turn an OSError raised inside the block (writing `path`) into one UserError line naming the path."""
    try:
        yield
    except OSError as err:
        where = f"{flag} {path}" if flag else str(path)
        raise UserError(f"cannot write {where}: {describe_os_error(err)}") from None

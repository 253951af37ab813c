"""Atomic file writes: a file appears complete under its name, or not at all (`atomic_open` yields an open
file, `atomic_path` a path for writers that take one).

The data goes to a temporary file in the target's folder (so the rename stays on one file system),
named `.<name>.<random>.tmp<ext>` (the target's extension kept, as np.save appends `.npy` to other
names); on success it is flushed to disk (fsync), given the usual permissions (0666 less the umask;
mkstemp makes 0600 files) and moved over the target with `os.replace`; on any error the temporary file
is removed and the target keeps its previous content. Parent folders are created. For several files
committed together (run_classifier's outputs), `temporary_path` / `commit` / `discard` are the steps.
"""
from __future__ import annotations

import contextlib
import os
import tempfile


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_path(path) -> str:
    """A new, empty temporary file beside `path` (its folder created); returns its path."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    os.makedirs(folder, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp" + os.path.splitext(name)[1])
    os.close(handle)
    return temp


def commit(temp, path) -> str:
    """Flush `temp` to disk, give it the usual permissions and move it over `path`; returns `path`."""
    descriptor = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.chmod(temp, 0o666 & ~current_umask())
    os.replace(temp, path)
    return os.fspath(path)


def discard(temp) -> None:
    """Remove a temporary file if it is still there."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(temp)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path to write; on success it replaces `path`, on error it is removed."""
    temp = temporary_path(path)
    try:
        yield temp
        commit(temp, path)
    except BaseException:
        discard(temp)
        raise


@contextlib.contextmanager
def atomic_open(path, mode: str = "w", encoding: str | None = None, newline: str | None = None):
    """Yield an open file (text or binary `mode`, "w"/"wb") that replaces `path` when the block ends
    without error."""
    if "w" not in mode:
        raise ValueError(f"atomic_open writes a new file; mode {mode!r} has no 'w'")
    with atomic_path(path) as temp:
        with open(temp, mode, encoding=encoding, newline=newline) as handle:
            yield handle

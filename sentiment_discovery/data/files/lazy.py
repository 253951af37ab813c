"""Lazy access to line-oriented files: a byte-offset index built once, then random access by line.

The index holds the start offset of every non-blank line (int64, 8 bytes a line) plus one final
offset, the file size, so that line i is the bytes `[offsets[i], offsets[i + 1])`. It is built by
streaming the file in 1 MB chunks and spooling the offsets to a scratch file (memory does not grow
with the file), and saved in the cache folder (`cache.py`) as `<file name>.<hashes>.lazyidx` (a .npy
array: version, file size, mtime in ns, line count, then the offsets), so it is reused until the
file's size or mtime changes; then a new index is built and the old one deleted. A saved index is
memory-mapped, not read in. It is written to a temp file and renamed into place, so processes that
build the same index at once (e.g. distributed ranks) each finish with a complete file. If the cache
folder is not writable the index goes to a folder under the system temp dir, and if that fails too it
is kept in memory. Lines are read with `os.pread` on a file descriptor opened per process (safe under
fork and pickling), so nothing but the requested bytes is loaded.

Blank lines (empty, or a lone "\\r") are left out of the index; a line keeps its trailing newline
bytes, which callers strip.
"""
import io
import logging
import os
import shutil
import tempfile

import numpy as np

from ...atomic import atomic_open
from ...errors import UserError
from . import cache

INDEX_SUFFIX = ".lazyidx"
INDEX_VERSION = 1
HEADER_LEN = 4  # version, file size, file mtime (ns), number of lines
CHUNK_BYTES = 1 << 20  # a read small enough to stay in the CPU cache
NEWLINE = 10
CARRIAGE_RETURN = 13

log = logging.getLogger(__name__)


def _chunk_line_starts(chunk, chunk_start, line_start, prev_byte):
    """Starts of the non-blank lines that end inside `chunk`.

    chunk: uint8 array of the file bytes at [chunk_start, chunk_start + len(chunk));
    line_start: where the line that is open at the chunk's start began;
    prev_byte: the file byte just before the chunk (or -1 at the start of the file).
    Returns (starts of kept lines, start of the line still open at the chunk's end)."""
    newlines = np.flatnonzero(chunk == NEWLINE) + chunk_start  # (n,) global positions
    if newlines.size == 0:
        return np.empty(0, np.int64), line_start
    starts = np.empty(newlines.size, np.int64)
    starts[0] = line_start
    starts[1:] = newlines[:-1] + 1
    lengths = newlines - starts  # bytes before the newline
    keep = lengths > 1
    one_byte = np.flatnonzero(lengths == 1)  # blank if that byte is "\r"
    if one_byte.size:
        before = newlines[one_byte] - 1 - chunk_start  # -1: the byte is the previous chunk's last
        byte = np.where(before >= 0, chunk[np.maximum(before, 0)], prev_byte)
        keep[one_byte] = byte != CARRIAGE_RETURN
    return starts[keep], int(newlines[-1] + 1)


def stream_line_offsets(path, out, chunk_bytes=CHUNK_BYTES):
    """Write int64 offsets of `path` to the binary file `out` (starts of non-blank lines, then the
    file size), reading `chunk_bytes` at a time; returns how many offsets were written."""
    size = os.path.getsize(path)
    line_start, prev_byte, position, n_written = 0, -1, 0, 0
    buffer = bytearray(chunk_bytes)
    with open(path, "rb", buffering=0) as handle:
        while n_read := handle.readinto(buffer):
            chunk = np.frombuffer(buffer, np.uint8, count=n_read)  # (n_read,)
            starts, line_start = _chunk_line_starts(chunk, position, line_start, prev_byte)
            out.write(starts.tobytes())
            n_written += starts.size
            prev_byte = int(chunk[-1])
            position += n_read
    tail_is_line = line_start < size and not (size - line_start == 1 and prev_byte == CARRIAGE_RETURN)
    tail = [line_start, size] if tail_is_line else [size]
    out.write(np.array(tail, np.int64).tobytes())
    return n_written + len(tail)


def index_paths(path, stamp=None):
    """Where the index of `path` (at `stamp`, default: as it is now) is kept: the cache folder, then
    the temp-dir fallback."""
    return cache.entry_candidates(path, INDEX_SUFFIX, stamp or cache.file_stamp(path))


def _load_index(index_path, stamp):
    """The offsets saved at `index_path` if it exists and matches the file's stamp, else None."""
    try:
        saved = np.load(index_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if saved.ndim != 1 or saved.dtype != np.int64 or saved.size < HEADER_LEN + 1:
        return None
    version, size, mtime_ns, n_lines = (int(v) for v in saved[:HEADER_LEN])
    if version != INDEX_VERSION or (size, mtime_ns) != stamp or saved.size != HEADER_LEN + n_lines + 1:
        return None
    return saved[HEADER_LEN:]


def _save_index(index_path, spool, n_offsets, stamp):
    """Write a .npy file of header + the spooled offsets, atomically (temp file + rename);
    False if it cannot be written there."""
    header = np.array([INDEX_VERSION, stamp[0], stamp[1], n_offsets - 1], np.int64)
    try:
        with atomic_open(index_path, "wb") as handle:
            npy_header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.int64)),
                          "fortran_order": False, "shape": (HEADER_LEN + n_offsets,)}
            np.lib.format.write_array_header_1_0(handle, npy_header)
            handle.write(header.tobytes())
            spool.seek(0)
            shutil.copyfileobj(spool, handle, CHUNK_BYTES)
        return True
    except OSError:
        return False


def _new_spool():
    """A scratch binary file for offsets being built: on disk if possible, else in memory."""
    try:
        return tempfile.TemporaryFile()
    except OSError:
        return io.BytesIO()


def load_or_build_offsets(path):
    """(offsets, index path or None) of `path`: a fresh saved index if there is one, else built
    and saved (None when it could not be saved anywhere and lives in memory only). Building
    spools the offsets to a scratch file, so memory does not grow with the data file."""
    stamp = cache.file_stamp(path)
    candidates = index_paths(path, stamp)
    cache.note_old_sidecar(path + INDEX_SUFFIX)
    for index_path in candidates:
        offsets = _load_index(index_path, stamp)
        if offsets is not None:
            return offsets, index_path
    with _new_spool() as spool:
        n_offsets = stream_line_offsets(path, spool)
        if cache.file_stamp(path) != stamp:
            raise UserError(f"{path} changed while its lazy index was being built; read it again")
        for index_path in candidates:
            if _save_index(index_path, spool, n_offsets, stamp):
                cache.warn_fallback(index_path)
                cache.remove_other_versions(index_path, path)
                return _load_index(index_path, stamp), index_path
        log.warning("could not save the lazy index of %s anywhere; keeping it in memory", path)
        spool.seek(0)
        return np.frombuffer(spool.read(), np.int64), None


def _read_at(fd, length, offset):
    """`length` bytes of an open file at `offset` (pread where the platform has it)."""
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, length)


class LineIndex:
    """Random access to the non-blank lines of a file: `index[i]` is line i as bytes."""

    def __init__(self, path):
        if not os.path.isfile(path):
            raise UserError(f"file not found: {path}")
        self.path = path
        self.offsets, self.index_path = load_or_build_offsets(path)  # (n_lines + 1,) int64
        self._fd = None
        self._fd_pid = None

    def __len__(self):
        return self.offsets.size - 1

    def _descriptor(self):
        """A file descriptor owned by this process (reopened after a fork)."""
        if self._fd is None or self._fd_pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDONLY)
            self._fd_pid = os.getpid()
        return self._fd

    def span(self, i):
        """(start, end) byte offsets of line i."""
        n_lines = len(self)
        if not -n_lines <= i < n_lines:
            raise IndexError(f"line {i} out of range for {n_lines} lines")
        i = i % n_lines
        return int(self.offsets[i]), int(self.offsets[i + 1])

    def __getitem__(self, i):
        start, end = self.span(i)
        return _read_at(self._descriptor(), end - start, start)

    def close(self):
        if self._fd is not None and self._fd_pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def __del__(self):
        try:
            self.close()
        except (OSError, AttributeError, TypeError):  # half-built object or interpreter shutdown
            return

    def __getstate__(self):
        """Pickle without the descriptor, and without the offsets when they are saved on disk."""
        state = dict(self.__dict__)
        state["_fd"], state["_fd_pid"] = None, None
        state["offsets"] = None if self.index_path else np.asarray(self.offsets)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.offsets is None:
            self.offsets = _load_index(self.index_path, cache.file_stamp(self.path))
            if self.offsets is None:
                raise UserError(f"{self.path} changed since its lazy index was built; read it again")

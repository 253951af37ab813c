"""Gzip-compressed data files (`.gz`): streamed for eager reading, decompressed once for lazy reading.

Eager readers call `open_binary(path)`, which decompresses while the caller reads, so only what the
reader keeps is held in memory. Lazy readers need random access, which a gzip stream does not give,
so `decompressed_copy(path)` writes the decompressed bytes once, streaming in 1 MB chunks with a
progress bar, to a sidecar file in the cache folder (`cache.py`), named `<file name>.<hashes>.unz`, and the lazy
byte-offset index is then built on the sidecar (in the same folder). A small `<sidecar>.stamp` (JSON)
records the .gz's size and mtime and the sidecar's own, so the copy is reused until the .gz changes
(or the copy is touched), and rebuilt otherwise; a new copy replaces the old one's files. The copy and
its stamp are written to temp files and renamed into place, and a lock file (`<sidecar>.lock`) makes
concurrent processes (e.g. distributed ranks) wait for one copy instead of writing several.

Disk cost: the sidecar is the full uncompressed size (text reviews compress 3-5x, so a 10 GB
.json.gz needs 30-50 GB free in the cache folder), plus the lazy index (8 bytes per line). Delete the
cache folder's files to get the space back; they are rebuilt when needed (bench/bench_gzip_reader.py measures
the first lazy read; analysis/measurements.md).
"""
import gzip
import json
import logging
import os
import zlib
from contextlib import contextmanager

from tqdm import tqdm

from ...atomic import atomic_open, atomic_path
from ...errors import UserError
from . import cache

try:
    import fcntl
except ImportError:  # not on Windows: no cross-process lock, each process may write its own copy
    fcntl = None

GZIP_SUFFIX = ".gz"
SIDECAR_SUFFIX = ".unz"
STAMP_SUFFIX = ".stamp"
CHUNK_BYTES = 1 << 20
GZIP_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError

log = logging.getLogger(__name__)


def is_gzip(path):
    """Whether a path names a gzip file (by its suffix)."""
    return os.fspath(path).lower().endswith(GZIP_SUFFIX)


def inner_name(path):
    """The name a .gz file had before compression ("a.json.gz" -> "a.json"); other paths unchanged."""
    return path[: -len(GZIP_SUFFIX)] if is_gzip(path) else path


def open_binary(path):
    """A binary file object of the (decompressed) contents of `path`."""
    if not os.path.isfile(path):
        raise UserError(f"file not found: {path}")
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def read_all_bytes(path):
    """The whole (decompressed) contents of a file; UserError for a broken .gz."""
    with open_binary(path) as handle:
        try:
            return handle.read()
        except GZIP_ERRORS as err:
            raise UserError(f"{path} is not a valid gzip file ({err})") from None


def iter_lines(path):
    """(line number, line bytes) of every line of a file, decompressing a .gz as it goes."""
    with open_binary(path) as handle:
        line_number = 0
        try:
            for line_number, line in enumerate(handle, start=1):
                yield line_number, line
        except GZIP_ERRORS as err:
            raise UserError(f"{path} is not a valid gzip file after line {line_number} ({err})") from None


def _stamp(path):
    size, mtime_ns = cache.file_stamp(path)
    return {"size": size, "mtime_ns": mtime_ns}


def sidecar_paths(path, source_stamp=None):
    """Where the decompressed copy of the .gz `path` (at `source_stamp`, default: as it is now) is
    kept: the cache folder, then the temp-dir fallback."""
    stamp = source_stamp or _stamp(path)
    return cache.entry_candidates(path, SIDECAR_SUFFIX, (stamp["size"], stamp["mtime_ns"]))


def _is_fresh(sidecar, source_stamp):
    """Whether `sidecar` is a complete copy of the .gz whose stamp is `source_stamp`."""
    try:
        with open(sidecar + STAMP_SUFFIX, encoding="utf-8") as handle:
            saved = json.load(handle)
        return saved == {"source": source_stamp, "copy": _stamp(sidecar)}
    except (OSError, ValueError):
        return False


@contextmanager
def _build_lock(sidecar):
    """Hold an exclusive lock on `<sidecar>.lock` (a no-op where fcntl is missing)."""
    if fcntl is None:
        yield
        return
    with open(sidecar + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _decompress_to(path, target):
    """Stream-decompress `path` into `target`, with a progress bar over the compressed bytes."""
    total = os.path.getsize(path)
    with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as stream, open(target, "wb") as out, \
            tqdm(total=total, unit="B", unit_scale=True, desc=f"decompressing {os.path.basename(path)}",
                 mininterval=1.0, leave=False) as progress:
        done = 0
        try:
            while chunk := stream.read(CHUNK_BYTES):
                out.write(chunk)
                position = raw.tell()
                progress.update(position - done)
                done = position
        except GZIP_ERRORS as err:
            if isinstance(err, OSError) and err.errno is not None:
                raise  # a write error (e.g. a full disk), reported by the caller
            raise UserError(f"{path} is not a valid gzip file ({err})") from None


def _write_sidecar(path, sidecar, source_stamp):
    """Decompress into a temp file, move it into place, then write its stamp."""
    try:
        with atomic_path(sidecar) as partial:
            _decompress_to(path, partial)
        with atomic_open(sidecar + STAMP_SUFFIX, "w", encoding="utf-8") as handle:
            json.dump({"source": source_stamp, "copy": _stamp(sidecar)}, handle)
    except OSError as err:
        raise UserError(f"could not write the decompressed copy of {path} to {sidecar} ({err.strerror or err}); "
                        "lazy reading of a .gz needs free space for its full uncompressed size") from None


def decompressed_copy(path):
    """The path of an up-to-date decompressed copy of the .gz `path`, writing it if needed."""
    if not os.path.isfile(path):
        raise UserError(f"file not found: {path}")
    source_stamp = _stamp(path)
    sidecars = sidecar_paths(path, source_stamp)
    cache.note_old_sidecar(path + SIDECAR_SUFFIX)
    for sidecar in sidecars:
        if _is_fresh(sidecar, source_stamp):
            return sidecar
    sidecar = next((s for s in sidecars if cache.writable(os.path.dirname(s))), None)
    if sidecar is None:
        raise UserError(f"cannot decompress {path} for lazy reading: neither the cache folder {cache.cache_root()} "
                        f"nor the temp dir is writable; set {cache.CACHE_ENV} to a writable folder")
    cache.warn_fallback(sidecar)
    with _build_lock(sidecar):
        if _is_fresh(sidecar, source_stamp):  # another process wrote it while we waited
            return sidecar
        log.info("decompressing %s to %s for lazy reading (once; reused until the .gz changes)", path, sidecar)
        _write_sidecar(path, sidecar, source_stamp)
        cache.remove_other_versions(sidecar, path)
    if _stamp(path) != source_stamp:
        raise UserError(f"{path} changed while it was being decompressed; read it again")
    return sidecar

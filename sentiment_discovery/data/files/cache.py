"""The cache folder for sidecar files: what lazy reading derives from the user's data (the byte-offset
line index of a file, the decompressed copy of a .gz) is kept here, never beside the data, so read-only
data folders work and a data folder holds only what the user put there.

Where: `$SENTIMENT_DISCOVERY_CACHE` when set, else `$XDG_CACHE_HOME/sentiment-discovery`, else
`~/.cache/sentiment-discovery`. If that folder cannot be created or written, a per-user folder under
the system temp dir is used instead (one warning). Delete the folder to get the space back; entries are
rebuilt when needed.

Names: `<source file name>.<path hash>.<stamp hash><suffix>`. The path hash (16 hex digits of SHA-1)
is of the source's real absolute path, so two files of the same name never share an entry; the stamp
hash (8 hex digits) is of the source's size and mtime in ns, what decides staleness. A changed source
therefore gets a new name, and `remove_other_versions` deletes the entries of its earlier versions once
the new one is written. Each sidecar also records the stamp inside and is checked on reading.
`work_folder(output)` (`<output file name>.<path hash>.work`) holds a run's unfinished outputs.
"""
import errno
import hashlib
import logging
import os
import tempfile

CACHE_ENV = "SENTIMENT_DISCOVERY_CACHE"
FOLDER_NAME = "sentiment-discovery"

log = logging.getLogger(__name__)
_warned = set()


def cache_root() -> str:
    """The configured cache folder (absolute), whether or not it exists yet."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return os.path.abspath(os.path.expanduser(chosen))
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, FOLDER_NAME)


def temp_root() -> str:
    """The fallback cache folder under the system temp dir, one per user."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return os.path.join(tempfile.gettempdir(), f"{FOLDER_NAME}-{user}")


def file_stamp(path) -> tuple[int, int]:
    """(size, mtime in ns) of a file: what tells whether a sidecar derived from it is stale."""
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def _digest(text, length):
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


def _source_prefix(source) -> str:
    """`<file name>.<path hash>.`: the part of an entry's name shared by every version of `source`."""
    real = os.path.realpath(source)
    return f"{os.path.basename(real)}.{_digest(real, 16)}."


def entry_name(source, suffix, stamp) -> str:
    """The file name of the sidecar `suffix` (e.g. ".lazyidx") of `source` at `stamp` (size, mtime_ns)."""
    return f"{_source_prefix(source)}{_digest(f'{stamp[0]}:{stamp[1]}', 8)}{suffix}"


def writable(folder) -> bool:
    """Whether `folder` exists (created if needed) and can be written."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def entry_candidates(source, suffix, stamp) -> list[str]:
    """Where the sidecar may be: in the cache folder, then in the temp-dir fallback."""
    name = entry_name(source, suffix, stamp)
    return [os.path.join(cache_root(), name), os.path.join(temp_root(), name)]


def warn_fallback(entry):
    """One warning per folder when a sidecar goes to the temp-dir fallback, not the cache folder."""
    root = cache_root()
    if os.path.dirname(entry) != root and root not in _warned:
        _warned.add(root)
        log.warning("cache folder %s is not writable; sidecar files go to %s instead (set %s to choose a folder)",
                    root, os.path.dirname(entry), CACHE_ENV)


def work_folder(output) -> str:
    """The folder (created) for the unfinished work of a run writing `output`: in the cache folder, or the
    temp-dir fallback (one warning) when that cannot be written."""
    name = f"{_source_prefix(output)}work"
    for root in (cache_root(), temp_root()):
        folder = os.path.join(root, name)
        if writable(folder):
            warn_fallback(folder)
            return folder
    raise OSError(errno.EACCES, "neither the cache folder nor the temp-dir fallback can be written", cache_root())


def remove_other_versions(entry, source):
    """Delete the sidecars that earlier versions of `source` left in `entry`'s folder (best effort)."""
    folder, keep = os.path.dirname(entry), os.path.basename(entry)
    prefix = _source_prefix(source)
    keep_version = keep[: len(prefix) + 8]  # <file name>.<path hash>.<stamp hash>
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and not name.startswith(keep_version):
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass


def note_old_sidecar(path):
    """Tell the user once about a sidecar an earlier version of this project wrote beside the data."""
    if os.path.exists(path) and path not in _warned:
        _warned.add(path)
        log.info("%s was written by an earlier version beside the data and is no longer used; "
                 "it can be deleted (sidecars now live in %s)", path, cache_root())

"""The byte-offset line index: correct offsets, saved in the cache and reused, rebuilt when stale, fallbacks."""
import io
import logging
import os
import pickle

import numpy as np
import pytest

from sentiment_discovery.data.files import cache, lazy
from sentiment_discovery.data.files.lazy import LineIndex
from sentiment_discovery.errors import UserError

AWKWARD = b'{"a": 1}\n\n{"b": 2}\r\n\r\n\n  {"c": 3}\n{"d": "\xc3\xa9"}'  # blank, CRLF, no final newline


def build_line_offsets(path, chunk_bytes):
    """The offsets `lazy.stream_line_offsets` writes for `path`, as an int64 array."""
    spool = io.BytesIO()
    lazy.stream_line_offsets(path, spool, chunk_bytes)
    return np.frombuffer(spool.getbuffer(), np.int64)


def reference_lines(data):
    """Non-blank lines (a lone CR counts as blank), with their newline bytes."""
    lines, start = [], 0
    for piece in data.split(b"\n"):
        if piece not in (b"", b"\r"):
            lines.append(start)
        start += len(piece) + 1
    return lines


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 1 << 20])
def test_offsets_match_reference_at_any_chunk_size(tmp_path, chunk_bytes):
    path = tmp_path / "f.jsonl"
    path.write_bytes(AWKWARD)
    offsets = build_line_offsets(str(path), chunk_bytes=chunk_bytes)
    assert offsets.dtype == np.int64
    assert offsets.tolist() == reference_lines(AWKWARD) + [len(AWKWARD)]


def test_random_access_returns_each_line(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(AWKWARD)
    index = LineIndex(str(path))
    assert len(index) == 4
    assert index[0] == b'{"a": 1}\n\n' and index[1].strip() == b'{"b": 2}'
    assert index[2] == b'  {"c": 3}\n'
    assert index[3] == b'{"d": "\xc3\xa9"}' and index[-1] == index[3]
    with pytest.raises(IndexError):
        index[4]


def test_index_is_saved_in_the_cache_and_reused(tmp_path, monkeypatch):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"1\n2\n")
    LineIndex(str(path))
    assert os.path.exists(lazy.index_paths(str(path))[0])
    assert os.listdir(tmp_path) == ["f.jsonl"]  # nothing beside the data

    def fail(*args, **kwargs):
        raise AssertionError("the saved index should have been reused")
    monkeypatch.setattr(lazy, "stream_line_offsets", fail)
    assert LineIndex(str(path))[1] == b"2\n"


def test_index_is_rebuilt_when_the_file_changes(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"1\n2\n")
    assert len(LineIndex(str(path))) == 2
    path.write_bytes(b"1\n2\n3\n")
    assert len(LineIndex(str(path))) == 3
    path.write_bytes(b"4\n5\n6\n")  # same size: told apart by the mtime
    os.utime(path, ns=(5, 5))
    assert LineIndex(str(path))[0] == b"4\n"


def test_corrupt_index_file_is_rebuilt(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"1\n2\n")
    with open(lazy.index_paths(str(path))[0], "wb") as handle:
        handle.write(b"not numpy")
    assert LineIndex(str(path))[1] == b"2\n"


def test_unwritable_cache_falls_back_to_temp_dir_then_memory(tmp_path, monkeypatch, caplog):
    path = str(tmp_path / "f.jsonl")
    with open(path, "wb") as handle:
        handle.write(b"a\nb\n")
    monkeypatch.setattr(cache, "temp_root", lambda: str(tmp_path / "temp_fallback"))
    in_cache, in_temp = lazy.index_paths(path)
    real_save = lazy._save_index
    monkeypatch.setattr(lazy, "_save_index",
                        lambda where, *a: False if where == in_cache else real_save(where, *a))
    index = LineIndex(path)
    assert index.index_path == in_temp and os.path.exists(index.index_path)
    assert not os.path.exists(in_cache) and index[1] == b"b\n"
    os.remove(index.index_path)

    monkeypatch.setattr(lazy, "_save_index", lambda *a: False)
    with caplog.at_level(logging.WARNING):
        index = LineIndex(path)
    assert index.index_path is None and index[0] == b"a\n"
    assert any("keeping it in memory" in r.getMessage() for r in caplog.records)


def test_pickle_round_trip_reopens_the_file(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"x\ny\n")
    index = LineIndex(str(path))
    assert index[0] == b"x\n"  # opens a descriptor
    copy = pickle.loads(pickle.dumps(index))
    assert copy[1] == b"y\n" and copy._fd_pid == os.getpid()


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        LineIndex(str(tmp_path / "nope.jsonl"))

"""The sidecar cache folder: where it is, that lazy reading leaves the data folder as it was (read-only
data works), that a stale sidecar is rebuilt and its old version deleted, fallbacks, and two processes
building the same index and the same decompressed copy at once."""
import gzip
import json
import logging
import os
import stat
import subprocess
import sys

import pytest

from sentiment_discovery.data.files import cache, gzip_source, lazy
from sentiment_discovery.data.files.lazy import LineIndex
from sentiment_discovery.data.formats.readers import read_dataset
from sentiment_discovery.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A fresh cache folder for one test (via the environment variable)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    return folder


def write_gz(path, text):
    with gzip.open(path, "wb") as handle:
        handle.write(text.encode("utf-8"))
    return str(path)


def test_cache_folder_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache.cache_root() == str(tmp_path / "home" / ".cache" / "sentiment-discovery")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == str(tmp_path / "xdg" / "sentiment-discovery")
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "mine"))
    assert cache.cache_root() == str(tmp_path / "mine")


def test_read_only_data_folder_with_lazy_leaves_it_untouched(tmp_path, own_cache):
    data = tmp_path / "data"
    data.mkdir()
    (data / "c.txt").write_text("one\ntwo\nthree\n")
    (data / "t.jsonl").write_text('{"sentence": "good", "label": 1}\n{"sentence": "bad", "label": 0}\n')
    write_gz(data / "r.json.gz", '{"reviewText": "fine", "overall": 5}\n{"reviewText": "poor", "overall": 1}\n')
    before = sorted(os.listdir(data))
    data.chmod(stat.S_IRUSR | stat.S_IXUSR)  # read-only (root ignores it: hence the listing check below)
    try:
        assert list(read_dataset(str(data / "c.txt"), require_labels=False, lazy=True).texts) == ["one", "two",
                                                                                                    "three"]
        assert read_dataset(str(data / "t.jsonl"), lazy=True).labels.tolist() == [1.0, 0.0]
        reviews = read_dataset(str(data / "r.json.gz"), data_format="amazon", lazy=True, binarize_sent=3)
        assert list(reviews.texts) == ["fine", "poor"] and reviews.labels.tolist() == [1.0, 0.0]
    finally:
        data.chmod(stat.S_IRWXU)
    assert sorted(os.listdir(data)) == before
    names = os.listdir(own_cache)  # the env var is honoured: every sidecar is there
    assert sum(n.endswith(".lazyidx") for n in names) == 3 and sum(n.endswith(".unz") for n in names) == 1


def test_same_name_in_two_folders_gets_two_entries(tmp_path, own_cache):
    for folder, text in (("a", "x\n"), ("b", "y\nz\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "f.txt").write_text(text)
    assert len(LineIndex(str(tmp_path / "a" / "f.txt"))) == 1
    assert len(LineIndex(str(tmp_path / "b" / "f.txt"))) == 2
    assert len(os.listdir(own_cache)) == 2


def test_stale_index_is_rebuilt_and_the_old_one_deleted(tmp_path, own_cache):
    path = str(tmp_path / "f.txt")
    with open(path, "w") as handle:
        handle.write("1\n2\n")
    old = LineIndex(path).index_path
    with open(path, "w") as handle:
        handle.write("3\n4\n")
    os.utime(path, ns=(7, 7))  # same size: the mtime tells them apart
    index = LineIndex(path)
    assert index[0] == b"3\n" and index.index_path != old
    assert os.listdir(own_cache) == [os.path.basename(index.index_path)]


def test_unwritable_cache_falls_back_to_temp_with_one_warning(tmp_path, own_cache, monkeypatch, caplog):
    monkeypatch.setattr(cache, "temp_root", lambda: str(tmp_path / "temp_fallback"))
    real = cache.writable
    monkeypatch.setattr(cache, "writable", lambda folder: folder != str(own_cache) and real(folder))
    own_cache.mkdir()
    own_cache.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setattr(lazy, "_save_index", lambda where, *a, real_save=lazy._save_index:
                        False if where.startswith(str(own_cache)) else real_save(where, *a))
    path = write_gz(tmp_path / "r.txt.gz", "a\nb\n")
    try:
        with caplog.at_level(logging.WARNING):
            ds = read_dataset(path, require_labels=False, lazy=True)
    finally:
        own_cache.chmod(stat.S_IRWXU)
    assert list(ds.texts) == ["a", "b"] and len(os.listdir(tmp_path / "temp_fallback")) >= 2
    warnings = [r.getMessage() for r in caplog.records if "is not writable" in r.getMessage()]
    assert len(warnings) == 1 and cache.CACHE_ENV in warnings[0]


def test_nowhere_writable_for_a_gz_names_the_variable(tmp_path, own_cache, monkeypatch):
    monkeypatch.setattr(cache, "writable", lambda folder: False)
    path = write_gz(tmp_path / "r.txt.gz", "a\n")
    with pytest.raises(UserError, match=f"set {cache.CACHE_ENV} to a writable folder"):
        gzip_source.decompressed_copy(path)


def test_an_old_index_beside_the_data_is_not_read(tmp_path, own_cache, caplog):
    path = str(tmp_path / "f.txt")
    with open(path, "w") as handle:
        handle.write("a\nb\n")
    with open(path + lazy.INDEX_SUFFIX, "wb") as handle:
        handle.write(b"left by an earlier version")
    with caplog.at_level(logging.INFO, logger=cache.__name__):
        assert LineIndex(path)[1] == b"b\n"
    assert any("no longer used" in r.getMessage() for r in caplog.records)


BUILD = """
import json, logging, sys
logging.basicConfig(level=logging.INFO)
from sentiment_discovery.data.files.gzip_source import decompressed_copy
from sentiment_discovery.data.files.lazy import LineIndex
copy = decompressed_copy(sys.argv[1])
index = LineIndex(copy)
print(json.dumps([copy, index.index_path, len(index), index[len(index) - 1].decode()]))
"""


@pytest.mark.subprocess
def test_two_processes_build_the_same_sidecars_at_once(tmp_path, own_cache):
    lines = [f"line {i} " + "x" * 40 for i in range(60000)]  # ~3 MB: the builds overlap
    path = write_gz(tmp_path / "big.txt.gz", "\n".join(lines) + "\n")
    env = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", BUILD, path], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results, decompressions = [], 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
        decompressions += err.count("for lazy reading (once")
    assert results[0] == results[1] and decompressions == 1  # the lock: one process wrote the copy
    copy, index_path, n_lines, last = results[0]
    assert n_lines == len(lines) and last == lines[-1] + "\n"
    assert sorted(os.listdir(own_cache)) == sorted(os.path.basename(p) for p in (
        copy, copy + gzip_source.STAMP_SUFFIX, copy + ".lock", index_path))  # no temp files left

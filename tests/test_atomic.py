"""The atomic-write helper: complete file or previous content, temp file gone either way, usual
permissions, parent folders created, the target's extension kept for np.save."""
import json
import os
import stat

import numpy as np
import pytest

from sentiment_discovery import atomic


def leftovers(folder):
    return [name for name in os.listdir(folder) if name.startswith(".")]


def test_atomic_open_writes_and_replaces(tmp_path):
    target = tmp_path / "deep" / "out.json"
    with atomic.atomic_open(target, "w", encoding="utf-8") as handle:
        json.dump({"a": 1}, handle)
    assert json.loads(target.read_text()) == {"a": 1}
    with atomic.atomic_open(target, "w", encoding="utf-8") as handle:
        json.dump({"a": 2}, handle)
    assert json.loads(target.read_text()) == {"a": 2}
    assert leftovers(target.parent) == []
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~atomic.current_umask()


def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_open(target, "w") as handle:
            handle.write("half of the new")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_atomic_path_keeps_the_extension_for_numpy(tmp_path):
    target = tmp_path / "features.npy"
    with atomic.atomic_path(target) as temp:
        assert temp.endswith(".npy") and os.path.dirname(temp) == str(tmp_path)
        np.save(temp, np.arange(3))
    assert np.load(target).tolist() == [0, 1, 2]
    assert leftovers(tmp_path) == []


def test_steps_for_several_files(tmp_path):
    temp = atomic.temporary_path(tmp_path / "a.bin")
    with open(temp, "wb") as handle:
        handle.write(b"x")
    assert atomic.commit(temp, tmp_path / "a.bin") == str(tmp_path / "a.bin")
    other = atomic.temporary_path(tmp_path / "b.bin")
    atomic.discard(other)
    atomic.discard(other)  # already gone: no error
    assert sorted(os.listdir(tmp_path)) == ["a.bin"]
    with pytest.raises(ValueError):
        with atomic.atomic_open(tmp_path / "c", "r"):
            pass


def test_the_library_writes_atomically_one_way_only():
    from pathlib import Path
    package = Path(atomic.__file__).parent
    users = sorted(str(path.relative_to(package)) for path in package.rglob("*.py")
                   if path.name != "atomic.py" and any(word in path.read_text(encoding="utf-8")
                                                      for word in ("os.replace(", "os.rename(", "mkstemp(")))
    assert users == [], f"atomic writes outside atomic.py: {users}"

"""Shared pytest fixtures: where the bundled data lives, and a helper that writes small files."""
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_dir():
    """The bundled data sets (`data/` at the repository root)."""
    return REPO_ROOT / "data"


@pytest.fixture
def write_file(tmp_path):
    """write_file(name, content) -> str path of a file in tmp_path (bytes are written as is)."""

    def write(name, content):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return str(path)

    return write

"""Shared pytest fixtures: where the bundled data lives, a helper that writes small files, and a sidecar
cache folder of the test session's own (never the user's ~/.cache); and the test tiers: plain `pytest` runs
the fast one, tests marked `slow` (or `subprocess`, `distributed`) form the other (pyproject.toml)."""
import contextlib
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Tests that start other programs or train in several processes belong to the slow tier (before -m selects)."""
    for item in items:
        if item.get_closest_marker("subprocess") or item.get_closest_marker("distributed"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def sidecar_cache(tmp_path_factory):
    """Lazy indexes and decompressed .gz copies of the whole session (and of the processes it starts)
    go to one temp folder: $SENTIMENT_DISCOVERY_CACHE (data/files/cache.py)."""
    from sentiment_discovery.data.files.cache import CACHE_ENV
    folder = tmp_path_factory.mktemp("sidecar_cache")
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    yield folder
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before


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


class StopAfter:
    """Stands in for training.signals.GracefulExit: reports a SIGTERM at the n-th poll."""

    signum, signal_name = 15, "SIGTERM"

    def __init__(self, n):
        self.n, self.polls = n, 0

    def step(self):
        return contextlib.nullcontext()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def should_stop(self):
        self.polls += 1
        return self.polls >= self.n


@pytest.fixture
def stop_after():
    """stop_after(n) -> a GracefulExit stand-in factory that signals a stop at the n-th poll."""
    return lambda n: (lambda: StopAfter(n))


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """CLIs run in-process with --num-workers 1 set torch's thread count; give later tests theirs back."""
    import torch
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# ---- CPU capability worlds (sentiment_discovery/capabilities.py) --------------------------------------------
def forget_capabilities():
    """Forget the memoised probes and the lines already logged."""
    from sentiment_discovery import capabilities
    capabilities._probe_packed.cache_clear()
    capabilities._probe_native_bf16.cache_clear()
    capabilities._announced.clear()


@pytest.fixture
def cpu_without_bf16(monkeypatch):
    """Run as on an AVX2-only CPU: the probe reports no native bfloat16 (so --bf16 computes in float32)
    and no packed bfloat16 product, whatever this machine has. Forgets memoised probes and logged lines."""
    from sentiment_discovery import capabilities
    monkeypatch.setenv(capabilities.ENV_NO_BF16, "1")
    forget_capabilities()
    yield
    forget_capabilities()


@pytest.fixture
def cpu_without_packing(monkeypatch):
    """Run with no packed oneDNN products: every recurrent product uses the public torch.mm."""
    from sentiment_discovery import capabilities
    monkeypatch.setenv(capabilities.ENV_NO_PACKED, "1")
    forget_capabilities()
    yield
    forget_capabilities()


@pytest.fixture
def fresh_capabilities(monkeypatch):
    """The probe as this machine answers it (no forcing variables), with nothing logged yet."""
    from sentiment_discovery import capabilities
    monkeypatch.delenv(capabilities.ENV_NO_BF16, raising=False)
    monkeypatch.delenv(capabilities.ENV_NO_PACKED, raising=False)
    forget_capabilities()
    yield capabilities
    forget_capabilities()

"""Thread settings made before torch loads its OpenMP runtime: a passive wait policy unless the user chose
one, --threads as OMP_NUM_THREADS, and one log line with the decision."""
import logging
import os
import subprocess
import sys

import pytest

from sentiment_discovery.cli import configure_threads
from sentiment_discovery.runtime import set_threads

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return monkeypatch


def test_idle_openmp_threads_sleep_unless_the_user_says_otherwise(clean_env):
    configure_threads(0)
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and "OMP_NUM_THREADS" not in os.environ
    clean_env.setenv("OMP_WAIT_POLICY", "ACTIVE")
    configure_threads(0)
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_threads_flag_wins_over_the_environment(clean_env):
    clean_env.setenv("OMP_NUM_THREADS", "4")
    configure_threads(0)
    assert os.environ["OMP_NUM_THREADS"] == "4"
    configure_threads(1)
    assert os.environ["OMP_NUM_THREADS"] == "1"


def test_the_decision_is_logged_once(clean_env, caplog):
    configure_threads(0)
    with caplog.at_level(logging.INFO):
        set_threads(1)
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("threads:")] == \
        ["threads: 1, wait policy passive"]


@pytest.mark.slow
def test_a_script_starts_its_openmp_runtime_with_the_choice():
    """In a fresh process the settings are made before torch loads, so its OpenMP runtime reads them."""
    code = ("import sys; from sentiment_discovery.cli import configure_threads; configure_threads(1); "
            "import torch; print(torch.get_num_threads())")
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMP_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"

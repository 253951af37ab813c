"""finetune_classifier.py under torchrun with 2 gloo processes steps exactly like one process on the same
global batch (an uneven last batch, the auxiliary LM loss and two heads per class included)."""
import os
import subprocess
import sys

import pytest
import torch
from test_finetune_cli import (
    finetune_argv,
    multilabel_rows,
    write_splits,
    write_tiny_lm,
)

import finetune_classifier
from sentiment_discovery.checkpoint import load_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def keep_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.distributed
def test_two_gloo_processes_match_one(tmp_path):
    files = write_splits(tmp_path, multilabel_rows, sizes=(85, 30, 30))  # last global batch of 5: 3 + 2 rows
    lm = write_tiny_lm(tmp_path / "lm.pt")
    one, two = tmp_path / "one" / "clf.pt", tmp_path / "two" / "clf.pt"
    common = ["--non-binary-cols", "l0", "l1", "l2", "--epochs", "1", "--aux-lm-loss", "--heads-per-class", "2",
              "--aux-head-variance-loss-weight", "0.5", "--clip", "1", "--automatic-thresholding"]
    summary = finetune_classifier.main([*finetune_argv(lm, files, one, *common), "--batch-size", "8"])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "finetune_classifier.py", *finetune_argv(lm, files, two, *common), "--batch-size", "4"]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = load_checkpoint(str(one)), load_checkpoint(str(two))
    for name, tensor in a["model_state"].items():
        torch.testing.assert_close(b["model_state"][name], tensor, atol=1e-4, rtol=1e-4)
    assert b["thresholds"] == pytest.approx(a["thresholds"], abs=1e-6)
    last = load_checkpoint(str(tmp_path / "two" / "clf_last.pt"))
    assert last["world_size"] == 2 and last["progress"]["iteration"] == summary["iterations"] == 11
    history_a = load_checkpoint(str(tmp_path / "one" / "clf_last.pt"))["progress"]["history"][0]
    assert last["progress"]["history"][0]["train_loss"] == pytest.approx(history_a["train_loss"], abs=1e-5)

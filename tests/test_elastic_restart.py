"""Elastic restart: a 2-process gloo pretraining job under `torchrun --max-restarts 1 ... --resume auto`
survives SIGKILL of one worker after its first checkpoint, resumes from that checkpoint and finishes.

The kill comes from tests/kill_at_iteration.py (pretrain.py with a fault patched in), which fires on
torchrun's restart attempt 0 only. Steps that both
attempts logged (after the checkpoint, before the kill) must show the same loss: the restarted group
continues exactly where the checkpoint left off."""
import json
import os
import subprocess
import sys

import pytest
from test_pretrain import PHRASES

from sentiment_discovery.checkpoint import load_checkpoint
from sentiment_discovery.training.metrics_log import read_metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCHRUN_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                 "TORCHELASTIC_RESTART_COUNT")
ITERS, SAVE_EVERY, KILL_AT = 24, 8, 12


def write_corpus(path):
    with open(path, "w") as f:
        for i in range(60):
            f.write(json.dumps({"text": "".join(PHRASES[(i + j) % len(PHRASES)] for j in range(3))}) + "\n")


@pytest.mark.distributed
def test_sigkill_of_one_worker_restarts_and_finishes(tmp_path):
    corpus, save = tmp_path / "corpus.json", tmp_path / "run" / "lm.pt"
    write_corpus(corpus)
    flags = ["--data", str(corpus), "--loose-json", "--text-key", "text", "--split", "10,1,1", "--nhid", "16",
             "--emsize", "8", "--batch-size", "2", "--seq-length", "16", "--log-interval", "1", "--seed", "3",
             "--num-workers", "1", "--device", "cpu", "--train-iters", str(ITERS),
             "--save-iters", str(SAVE_EVERY), "--save", str(save), "--resume", "auto"]
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env.update(OMP_NUM_THREADS="1", KILL_RANK_AT=f"1:{KILL_AT}")
    # --standalone: torchrun binds its rendezvous store to a free port, so parallel test runs do not collide
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "--max-restarts", "1", "--monitor-interval", "0.5", "tests/kill_at_iteration.py", *flags]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "exitcode: -9" in done.stderr                                    # the kill really happened
    assert f"resumed from {save} at iteration {SAVE_EVERY}" in done.stderr
    final = load_checkpoint(str(save), expect_kind="lm")
    assert final["progress"]["iteration"] == ITERS and final["world_size"] == 2
    losses = {}
    for row in read_metrics(str(tmp_path / "run" / "lm.metrics.jsonl")):
        if "loss" in row:
            losses.setdefault(row["step"], []).append(row["loss"])
    assert sorted(losses) == list(range(1, ITERS + 1))
    repeated = {step: seen for step, seen in losses.items() if len(seen) > 1}
    assert sorted(repeated) == list(range(SAVE_EVERY + 1, KILL_AT + 1))     # logged by both attempts
    for step, seen in repeated.items():
        assert seen[0] == pytest.approx(seen[1], abs=1e-6), step

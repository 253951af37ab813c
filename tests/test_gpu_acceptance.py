"""bench/gpu_acceptance.sh runs end to end on CPU with tiny sizes and writes one JSON summary, so that on a
GPU it can only fail for GPU reasons."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHON=sys.executable)  # the script runs this interpreter, not `python` from PATH
STAGES = ["gpu_tests", "pretrain_fp32", "pretrain_amp", "recurrent_vs_lstm", "torchrun_resume", "transfer",
          "run_classifier"]


@pytest.mark.subprocess
def test_acceptance_script_runs_tiny_on_cpu(tmp_path):
    out = tmp_path / "summary.json"
    # two precision modes keep the test short: the stage code is the same for each (fp16/bf16 pretraining
    # is tested in test_pretrain.py)
    command = ["bash", "bench/gpu_acceptance.sh", "--device", "cpu", "--tiny", "--steps", "4",
               "--modes", "fp32", "amp", "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, env=dict(ENV, OMP_NUM_THREADS="1"), capture_output=True,
                          text=True, timeout=400)
    summary = json.loads(out.read_text())
    assert list(summary["stages"]) == STAGES
    failed = {name: stage["error"] for name, stage in summary["stages"].items() if not stage["ok"]}
    assert not failed and done.returncode == 0 and summary["all_ok"], (failed, done.stderr[-2000:])
    stages = summary["stages"]
    assert stages["pretrain_fp32"]["chars_per_s"] > 0 and stages["pretrain_fp32"]["iterations"] == 4
    assert stages["recurrent_vs_lstm"]["train mLSTM_over_nn_lstm_per_flop"] > 0
    assert stages["torchrun_resume"]["final_iteration"] == 4
    assert stages["run_classifier"]["rows"] == 80 and "all test accuracy" in stages["transfer"]


@pytest.mark.subprocess
def test_cuda_missing_is_one_line(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    done = subprocess.run(["bash", "bench/gpu_acceptance.sh", "--out", str(tmp_path / "s.json")], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "--device cpu" in done.stderr

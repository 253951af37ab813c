"""pretrain.py end to end on tiny models: learning, precision modes, exact resume, SIGTERM, distributed
training with 2 gloo processes, lazy data, sentencepiece, and bad input."""
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

import pretrain
from sentiment_discovery.cli import run_cli
from sentiment_discovery.drivers import pretrain as pretraining
from sentiment_discovery.checkpoint import load_checkpoint
from sentiment_discovery.training.metrics_log import read_metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHRASES = ["the movie was great fun. ", "what a terrible plot! ", "i loved the acting. ",
           "boring and far too long. ", "a fine cast and a good story. "]


@pytest.fixture
def corpus(tmp_path):
    """A small loose-JSON corpus of repetitive documents (easy to learn)."""
    path = tmp_path / "corpus.json"
    with open(path, "w") as f:
        for i in range(120):
            text = "".join(PHRASES[(i + j) % len(PHRASES)] for j in range(3))
            f.write(json.dumps({"text": text}) + "\n")
    return str(path)


def tiny_flags(corpus, save, *extra):
    return ["--data", corpus, "--loose-json", "--text-key", "text", "--split", "10,1,1", "--nhid", "32",
            "--emsize", "16", "--batch-size", "4", "--seq-length", "16", "--lr", "1e-2", "--log-interval", "1",
            "--save", str(save), "--seed", "7", "--num-workers", "1", *extra]


def logged_losses(save):
    rows = read_metrics(os.path.splitext(str(save))[0] + ".metrics.jsonl")
    return [row["loss"] for row in rows if "loss" in row]


def test_tiny_model_learns(corpus, tmp_path, caplog):
    save = tmp_path / "lm.pt"
    with caplog.at_level(logging.INFO):
        summary = pretrain.main(tiny_flags(corpus, save, "--train-iters", "30"))
    assert "bits/char (best so far)" in caplog.text and "bits per" not in caplog.text
    losses = logged_losses(save)
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0
    assert summary["outcome"] == "done" and summary["iterations"] == 30
    ckpt = load_checkpoint(str(save), expect_kind="lm")
    assert ckpt["progress"]["iteration"] == 30 and ckpt["model_config"]["nhid"] == 32
    assert (tmp_path / "lm_best.pt").exists() and (tmp_path / "lm_loss.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["--bf16"], ["--fp16", "--dynamic-loss-scale"], ["--fp16", "--loss-scale", "128"],
                                  ["--amp"], ["--model", "LSTM"], ["--model", "GRU"], ["--clip", "0.5"],
                                  ["--grad-accum", "2"]])
def test_modes_run(corpus, tmp_path, mode):
    save = tmp_path / "lm.pt"
    summary = pretrain.main(tiny_flags(corpus, save, "--train-iters", "4", *mode))
    assert summary["outcome"] == "done"
    ckpt = load_checkpoint(str(save))
    assert all(v.dtype == torch.float32 for v in ckpt["model_state"].values() if v.is_floating_point())
    assert all(torch.isfinite(v).all() for v in ckpt["model_state"].values() if v.is_floating_point())


@pytest.mark.slow
def test_transformer_trains(corpus, tmp_path):
    save = tmp_path / "lm.pt"
    flags = tiny_flags(corpus, save, "--train-iters", "12", "--model", "transformer", "--decoder-layers", "1",
                       "--decoder-embed-dim", "32", "--decoder-ffn-embed-dim", "64",
                       "--decoder-attention-heads", "2", "--lr", "3e-3")
    pretrain.main(flags)
    losses = logged_losses(save)
    assert losses[-1] < losses[0]


def test_resume_equivalence(corpus, tmp_path, monkeypatch, stop_after):
    straight, split = tmp_path / "a" / "lm.pt", tmp_path / "b" / "lm.pt"
    pretrain.main(tiny_flags(corpus, straight, "--train-iters", "8", "--decay-style", "cosine"))
    monkeypatch.setattr(pretraining, "GracefulExit", stop_after(4))
    first = pretrain.main(tiny_flags(corpus, split, "--train-iters", "8", "--decay-style", "cosine"))
    assert first["outcome"] == "stopped" and load_checkpoint(str(split))["progress"]["iteration"] == 4
    monkeypatch.setattr(pretraining, "GracefulExit", stop_after(10 ** 9))
    pretrain.main(tiny_flags(corpus, split, "--train-iters", "8", "--decay-style", "cosine", "--resume", "auto"))
    a, b = load_checkpoint(str(straight)), load_checkpoint(str(split))
    assert b["progress"]["iteration"] == 8
    for name, tensor in a["model_state"].items():
        torch.testing.assert_close(b["model_state"][name], tensor, atol=1e-6, rtol=0)
    assert logged_losses(straight) == pytest.approx(logged_losses(split), abs=1e-5)


LEGACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "legacy_checkpoints")


@pytest.mark.slow
def test_a_checkpoint_of_the_old_loop_resumes_to_the_same_weights(corpus, tmp_path):
    """lm_stopped_4_of_8.pt was written by the code before training/loop.py (AnnealingLR state)."""
    straight, split = tmp_path / "a" / "lm.pt", tmp_path / "b" / "lm.pt"
    flags = ["--train-iters", "8", "--decay-style", "cosine"]
    pretrain.main(tiny_flags(corpus, straight, *flags))
    split.parent.mkdir()
    shutil.copy(os.path.join(LEGACY, "lm_stopped_4_of_8.pt"), split)
    assert "lr_lambdas" not in torch.load(split, weights_only=True)["schedule"]
    summary = pretrain.main(tiny_flags(corpus, split, *flags, "--resume", "auto"))
    assert summary["outcome"] == "done" and summary["iterations"] == 8
    a, b = load_checkpoint(str(straight)), load_checkpoint(str(split))
    for name, tensor in a["model_state"].items():   # (the file was written on another CPU: 1e-5)
        torch.testing.assert_close(b["model_state"][name], tensor, atol=1e-5, rtol=0)
    assert "lr_lambdas" in torch.load(split, weights_only=True)["schedule"]


def test_an_fp16_checkpoint_of_the_fp16_optimizer_resumes_on_grad_scaler(corpus, tmp_path):
    """lm_fp16_dynamic_stopped_18_of_24.pt was written by FP16Optimizer + DynamicLossScaler (14 steps skipped,
    scale 2^18). Resumed, its scale and skipped count carry on, and it ends where a run of today's --fp16
    ends (the fp16 arithmetic differs: the old one kept a half model, today autocast computes in half)."""
    straight, split = tmp_path / "a" / "lm.pt", tmp_path / "b" / "lm.pt"
    flags = ["--train-iters", "24", "--decay-style", "cosine", "--fp16", "--dynamic-loss-scale"]
    pretrain.main(tiny_flags(corpus, straight, *flags))
    split.parent.mkdir()
    shutil.copy(os.path.join(LEGACY, "lm_fp16_dynamic_stopped_18_of_24.pt"), split)
    summary = pretrain.main(tiny_flags(corpus, split, *flags, "--resume", "auto"))
    assert summary["outcome"] == "done" and summary["iterations"] == 24 and summary["skipped_steps"] == 14
    rows = [row for row in read_metrics(str(tmp_path / "b" / "lm.metrics.jsonl")) if "loss" in row]
    assert [row["loss_scale"] for row in rows] == [2.0 ** 18] * 6
    a, b = load_checkpoint(str(straight)), load_checkpoint(str(split))
    assert b["precision"]["scaler"]["scale"] == a["precision"]["scaler"]["scale"] == 2.0 ** 18
    for name, tensor in a["model_state"].items():
        relative = float((b["model_state"][name] - tensor).norm() / tensor.norm().clamp(min=1e-12))
        assert relative < 1e-2, name
    assert logged_losses(straight)[-6:] == pytest.approx(logged_losses(split), abs=2e-3)


@pytest.mark.slow
def test_resume_auto_takes_the_newest_of_the_save_family(corpus, tmp_path, monkeypatch, stop_after):
    """--save is the last state and <stem>_best the best; both hold a training state, and --resume auto
    continues from whichever was written last (here a best at iteration 3 written after a last at 6)."""
    save, early = tmp_path / "lm.pt", tmp_path / "early" / "lm.pt"
    flags = ["--train-iters", "3", "--epochs", "2"]
    pretrain.main(tiny_flags(corpus, save, *flags))
    assert load_checkpoint(str(save))["progress"]["iteration"] == 6
    monkeypatch.setattr(pretraining, "GracefulExit", stop_after(3))
    pretrain.main(tiny_flags(corpus, early, *flags))
    shutil.copy(early, tmp_path / "lm_best.pt")            # now the newest file of the family
    newer = os.path.getmtime(save) + 10
    os.utime(tmp_path / "lm_best.pt", (newer, newer))
    monkeypatch.setattr(pretraining, "GracefulExit", stop_after(1))
    pretrain.main(tiny_flags(corpus, save, *flags, "--resume", "auto"))
    assert load_checkpoint(str(save))["progress"]["iteration"] == 4


@pytest.mark.subprocess
def test_sigterm_saves_and_resumes(corpus, tmp_path, monkeypatch, stop_after):
    save = tmp_path / "lm.pt"
    flags = tiny_flags(corpus, save, "--train-iters", "100000", "--nhid", "16", "--log-interval", "5")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "pretrain.py", *flags], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "lm.metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.exists() and metrics.stat().st_size > 0) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]      # as a shell reports it
    assert "SIGTERM again stops at once" in stderr and "continue with --resume auto" in stderr
    stopped_at = load_checkpoint(str(save))["progress"]["iteration"]
    assert 0 < stopped_at < 100000
    monkeypatch.setattr(pretraining, "GracefulExit", stop_after(3))
    pretrain.main(flags + ["--resume", "auto"])
    assert load_checkpoint(str(save))["progress"]["iteration"] == stopped_at + 3


@pytest.mark.distributed
def test_two_gloo_processes_match_one(corpus, tmp_path):
    one, two = tmp_path / "one" / "lm.pt", tmp_path / "two" / "lm.pt"
    common = ["--train-iters", "3", "--clip", "1"]
    pretrain.main(tiny_flags(corpus, one, *common, "--batch-size", "4"))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "pretrain.py",
           *tiny_flags(corpus, two, *common, "--batch-size", "2")]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = load_checkpoint(str(one)), load_checkpoint(str(two))
    assert b["world_size"] == 2
    for name, tensor in a["model_state"].items():
        torch.testing.assert_close(b["model_state"][name], tensor, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_lazy_loose_json(corpus, tmp_path):
    summary = pretrain.main(tiny_flags(corpus, tmp_path / "lm.pt", "--train-iters", "3", "--lazy"))
    assert summary["outcome"] == "done"


@pytest.mark.slow
def test_sentencepiece_end_to_end(corpus, tmp_path, caplog):
    save = tmp_path / "lm.pt"
    flags = tiny_flags(corpus, save, "--train-iters", "3", "--tokenizer-type", "SentencePieceTokenizer",
                       "--tokenizer-path", str(tmp_path / "sp.model"), "--vocab-size", "60")
    with caplog.at_level(logging.INFO):
        pretrain.main(flags)
    assert "bits/token (best so far)" in caplog.text  # a sentencepiece token is not a character
    ckpt = load_checkpoint(str(save))
    assert ckpt["tokenizer"]["kind"] == "sentencepiece" and ckpt["model_config"]["vocab_size"] == 61
    assert (tmp_path / "sp.model").exists()


def test_bad_data_fails_before_model(tmp_path, capsys, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was built")
    monkeypatch.setattr(pretraining, "build_model", no_model)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(pretrain.main, ["--data", str(tmp_path / "missing.json"), "--save", str(tmp_path / "lm.pt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.json" in err[0]


@pytest.mark.slow
def test_resume_with_other_world_size_is_refused(corpus, tmp_path, capsys):
    save = tmp_path / "lm.pt"
    pretrain.main(tiny_flags(corpus, save, "--train-iters", "2"))
    payload = load_checkpoint(str(save))
    payload["world_size"] = 2
    torch.save(payload, str(save))
    with pytest.raises(SystemExit):
        run_cli(pretrain.main, tiny_flags(corpus, save, "--train-iters", "4", "--resume", "auto"))
    assert "2 processes" in capsys.readouterr().err


def test_bare_pretrain_on_a_cpu_names_the_gpu_sized_defaults(caplog):
    from sentiment_discovery.config import parse
    config = parse("pretrain.py", [])
    pretraining.warn_gpu_sized_defaults(config, config.model.architecture(257), torch.device("cpu"))
    assert "paper's GPU configuration (mLSTM, 4096 units, 86M parameters, batch 128 x 256)" in caplog.text
    assert "--nhid 512" in caplog.text and "saving to lang_model.pt" in caplog.text
    caplog.clear()
    sized = parse("pretrain.py", ["--nhid", "64"])
    pretraining.warn_gpu_sized_defaults(sized, sized.model.architecture(257), torch.device("cpu"))
    assert caplog.text == ""

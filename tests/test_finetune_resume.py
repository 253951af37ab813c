"""finetune_classifier.py: a run stopped mid-epoch and resumed equals an uninterrupted one; --load-finetuned
keeps training a saved classifier; bad input ends in one line before any model is built."""
import os
import shutil

import pandas as pd
import pytest
import torch
from test_finetune_cli import (
    finetune_argv,
    multilabel_rows,
    write_splits,
    write_tiny_lm,
)

import finetune_classifier
from sentiment_discovery.cli import run_cli
from sentiment_discovery.drivers import finetune as finetuning
from sentiment_discovery.checkpoint import load_checkpoint
from sentiment_discovery.training.metrics_log import read_metrics

LABELS = ["--non-binary-cols", "l0", "l1", "l2"]


@pytest.fixture(autouse=True)
def keep_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def task(tmp_path):
    files = write_splits(tmp_path, multilabel_rows, sizes=(160, 40, 40))
    return write_tiny_lm(tmp_path / "lm.pt"), files


def run_flags(lm, files, save):
    return finetune_argv(lm, files, save, *LABELS, "--epochs", "2", "--decay-style", "cosine",
                         "--classifier-hidden-layers", "8", "3", "--classifier-dropout", "0.3", "--aux-lm-loss",
                         "--automatic-thresholding")


def test_resume_mid_epoch_equals_an_uninterrupted_run(task, tmp_path, monkeypatch, stop_after):
    lm, files = task
    straight, split = tmp_path / "a" / "clf.pt", tmp_path / "b" / "clf.pt"
    finetune_classifier.main(run_flags(lm, files, straight))
    monkeypatch.setattr(finetuning, "GracefulExit", stop_after(13))     # 10 steps per epoch
    first = finetune_classifier.main(run_flags(lm, files, split))
    assert first["outcome"] == "stopped" and first["iterations"] == 13
    assert load_checkpoint(str(tmp_path / "b" / "clf_last.pt"))["progress"]["step_in_epoch"] == 3
    monkeypatch.setattr(finetuning, "GracefulExit", stop_after(10 ** 9))
    resumed = finetune_classifier.main([*run_flags(lm, files, split), "--resume", "auto"])
    assert resumed["outcome"] == "done" and resumed["iterations"] == 20
    for name in ("clf.pt", "clf_last.pt"):
        a, b = load_checkpoint(str(tmp_path / "a" / name)), load_checkpoint(str(tmp_path / "b" / name))
        for key, tensor in a["model_state"].items():
            torch.testing.assert_close(b["model_state"][key], tensor, atol=1e-6, rtol=0)
        assert a["thresholds"] == b["thresholds"]
    rows_a = read_metrics(str(tmp_path / "a" / "clf.metrics.jsonl"))
    rows_b = read_metrics(str(tmp_path / "b" / "clf.metrics.jsonl"))
    assert len(rows_a) == len(rows_b) == 2
    for row_a, row_b in zip(rows_a, rows_b):
        assert row_a["train_loss"] == pytest.approx(row_b["train_loss"], abs=1e-6)
        assert row_a["val_f1_macro"] == pytest.approx(row_b["val_f1_macro"], abs=1e-6)


LEGACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "legacy_checkpoints")


@pytest.mark.slow
def test_a_resume_checkpoint_of_the_old_loop_resumes_to_the_same_result(task, tmp_path):
    """clf_last_stopped_13_of_20.pt was written by the code before training/loop.py (AnnealingLR state)."""
    lm, files = task
    straight, split = tmp_path / "a" / "clf.pt", tmp_path / "b" / "clf.pt"
    finetune_classifier.main(run_flags(lm, files, straight))
    split.parent.mkdir()
    shutil.copy(os.path.join(LEGACY, "clf_last_stopped_13_of_20.pt"), tmp_path / "b" / "clf_last.pt")
    shutil.copy(os.path.join(LEGACY, "clf_best_stopped_13_of_20.pt"), split)
    resumed = finetune_classifier.main([*run_flags(lm, files, split), "--resume", "auto"])
    assert resumed["outcome"] == "done" and resumed["iterations"] == 20
    a, b = load_checkpoint(str(straight)), load_checkpoint(str(split))
    for key, tensor in a["model_state"].items():
        torch.testing.assert_close(b["model_state"][key], tensor, atol=1e-6, rtol=0)
    assert a["thresholds"] == b["thresholds"]


@pytest.mark.slow
def test_an_fp16_resume_checkpoint_of_the_fp16_optimizer_resumes_on_grad_scaler(task, tmp_path):
    """clf_fp16_last_stopped_13_of_20.pt was written by FP16Optimizer + StaticLossScaler (--loss-scale 128).
    Resumed, it ends where a run of today's --fp16 ends (the fp16 arithmetic differs: the old one halved
    the encoder, today autocast computes in half)."""
    lm, files = task
    flags = ["--fp16", "--loss-scale", "128"]
    straight, split = tmp_path / "a" / "clf.pt", tmp_path / "b" / "clf.pt"
    finetune_classifier.main([*run_flags(lm, files, straight), *flags])
    split.parent.mkdir()
    shutil.copy(os.path.join(LEGACY, "clf_fp16_last_stopped_13_of_20.pt"), tmp_path / "b" / "clf_last.pt")
    shutil.copy(os.path.join(LEGACY, "clf_fp16_best_stopped_13_of_20.pt"), split)
    resumed = finetune_classifier.main([*run_flags(lm, files, split), *flags, "--resume", "auto"])
    assert resumed["outcome"] == "done" and resumed["iterations"] == 20
    a, b = load_checkpoint(str(tmp_path / "a" / "clf_last.pt")), load_checkpoint(str(tmp_path / "b" / "clf_last.pt"))
    assert a["precision"] == b["precision"] == {"mode": "fp16", "scaler": None, "skipped_steps": 0}
    for key, tensor in a["model_state"].items():
        relative = float((b["model_state"][key] - tensor).norm() / tensor.norm().clamp(min=1e-12))
        assert relative < 1e-2, key
    rows_a = read_metrics(str(tmp_path / "a" / "clf.metrics.jsonl"))
    rows_b = read_metrics(str(tmp_path / "b" / "clf.metrics.jsonl"))
    assert rows_b[-1]["train_loss"] == pytest.approx(rows_a[-1]["train_loss"], abs=1e-2)


@pytest.mark.slow
def test_stopped_at_an_epoch_end_and_resumed_with_save_iters(task, tmp_path, monkeypatch, stop_after):
    """A stop on the epoch's last step ends the epoch first; --save-iters writes the last state in between."""
    lm, files = task
    straight, split = tmp_path / "a" / "clf.pt", tmp_path / "b" / "clf.pt"
    finetune_classifier.main(run_flags(lm, files, straight))
    monkeypatch.setattr(finetuning, "GracefulExit", stop_after(10))     # 10 steps per epoch
    first = finetune_classifier.main([*run_flags(lm, files, split), "--save-iters", "4"])
    progress = load_checkpoint(str(tmp_path / "b" / "clf_last.pt"))["progress"]
    assert first["outcome"] == "stopped" and (progress["epoch"], progress["step_in_epoch"]) == (1, 0)
    monkeypatch.setattr(finetuning, "GracefulExit", stop_after(10 ** 9))
    finetune_classifier.main([*run_flags(lm, files, split), "--save-iters", "4", "--resume", "auto"])
    a, b = load_checkpoint(str(straight)), load_checkpoint(str(split))
    for key, tensor in a["model_state"].items():
        torch.testing.assert_close(b["model_state"][key], tensor, atol=1e-6, rtol=0)
    assert len([row for row in read_metrics(str(tmp_path / "b" / "clf.metrics.jsonl")) if "epoch" in row]) == 2


@pytest.mark.slow
def test_load_finetuned_keeps_training_a_classifier(task, tmp_path):
    lm, files = task
    first = tmp_path / "first.pt"
    finetune_classifier.main(finetune_argv(lm, files, first, *LABELS, "--epochs", "1"))
    again = finetune_classifier.main(finetune_argv(str(first), files, tmp_path / "second.pt", *LABELS,
                                                   "--epochs", "1", "--load-finetuned", "--freeze-lm"))
    before, after = load_checkpoint(str(first)), load_checkpoint(str(tmp_path / "second.pt"))
    assert again["outcome"] == "done"
    for key, tensor in before["model_state"].items():
        if key.startswith("encoder."):
            torch.testing.assert_close(after["model_state"][key], tensor)  # --freeze-lm: the LM is unchanged
    assert any(not torch.equal(after["model_state"][k], before["model_state"][k]) for k in before["model_state"]
               if k.startswith("head."))


def refuse_models(monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was built")
    monkeypatch.setattr(finetuning, "build_model", no_model)


def one_error_line(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(finetune_classifier.main, argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


def test_binary_label_outside_zero_one(task, tmp_path, capsys, monkeypatch):
    lm, files = task
    frame = pd.read_csv(files["train"]).assign(label=lambda f: f["l0"])
    frame.loc[4, "label"] = 2
    frame.to_csv(tmp_path / "bad_train.csv", index=False)
    pd.read_csv(files["val"]).assign(label=0).to_csv(tmp_path / "val_label.csv", index=False)
    refuse_models(monkeypatch)
    bad = dict(files, train=str(tmp_path / "bad_train.csv"), val=str(tmp_path / "val_label.csv"))
    line = one_error_line(capsys, finetune_argv(lm, bad, tmp_path / "c.pt", "--no-test-eval"))
    assert "bad_train.csv" in line and "label 'label' is 2 in row 5" in line and "0/1" in line


def test_label_column_missing_in_valid(task, tmp_path, capsys, monkeypatch):
    lm, files = task
    pd.read_csv(files["val"]).drop(columns=["l2"]).to_csv(tmp_path / "val_no_l2.csv", index=False)
    refuse_models(monkeypatch)
    line = one_error_line(capsys, finetune_argv(lm, dict(files, val=str(tmp_path / "val_no_l2.csv")),
                                                tmp_path / "c.pt", *LABELS))
    assert "val_no_l2.csv has no label column 'l2'" in line and "'sentence', 'l0', 'l1'" in line


def test_hidden_layers_must_end_in_the_number_of_labels(task, tmp_path, capsys, monkeypatch):
    lm, files = task
    refuse_models(monkeypatch)
    line = one_error_line(capsys, finetune_argv(lm, files, tmp_path / "c.pt", *LABELS,
                                                "--classifier-hidden-layers", "16", "2"))
    assert "--classifier-hidden-layers 16 2 ends in 2 outputs, but the task has 3" in line
    assert not os.path.exists(tmp_path / "c.pt")


@pytest.mark.slow
def test_resume_of_another_task_is_refused(task, tmp_path, capsys):
    lm, files = task
    save = tmp_path / "clf.pt"
    finetune_classifier.main(finetune_argv(lm, files, save, "--non-binary-cols", "l0", "l1", "--epochs", "1"))
    capsys.readouterr()
    line = one_error_line(capsys, finetune_argv(lm, files, save, *LABELS, "--resume", "auto"))
    assert "['l0', 'l1']" in line and "['l0', 'l1', 'l2']" in line

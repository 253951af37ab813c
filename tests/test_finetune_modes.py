"""finetune_classifier.py in its other modes, one short epoch each: precision modes, gradient accumulation,
a transformer and a GRU from scratch with the auxiliary LM loss, joint binary training with dual and
double thresholds, per-epoch classifiers; every run must end with finite fp32 weights."""
import logging
import os

import pytest
import torch
from test_finetune_cli import (
    finetune_argv,
    five_class_rows,
    multilabel_rows,
    write_splits,
    write_tiny_lm,
)

import finetune_classifier
from sentiment_discovery.checkpoint import load_checkpoint
from sentiment_discovery.errors import UserError

TRANSFORMER = ["--model", "transformer", "--decoder-layers", "1", "--decoder-embed-dim", "16",
               "--decoder-ffn-embed-dim", "32", "--decoder-attention-heads", "2", "--max-seq-len", "24"]


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """(LM, multi-label files, 5-class files), small."""
    folder = tmp_path_factory.mktemp("finetune_modes")
    for name in ("ml", "five"):
        (folder / name).mkdir()
    return (write_tiny_lm(folder / "lm.pt"), write_splits(folder / "ml", multilabel_rows, (64, 24, 24)),
            write_splits(folder / "five", five_class_rows, (64, 24, 24)))


def assert_clean_checkpoint(path):
    ckpt = load_checkpoint(str(path), expect_kind="classifier")
    for name, tensor in ckpt["model_state"].items():
        if tensor.is_floating_point():
            assert tensor.dtype == torch.float32 and torch.isfinite(tensor).all(), name
    return ckpt


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["--bf16"], ["--fp16", "--dynamic-loss-scale", "--aux-lm-loss"], ["--amp"],
                                  ["--grad-accum", "2", "--clip", "0.5"], ["--freeze-lm", "--warmup-epochs", "0.5"]])
def test_precision_and_step_modes(task, tmp_path, mode):
    lm, multilabel, _ = task
    summary = finetune_classifier.main(finetune_argv(lm, multilabel, tmp_path / "c.pt", "--non-binary-cols", "l0",
                                                     "l1", "l2", "--epochs", "1", *mode))
    assert summary["outcome"] == "done" and summary["iterations"] == 4 // (2 if "--grad-accum" in mode else 1)
    assert_clean_checkpoint(tmp_path / "c.pt")


@pytest.mark.slow
@pytest.mark.parametrize("model", [TRANSFORMER, ["--model", "GRU", "--nhid", "16", "--emsize", "8"]])
def test_language_models_from_scratch_with_aux_lm_loss(task, tmp_path, model):
    _, _, five = task
    argv = finetune_argv("unused", five, tmp_path / "c.pt", "--use-softmax", "--epochs", "1", "--aux-lm-loss",
                         *model)[2:]  # no --load: a fresh language model from the flags
    summary = finetune_classifier.main(argv)
    ckpt = assert_clean_checkpoint(tmp_path / "c.pt")
    assert summary["task"] == "multiclass" and ckpt["classifier_config"]["encoder"]["model"] == model[1]


@pytest.mark.slow
def test_joint_binary_training_with_dual_and_double_thresholds(task, tmp_path):
    _, _, five = task
    summary = finetune_classifier.main(finetune_argv(
        task[0], five, tmp_path / "c.pt", "--joint-binary-train", "--epochs", "2", "--automatic-thresholding",
        "--dual-thresh", "--double-thresh", "--micro", "--global-tweaks", "20", "--save-finetune",
        "--model-version-name", "versions"))
    assert summary["task"] == "multilabel" and summary["labels"] == [f"label={k}" for k in range(5)]
    assert len(summary["thresholds"]) == 5
    assert os.path.exists(tmp_path / "versions" / "e1.pt") and os.path.exists(tmp_path / "versions" / "e2.pt")
    history = load_checkpoint(str(tmp_path / "c_last.pt"))["progress"]["history"]
    assert all(0.0 <= row["val_dual_accuracy"] <= 1.0 for row in history)
    again = finetune_argv(task[0], five, tmp_path / "other.pt", "--joint-binary-train", "--save-finetune",
                          "--model-version-name", "versions")
    with pytest.raises(UserError, match="versions already holds another run's results .*--overwrite-output-dir"):
        finetune_classifier.main(again)


def test_layer_lr_decay_gives_each_depth_its_rate(task, tmp_path):
    """A 2-layer GRU from scratch: embedding, layer 0, layer 1, then the decoder and head at --lr."""
    _, multilabel, _ = task
    argv = finetune_argv("unused", multilabel, tmp_path / "c.pt", "--non-binary-cols", "l0", "l1", "l2",
                         "--model", "GRU", "--nhid", "16", "--emsize", "8", "--nlayers", "2", "--epochs", "1",
                         "--layer-lr-decay", "0.5")[2:]
    finetune_classifier.main(argv)
    groups = load_checkpoint(str(tmp_path / "c_last.pt"))["optimizer"]["param_groups"]
    assert [group["initial_lr"] for group in groups] == pytest.approx([1e-2 * 0.5 ** k for k in (3, 2, 1, 0)])


def test_early_stopping_ends_the_run_after_patience_epochs(task, tmp_path, caplog):
    """With a learning rate of 0 no epoch beats the first: patience 1 stops after epoch 2 of 5."""
    lm, multilabel, _ = task
    caplog.set_level(logging.INFO)
    summary = finetune_classifier.main(finetune_argv(lm, multilabel, tmp_path / "c.pt", "--non-binary-cols", "l0",
                                                     "l1", "l2", "--epochs", "5", "--lr", "0",
                                                     "--early-stopping-patience", "1"))
    assert summary["outcome"] == "done" and summary["epochs_run"] == 2 and summary["best_epoch"] == 1
    assert "early stop after epoch 2" in caplog.text

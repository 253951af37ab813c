"""--tensorboard DIR: a tiny pretraining run (and its resume), a tiny 3-class finetuning run and generate.py's
samples and heatmaps write event files whose scalars, images and texts are read back here; without tensorboard the
flag is a clear error; without the flag nothing is written."""
import json
import math
import os
import random
import sys

import pytest

pytest.importorskip("tensorboard")

import finetune_classifier  # noqa: E402
import generate  # noqa: E402
import pretrain  # noqa: E402
from sentiment_discovery.cli import run_cli  # noqa: E402
from sentiment_discovery.errors import UserError  # noqa: E402
from sentiment_discovery.drivers import pretrain as pretraining  # noqa: E402
from sentiment_discovery.training.metrics_log import read_metrics  # noqa: E402
from sentiment_discovery.training.tensorboard_log import flat_scalars  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

PHRASES = ["the movie was great fun. ", "what a terrible plot! ", "i loved the acting. ",
           "boring and far too long. "]
CLASSES = {"negative": "awful", "neutral": "okay", "positive": "great"}  # the class word ends the text
FILLER = ["the", "flight", "was", "and", "so", "very", "crew", "seat"]


def read_events(directory):
    """Every event file in `directory`, loaded (scalars and images kept in full)."""
    events = EventAccumulator(str(directory), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def scalar_points(events, tag):
    return [(event.step, event.value) for event in events.Scalars(tag)]


def write_corpus(path):
    with open(path, "w") as f:
        for i in range(60):
            f.write(json.dumps({"text": "".join(PHRASES[(i + j) % len(PHRASES)] for j in range(3))}) + "\n")
    return str(path)


def pretrain_flags(corpus, save, *extra):
    return ["--data", corpus, "--loose-json", "--text-key", "text", "--split", "10,1,1", "--nhid", "16",
            "--emsize", "8", "--batch-size", "4", "--seq-length", "16", "--log-interval", "1", "--save", str(save),
            "--seed", "7", "--num-workers", "1", "--train-iters", "6", *extra]


def write_tweets_like(folder):
    """train/val/test CSVs shaped like data/tweets3 (a string label column and a text column)."""
    rng = random.Random(5)
    files = {}
    for name, n in (("train", 48), ("val", 24), ("test", 24)):
        lines = ["label,text"]
        for i in range(n):
            label = list(CLASSES)[i % 3]
            lines.append(f"{label},{' '.join(rng.choices(FILLER, k=3))} {CLASSES[label]}")
        files[name] = folder / f"{name}.csv"
        files[name].write_text("\n".join(lines) + "\n")
    return files


def finetune_flags(files, save, *extra):
    return ["--data", str(files["train"]), "--valid", str(files["val"]), "--test", str(files["test"]),
            "--text-key", "text", "--class-names", *CLASSES, "--use-softmax", "--nhid", "16", "--emsize", "8",
            "--batch-size", "8",
            "--epochs", "2", "--save", str(save), "--seed", "3", "--num-workers", "1", *extra]


@pytest.mark.slow
def test_pretraining_scalars_and_loss_curve(tmp_path):
    board = tmp_path / "tb"
    pretrain.main(pretrain_flags(write_corpus(tmp_path / "corpus.json"), tmp_path / "lm.pt",
                                 "--tensorboard", str(board)))
    events = read_events(board)
    for tag in ("loss", "lr", "tokens_per_s", "loss_scale"):
        points = scalar_points(events, tag)
        assert [step for step, _ in points] == [1, 2, 3, 4, 5, 6], tag
        assert all(math.isfinite(value) for _, value in points), tag
    val_rows = [row for row in read_metrics(tmp_path / "lm.metrics.jsonl") if "val_loss" in row]
    val_points = scalar_points(events, "val_loss")
    assert len(val_points) == len(val_rows) >= 1
    assert [value for _, value in val_points] == pytest.approx([row["val_loss"] for row in val_rows])
    assert "step" not in events.Tags()["scalars"] and "epoch" not in events.Tags()["scalars"]
    assert [image.step for image in events.Images("loss_curve")] == [6]


@pytest.mark.slow
def test_resumed_pretraining_continues_the_steps(tmp_path, monkeypatch, stop_after):
    corpus, board = write_corpus(tmp_path / "corpus.json"), tmp_path / "tb"
    flags = pretrain_flags(corpus, tmp_path / "lm.pt", "--tensorboard", str(board))
    monkeypatch.setattr(pretraining, "GracefulExit", stop_after(3))
    assert pretrain.main(flags)["outcome"] == "stopped"
    monkeypatch.setattr(pretraining, "GracefulExit", stop_after(10 ** 9))
    assert pretrain.main(flags + ["--resume", "auto"])["outcome"] == "done"
    assert len(os.listdir(board)) == 2  # one event file per process run, read as one run
    events = read_events(board)
    assert [step for step, _ in scalar_points(events, "loss")] == [1, 2, 3, 4, 5, 6]
    assert [image.step for image in events.Images("loss_curve")] == [3, 6]


@pytest.mark.slow
def test_finetuning_scalars_and_confusion_images(tmp_path):
    board = tmp_path / "tb"
    summary = finetune_classifier.main(finetune_flags(write_tweets_like(tmp_path), tmp_path / "clf.pt",
                                                      "--tensorboard", str(board)))
    assert summary["task"] == "multiclass" and summary["outcome"] == "done"
    events = read_events(board)
    epoch_rows = [row for row in read_metrics(tmp_path / "clf.metrics.jsonl") if "epoch" in row]
    assert len(epoch_rows) == 2
    steps = [row["step"] for row in epoch_rows]
    for tag in ("train_loss", "lr", "val_loss", "val_accuracy", "val_f1_macro", "val_per_class/f1/positive"):
        points = scalar_points(events, tag)
        assert [step for step, _ in points] == steps, tag
        assert all(math.isfinite(value) for _, value in points), tag
    assert [value for _, value in scalar_points(events, "val_accuracy")] == pytest.approx(
        [row["val_accuracy"] for row in epoch_rows])
    images = events.Tags()["images"]
    assert "confusion_matrix/validation" in images and "confusion_matrix/test_best_epoch" in images
    assert [image.step for image in events.Images("confusion_matrix/validation")] == steps
    assert all(image.width > 0 and image.height > 0 for image in events.Images("confusion_matrix/test_best_epoch"))


@pytest.mark.slow
def test_generated_samples_and_heatmaps(tmp_path):
    lm = tmp_path / "lm.pt"
    pretrain.main(pretrain_flags(write_corpus(tmp_path / "corpus.json"), lm))
    board = tmp_path / "tb"
    summary = generate.main(["--load", str(lm), "--text", "the movie", "--gen-length", "8", "--num-samples", "2",
                             "--neuron", "3", "--visualize", "--save", str(tmp_path / "gen.txt"),
                             "--tensorboard", str(board), "--num-workers", "1"])
    events = read_events(board)
    for index, sample in enumerate(summary["samples"], start=1):
        text = events.Tensors(f"sample/{index}/text_summary")[0].tensor_proto.string_val[0].decode()
        assert text == "    " + sample.replace("\n", "\n    ")
    images = events.Images("heatmap/sample_2")
    assert len(images) == 1 and images[0].width > 0 and images[0].height > 0
    rows = tmp_path / "rows.csv"
    rows.write_text("sentence\ngreat fun\nawful plot\n")
    generate.main(["--load", str(lm), "--neuron", "3", "--data", str(rows), "--save", str(tmp_path / "rows.txt"),
                   "--tensorboard", str(tmp_path / "tb_rows"), "--num-workers", "1"])
    assert sorted(read_events(tmp_path / "tb_rows").Tags()["images"]) == ["heatmap/row_0000", "heatmap/row_0001"]


def test_missing_tensorboard_fails_generate_before_loading(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(UserError, match="--tensorboard needs the tensorboard package"):
        generate.main(["--load", str(tmp_path / "missing.pt"), "--tensorboard", str(tmp_path / "tb")])


def test_missing_tensorboard_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    board = tmp_path / "tb"
    flags = pretrain_flags(write_corpus(tmp_path / "corpus.json"), tmp_path / "lm.pt", "--tensorboard", str(board))
    monkeypatch.setattr(pretraining, "load_splits", lambda *a, **k: pytest.fail("read data before the check"))
    with pytest.raises(UserError, match=r"--tensorboard needs the tensorboard package: pip install tensorboard"):
        pretrain.main(flags)
    assert not board.exists()


def test_missing_tensorboard_fails_the_finetuning_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    files = write_tweets_like(tmp_path)
    flags = finetune_flags(files, tmp_path / "clf.pt", "--tensorboard", str(tmp_path / "tb"))
    with pytest.raises(SystemExit) as stop:
        run_cli(finetune_classifier.main, flags)
    assert stop.value.code == 2
    assert "error: --tensorboard needs the tensorboard package" in capsys.readouterr().err
    assert not (tmp_path / "clf.metrics.jsonl").exists()


@pytest.mark.slow
def test_without_the_flag_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pretrain.main(pretrain_flags(write_corpus(tmp_path / "corpus.json"), tmp_path / "lm.pt"))
    assert sorted(path.name for path in tmp_path.iterdir() if path.is_dir()) == []
    assert not any(name.startswith("events.out.tfevents") for _, _, names in os.walk(tmp_path) for name in names)


def test_flat_scalars_tags():
    record = {"loss": 1.5, "ok": True, "name": "x", "none": None, "per_class": {"f1": [0.5, 0.25]},
              "thresholds": [0.3], "nested": {"a": {"b": 2}}}
    assert flat_scalars(record, list_names=["neg", "pos"]) == {
        "loss": 1.5, "per_class/f1/neg": 0.5, "per_class/f1/pos": 0.25, "thresholds/0": 0.3, "nested/a/b": 2.0}

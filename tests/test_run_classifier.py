"""run_classifier.py driven in-process: a classifier from transfer.py reproduces transfer's probabilities,
row i of every output is input row i (empty texts included), lazy chunked reading gives the same
outputs, multi-head classifiers write their std, and a language model is refused."""
import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

import run_classifier
import transfer
from sentiment_discovery.cli import run_cli
from sentiment_discovery.data.preprocess import process_str
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
from sentiment_discovery.models.classifier import build_classifier, classifier_config
from sentiment_discovery.checkpoint import classifier_payload, save_checkpoint
from test_transfer_cli import make_task, transfer_argv


@pytest.fixture(scope="module")
def transferred(tmp_path_factory):
    """A transfer run on the synthetic task: (task files, classifier.pt, transfer's test probabilities)."""
    folder = tmp_path_factory.mktemp("run_classifier")
    task = make_task(folder)
    rows_path = str(folder / "transfer_rows.csv")
    threads = torch.get_num_threads()
    results = transfer.main(transfer_argv(task, "--write-results", rows_path))
    torch.set_num_threads(threads)
    probs = pd.read_csv(rows_path)["P(label=1) with all neurons"].to_numpy()
    return task, os.path.join(results["results_dir"], "classifier.pt"), probs


def classify(load, data, out_dir, *extra):
    save = str(out_dir / "clf.npy")
    summary = run_classifier.main(["--load", load, "--data", data, "--save-probs", save, "--num-workers", "1",
                                   *extra])
    return summary, np.load(str(out_dir / "clf.npy")), np.load(str(out_dir / "clf.npy.prob.npy"))


def test_round_trip_matches_transfer(transferred, tmp_path, capsys):
    task, classifier, transfer_probs = transferred
    summary, preds, probs = classify(classifier, task["test"], tmp_path)
    assert probs.shape == (60, 1) and preds.shape == (60, 1) and preds.dtype == np.int8
    np.testing.assert_allclose(probs[:, 0], transfer_probs, atol=1e-5)
    np.testing.assert_array_equal(preds, (probs > 0.5).astype(np.int8))
    assert not os.path.exists(tmp_path / "clf.npy.std.npy")
    out = capsys.readouterr().out
    assert summary["scores"]["accuracy"] > 0.95 and "accuracy " in out and "texts/s" in out


def test_rows_follow_the_input_with_an_empty_text(transferred, tmp_path, capsys):
    task, classifier, transfer_probs = transferred
    frame = pd.read_csv(task["test"])
    frame.loc[7, "sentence"] = ""
    data = str(tmp_path / "with_empty.csv")
    frame.to_csv(data, index=False)
    results_csv = str(tmp_path / "rows.csv")
    summary, preds, probs = classify(classifier, data, tmp_path, "--write-results", results_csv)
    assert probs.shape == (60, 1) and summary["stats"]["n_empty"] == 0  # process_str makes "" "\n  "
    assert summary["stats"]["n_blank"] == 1
    assert ("1 empty or blank text(s) were classified from the text pipeline's padding alone (process_str reads "
            "an empty text as '\\n  ')") in capsys.readouterr().out
    others = np.arange(60) != 7
    np.testing.assert_allclose(probs[others, 0], transfer_probs[others], atol=1e-5)
    rows = pd.read_csv(results_csv, keep_default_na=False)
    assert list(rows.columns) == ["label pred", "label prob", "sentence"]
    assert rows["sentence"].tolist() == frame["sentence"].fillna("").tolist()
    np.testing.assert_allclose(rows["label prob"], probs[:, 0], atol=1e-6)
    assert rows["label pred"].tolist() == preds[:, 0].tolist()
    raw, _, _ = classify(classifier, data, tmp_path, "--process-fn", "none")
    assert raw["stats"]["n_empty"] == 1 and "1 empty text(s) were classified" in capsys.readouterr().out


def test_lazy_chunks_give_the_same_outputs(transferred, tmp_path):
    task, classifier, transfer_probs = transferred
    frame = pd.read_csv(task["test"])
    data = tmp_path / "test.json"
    data.write_text("".join(json.dumps({"text": t, "label": int(y)}) + "\n"
                            for t, y in zip(frame["sentence"], frame["label"])))
    # batch size 1 -> chunks of 50 records: two chunks for 60 rows
    summary, _, probs = classify(classifier, str(data), tmp_path, "--lazy", "--loose-json", "--text-key", "text",
                                 "--batch-size", "1")
    np.testing.assert_allclose(probs[:, 0], transfer_probs, atol=1e-5)
    assert summary["scores"]["accuracy"] > 0.95


def test_long_texts_are_truncated_and_counted(transferred, tmp_path, capsys):
    task, classifier, _ = transferred
    texts = pd.read_csv(task["test"])["sentence"]
    summary, _, probs = classify(classifier, task["test"], tmp_path, "--max-seq-len", "12")
    n_long = int(sum(len(process_str(t).encode()) > 12 for t in texts))
    assert n_long > 0 and summary["stats"]["n_truncated"] == n_long
    assert f"{n_long} text(s) longer than 12 tokens were truncated" in capsys.readouterr().out
    assert probs.shape == (60, 1)


@pytest.mark.parametrize("flag", ["--bf16", "--fp16"])
def test_lower_precision_stays_close(transferred, tmp_path, flag):
    task, classifier, transfer_probs = transferred
    _, _, probs = classify(classifier, task["test"], tmp_path, flag)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs[:, 0], transfer_probs, atol=2e-2)


def test_file_without_labels_is_classified_not_scored(transferred, tmp_path, capsys):
    task, classifier, transfer_probs = transferred
    data = str(tmp_path / "texts.csv")
    pd.read_csv(task["test"])[["sentence"]].to_csv(data, index=False)
    summary, _, probs = classify(classifier, data, tmp_path)
    np.testing.assert_allclose(probs[:, 0], transfer_probs, atol=1e-5)
    assert "scores" not in summary and "accuracy" not in capsys.readouterr().out


def test_multi_head_classifier_writes_std(transferred, tmp_path):
    """A finetune-style checkpoint: 2 labels, 3 heads each, mean-pooled features."""
    task, _, _ = transferred
    torch.manual_seed(0)
    config = classifier_config({"model": "mLSTM", "vocab_size": 257, "emsize": 8, "nhid": 16, "nlayers": 1},
                               n_outputs=2, heads_per_class=3, concat_mean=True)
    model = build_classifier(config)
    save_checkpoint(tmp_path / "multi.pt", classifier_payload(config, model.state_dict(), CharTokenizer(),
                                                              ["joy", "anger"], [0.4, 0.6], "process_str", "finetune"))
    results_csv = str(tmp_path / "multi.csv")
    _, preds, probs = classify(str(tmp_path / "multi.pt"), task["test"], tmp_path, "--write-results", results_csv)
    std = np.load(tmp_path / "clf.npy.std.npy")
    assert probs.shape == std.shape == preds.shape == (60, 2)
    assert (std > 0).all()
    np.testing.assert_array_equal(preds, (probs > np.array([0.4, 0.6])).astype(np.int8))
    assert list(pd.read_csv(results_csv).columns) == ["joy pred", "joy prob", "anger pred", "anger prob",
                                                      "sentence"]


def test_language_model_is_refused(transferred, tmp_path, capsys):
    task, _, _ = transferred
    with pytest.raises(SystemExit) as exit_info:
        run_cli(run_classifier.main, ["--load", task["lm"], "--data", task["test"],
                                      "--save-probs", str(tmp_path / "x.npy")])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "is a language model checkpoint, but a classifier is expected" in err
    assert not os.path.exists(tmp_path / "x.npy")

"""transfer.py driven in-process on a tiny random-init mLSTM and a synthetic task whose label is the
last character ('!' positive, '.' negative): the final cell state separates the two, so the L1
regression must find it and name a neuron. Also the results directory, --use-cached, and bad input."""
import contextlib
import io
import json
import logging
import os
import random

import numpy as np
import pandas as pd
import pytest
import torch

import transfer
from sentiment_discovery.cli import run_cli
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
from sentiment_discovery.models.language_model import recurrent_config
from sentiment_discovery.models.kinds import build_language_model
from sentiment_discovery.checkpoint import load_checkpoint, save_checkpoint
from sentiment_discovery.drivers import transfer as transfer_run
from sentiment_discovery.inference import run_length_ordered
from sentiment_discovery.transfer.transfer_outputs import write_test_results

WORDS = "the movie was good bad fine great plot acting film story long short dull".split()
HIDDEN = 32


def synthetic_rows(n, seed):
    """(label, sentence) rows: label 1 when the sentence ends in '!', 0 when it ends in '.'."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))
        rows.append((label, words + ("!" if label else ".")))
    return rows


def write_csv(path, rows, with_labels=True):
    frame = pd.DataFrame(rows, columns=["label", "sentence"])
    if not with_labels:
        frame = frame[["sentence"]]
    frame.to_csv(path, index=False)
    return str(path)


def write_tiny_lm(path, seed=0):
    """A random-init char mLSTM (hidden 32) saved as one of our LM checkpoints."""
    torch.manual_seed(seed)
    config = recurrent_config(nhid=HIDDEN, emsize=8)
    model = build_language_model(config)
    save_checkpoint(path, {"kind": "lm", "model_config": config, "model_state": model.state_dict(),
                           "tokenizer": CharTokenizer().to_dict(), "process_fn": "process_str"})
    return str(path)


def make_task(folder):
    """The LM and train/val/test files of the synthetic task in `folder`."""
    return {
        "lm": write_tiny_lm(folder / "lm.pt"),
        "train": write_csv(folder / "train.csv", synthetic_rows(160, 1)),
        "valid": write_csv(folder / "val.csv", synthetic_rows(60, 2)),
        "test": write_csv(folder / "test.csv", synthetic_rows(60, 3)),
    }


def transfer_argv(task, *extra):
    return ["--load", task["lm"], "--data", task["train"], "--valid", task["valid"], "--test", task["test"],
            "--batch-size", "32", "--num-workers", "1", *extra]


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return make_task(tmp_path_factory.mktemp("transfer_task"))


@pytest.fixture(scope="module")
def first_run(task):
    """One full run with --write-results and --drop-neurons, shared by the tests that read its outputs:
    (results, the --write-results path, what it printed)."""
    threads = torch.get_num_threads()
    csv_path = str(task["lm"]).replace("lm.pt", "test_rows.csv")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        results = transfer.main(transfer_argv(task, "--write-results", csv_path, "--drop-neurons"))
    torch.set_num_threads(threads)
    return results, csv_path, printed.getvalue()


def test_results_directory_is_named_after_the_model():
    assert transfer_run.results_directory("models/lang_model.pt") == "models/lang_model_transfer/"
    assert transfer_run.results_directory("lang_model.pt", "sst") == "lang_model_transfer/sst"
    assert transfer_run.results_directory("openai_npy/", "sst") == "openai_npy_transfer/sst"


def test_finds_the_exclamation_neuron(first_run):
    results = first_run[0]
    scores = results["fits"]["all"]["scores"]
    assert scores["test"]["accuracy"] > 0.95
    assert scores["valid"]["accuracy"] > 0.95
    neurons = results["neurons"]
    assert len(neurons["indices"]) == 1 and 0 <= neurons["indices"][0] < HIDDEN
    assert neurons["signs"][0] in (-1.0, 1.0)
    assert results["fits"]["top"]["scores"]["test"]["accuracy"] > 0.9


def test_results_directory_contents(first_run, task):
    results, csv_path, _ = first_run
    folder = results["results_dir"]
    neuron = results["neurons"]["indices"][0]
    for name in ("results.json", "classifier.pt", "trXt.npy", "vaXt.npy", "teXt.npy", "trY.npy", "vaY.npy",
                 "teY.npy", "features.json", "weights.png", f"neuron_{neuron}_hist.png"):
        assert (os.path.exists(os.path.join(folder, name))), name
    assert np.load(f"{folder}/trXt.npy").shape == (160, HIDDEN)
    assert np.load(f"{folder}/teY.npy").shape == (60,)
    with open(f"{folder}/results.json") as handle:
        saved = json.load(handle)
    for fit in ("all", "top", "rest"):
        assert {"train", "valid", "test"} <= set(saved["fits"][fit]["scores"])
        assert saved["fits"][fit]["best_c"] in [2.0 ** e for e in range(-8, 1)]
        assert saved["fits"][fit]["n_nonzero"] >= 1
    ckpt = load_checkpoint(f"{folder}/classifier.pt", expect_kind="classifier")
    assert ckpt["labels"] == ["label"] and ckpt["thresholds"] == [0.5] and ckpt["source"] == "transfer"
    assert ckpt["neurons"]["indices"] == [neuron]
    assert ckpt["classifier_config"]["encoder"]["nhid"] == HIDDEN and ckpt["classifier_config"]["n_outputs"] == 1
    rows = pd.read_csv(csv_path)
    assert list(rows.columns) == ["true label", "P(label=1) with all neurons", "predicted label with all neurons",
                                  "P(label=1) with top neuron", "predicted label with top neuron",
                                  f"neuron {neuron} value", "sentence"]
    assert len(rows) == 60 and rows["sentence"].iloc[0] == pd.read_csv(task["test"])["sentence"].iloc[0]
    assert rows["true label"].dtype == np.int64
    assert rows["true label"].tolist() == np.load(f"{folder}/teY.npy").tolist()
    for which in ("all neurons", "top neuron"):
        predicted = (rows[f"P(label=1) with {which}"] > 0.5).astype(int)
        assert rows[f"predicted label with {which}"].tolist() == predicted.tolist()
    accuracy = (rows["predicted label with all neurons"] == rows["true label"]).mean()
    assert accuracy == pytest.approx(results["fits"]["all"]["scores"]["test"]["accuracy"])
    assert np.allclose(rows[f"neuron {neuron} value"], np.load(f"{folder}/teXt.npy")[:, neuron], atol=1e-6)


def test_printed_report(first_run):
    results, _, out = first_run
    lines = out.splitlines()
    all_scores = results["fits"]["all"]["scores"]
    triple = "/".join(f"{100 * all_scores[s]['accuracy']:.1f}" for s in ("train", "valid", "test"))
    assert f"{triple} train/val/test accuracy w/ all neurons" in lines
    assert (f"regularization coef: {results['fits']['all']['best_c']:g} (C, the inverse L1 regularisation "
            "strength: smaller keeps fewer features; chosen on validation accuracy)") in lines
    assert f"NNZ: {results['fits']['all']['n_nonzero']} (non-zero weights, of {HIDDEN} features)" in lines
    assert f"NNZ: {results['fits']['top']['n_nonzero']} (non-zero weights, of 1 feature)" in lines
    neuron, sign = results["neurons"]["indices"][0], results["neurons"]["signs"][0]
    assert f"neuron(s) {neuron} ({'+' if sign > 0 else '-'}) are top sentiment neurons" in lines
    assert any(line.endswith("train/val/test accuracy w/ 1 neuron(s)") for line in lines)
    assert any(line.endswith("train/val/test accuracy w/ all but the top 1 neuron(s)") for line in lines)


@pytest.mark.slow
def test_use_cached_skips_featurizing(first_run, task, monkeypatch, caplog):
    def no_featurizing(*args, **kwargs):
        raise AssertionError("featurized although the cache was current")

    monkeypatch.setattr(transfer_run, "featurize_texts", no_featurizing)
    with caplog.at_level(logging.INFO):
        results = transfer.main(transfer_argv(task, "--use-cached"))
    assert "featurizing" not in caplog.text
    assert caplog.text.count("using cached features") == 3
    assert results["featurized"] == {"train": "cached", "valid": "cached", "test": "cached"}
    assert results["neurons"] == first_run[0]["neurons"]


@pytest.mark.slow
def test_stale_cache_is_featurized_again(task, tmp_path, caplog):
    other = dict(task, test=write_csv(tmp_path / "test.csv", synthetic_rows(20, 9)))
    argv = transfer_argv(other, "--save-results", "stale")
    transfer.main(argv)
    other["test"] = write_csv(tmp_path / "test.csv", synthetic_rows(25, 9))  # now 25 rows, cache has 20
    with caplog.at_level(logging.INFO):
        results = transfer.main(argv + ["--use-cached"])
    assert "test: cached features" in caplog.text and "(20, 32)" in caplog.text
    assert results["featurized"]["train"] == "cached" and results["featurized"]["test"] != "cached"
    assert results["rows"]["test"] == 25
    other["test"] = write_csv(tmp_path / "test.csv", synthetic_rows(25, 10))  # same shape, other texts
    caplog.clear()
    with caplog.at_level(logging.INFO):
        results = transfer.main(argv + ["--use-cached"])
    assert "not used (the texts changed)" in caplog.text and results["featurized"]["test"] != "cached"


def test_length_ordered_run_restores_input_order():
    token_lists = [np.arange(1, n + 1) for n in (3, 0, 7, 1, 5)]
    seen = []

    def compute(tokens, lengths):  # (B, T), (B,) -> (B, 1): each row's length
        seen.append(lengths.tolist())
        return lengths.view(-1, 1).float()

    out = np.zeros((5, 1), dtype=np.float32)
    stats = run_length_ordered(token_lists, compute, out, 2, "cpu", empty_rows=lambda n: np.full((n, 1), -1.0))
    assert out[:, 0].tolist() == [3, -1, 7, 1, 5]
    assert seen == [[7, 5], [3, 1]] and stats.n_empty == 1 and stats.n_tokens == 16


@pytest.mark.slow
def test_test_file_without_labels_is_predicted_not_scored(task, tmp_path, capsys):
    unlabelled = write_csv(tmp_path / "unlabelled.csv", synthetic_rows(12, 4), with_labels=False)
    csv_path = str(tmp_path / "rows.csv")
    results = transfer.main(transfer_argv(dict(task, test=unlabelled), "--save-results", "nolabels",
                                          "--write-results", csv_path))
    assert results["fits"]["all"]["scores"]["test"] is None
    assert "test split has no labels" in capsys.readouterr().out
    rows = pd.read_csv(csv_path)
    assert len(rows) == 12 and "true label" not in rows.columns and "P(label=1) with all neurons" in rows.columns


def run_expecting_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(transfer.main, argv)
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    return err


def test_missing_label_column_names_the_columns(task, tmp_path, capsys):
    no_labels = write_csv(tmp_path / "train.csv", synthetic_rows(10, 5), with_labels=False)
    err = run_expecting_error(transfer_argv(dict(task, train=no_labels)), capsys)
    assert "label" in err and "'sentence'" in err


def test_too_many_neurons(task, capsys):
    err = run_expecting_error(transfer_argv(task, "--neurons", str(HIDDEN + 1), "--overwrite-output-dir"), capsys)
    assert f"--neurons {HIDDEN + 1}" in err and str(HIDDEN) in err


@pytest.mark.slow
def test_a_second_run_into_a_used_folder_is_refused_unless_asked(first_run, task, capsys):
    folder = first_run[0]["results_dir"]
    before = os.path.getmtime(os.path.join(folder, "results.json"))
    err = run_expecting_error(transfer_argv(task), capsys)
    assert folder.rstrip("/") in err and "--overwrite-output-dir" in err and "--output-dir" in err
    assert os.path.getmtime(os.path.join(folder, "results.json")) == before
    cached = transfer.main(transfer_argv(task, "--use-cached"))             # reuses the folder by design
    assert cached["results_dir"] == first_run[0]["results_dir"]
    replaced = transfer.main(transfer_argv(task, "--overwrite-output-dir"))
    assert replaced["fits"]["all"]["scores"] == cached["fits"]["all"]["scores"]


@pytest.mark.slow
def test_classifier_checkpoint_as_the_language_model(first_run, task, caplog):
    classifier = os.path.join(first_run[0]["results_dir"], "classifier.pt")
    with caplog.at_level(logging.INFO):
        results = transfer.main(transfer_argv(dict(task, lm=classifier), "--neurons", "2"))
    assert "is a classifier checkpoint: its language-model encoder is used" in caplog.text
    assert results["fits"]["all"]["scores"]["test"]["accuracy"] > 0.95
    assert len(results["neurons"]["indices"]) == 2


@pytest.mark.slow
def test_multi_label_fits_one_model_per_label(task, tmp_path):
    files = {}
    for split in ("train", "valid", "test"):
        frame = pd.read_csv(task[split])
        frame["excited"] = frame.pop("label")
        frame["about_film"] = frame["sentence"].str.contains("film").astype(int)
        files[split] = str(tmp_path / f"{split}.csv")
        frame.to_csv(files[split], index=False)
    csv_path = str(tmp_path / "rows.csv")
    results = transfer.main(transfer_argv(dict(task, **files), "--non-binary-cols", "excited", "about_film",
                                          "--neurons", "2", "--save-results", "multilabel",
                                          "--write-results", csv_path))
    assert results["task"] == "multilabel" and results["labels"] == ["excited", "about_film"]
    assert len(results["fits"]["all"]["sweep"]["val_per_label"]) == 2
    ckpt = load_checkpoint(os.path.join(results["results_dir"], "classifier.pt"))
    assert ckpt["classifier_config"]["n_outputs"] == 2 and ckpt["thresholds"] == [0.5, 0.5]
    columns = pd.read_csv(csv_path).columns.tolist()
    assert columns[:6] == ["true excited", "true about_film", "P(excited=1) with all neurons",
                           "P(about_film=1) with all neurons", "predicted excited with all neurons",
                           "predicted about_film with all neurons"]


@pytest.mark.slow
def test_output_dir_says_where_results_go_and_overridden_sizes_are_explained(task, tmp_path, caplog):
    """--output-dir DIR/--save-results NAME -> DIR/NAME; --nhid that the checkpoint overrides is one log line."""
    out = tmp_path / "elsewhere"
    with caplog.at_level(logging.WARNING):
        results = transfer.main(transfer_argv(task, "--output-dir", str(out), "--save-results", "run1",
                                              "--nhid", "999", "--emsize", "8", "--log-interval", "5"))
    assert results["results_dir"] == os.path.join(str(out), "run1")
    assert os.path.exists(out / "run1" / "classifier.pt") and os.path.exists(out / "run1" / "results.json")
    notes = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage() or "compatibility" in r.getMessage()]
    assert any(n.startswith("--nhid 999 ignored:") and "nhid=" in n for n in notes), notes
    assert not any(n.startswith("--emsize") for n in notes), notes    # agrees with the checkpoint: accepted
    assert any(n.startswith("--log-interval accepted for compatibility") for n in notes), notes


def test_multi_class_rows_name_true_and_predicted_classes(tmp_path):
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])  # (N, K): rows sum to 1
    features = np.array([[0.5, -1.0], [0.25, 2.0]])  # (N, F)
    path = write_test_results(str(tmp_path / "rows.csv"), ["meh", "yay"], "tweet", np.array([1, 2]), "multiclass",
                              ["mood"], probs, probs[:, ::-1], 1, features, [1], class_names=["neg", "neu", "pos"])
    rows = pd.read_csv(path)
    assert list(rows.columns) == [
        "true mood", "P(mood=neg) with all neurons", "P(mood=neu) with all neurons", "P(mood=pos) with all neurons",
        "predicted mood with all neurons", "P(mood=neg) with top neuron", "P(mood=neu) with top neuron",
        "P(mood=pos) with top neuron", "predicted mood with top neuron", "neuron 1 value", "tweet"]
    assert rows["true mood"].tolist() == ["neu", "pos"]
    assert rows["predicted mood with all neurons"].tolist() == ["neg", "pos"]
    assert rows["predicted mood with top neuron"].tolist() == ["pos", "neg"]

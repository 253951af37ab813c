"""Tests of generate.py: greedy/seeded sampling, neuron values vs trace(), steering, heatmaps, the
transformer's cache, per-row heatmaps and one-line errors. Tiny models saved with the checkpoint module."""
import json
import math

import matplotlib.pyplot as plt
import pytest
import torch

import generate
from sentiment_discovery.cli import run_cli
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer, SentencePieceTokenizer
from sentiment_discovery.generation.alignment import token_text
from sentiment_discovery.generation.decoding import generate as generate_tokens
from sentiment_discovery.generation.sampling import SamplingOptions
from sentiment_discovery.models.classifier import build_classifier, classifier_config
from sentiment_discovery.models.kinds import build_language_model
from sentiment_discovery.checkpoint import classifier_payload, save_checkpoint
from sentiment_discovery.visualize import heatmap
from test_generate_decoding import (PROMPT, TINY_TRANSFORMER, char_ids, tiny_recurrent,  # shared tiny models
                                    tiny_transformer, trace_values)


def save_lm(path, model):
    save_checkpoint(path, {"kind": "lm", "model_config": model.config, "model_state": model.state_dict(),
                           "tokenizer": CharTokenizer().to_dict(), "process_fn": "process_str"})
    return str(path)


def save_classifier(path, encoder, neuron, sign):
    """A classifier checkpoint as transfer.py writes it (checkpoint.classifier_payload)."""
    config = classifier_config(encoder.config, 1, neurons=[neuron])
    classifier = build_classifier(config, encoder=encoder)
    save_checkpoint(path, classifier_payload(config, classifier.state_dict(), CharTokenizer(), ["positive"], [0.5],
                                             "process_str", "transfer", {"indices": [neuron], "signs": [sign]}))
    return str(path)


def run(tmp_path, load, *flags, name="out.txt"):
    save = str(tmp_path / name)
    return generate.main(["--load", load, "--save", save, *flags]), save


# ---------------------------------------------------------------------------------------------
# sampling


def test_greedy_generation_is_argmax_stepping_of_the_model(tmp_path):
    model = tiny_recurrent()
    ids = char_ids(PROMPT)
    with torch.no_grad():  # by hand: one step at a time, the argmax over real (non-padding) tokens
        logits, state = model(torch.tensor([ids]))
        expected = []
        for _ in range(12):
            token = int(logits[0, -1, 1:].argmax()) + 1
            expected.append(token)
            logits, state = model(torch.tensor([[token]]), state)
    summary, save = run(tmp_path, save_lm(tmp_path / "lm.pt", model), "--text", PROMPT, "--gen-length", "12",
                        "--temperature", "0")
    expected_text = CharTokenizer().decode(ids + expected)
    assert summary["samples"] == [expected_text]
    with open(save, encoding="utf-8") as handle:
        assert handle.read() == expected_text + "\n"
    again, _ = run(tmp_path, save_lm(tmp_path / "lm.pt", model), "--text", PROMPT, "--gen-length", "12",
                   "--temperature", "0", "--seed", "99", name="again.txt")
    assert again["samples"] == summary["samples"]


def test_sampling_repeats_with_a_seed_and_changes_without_it(tmp_path):
    load = save_lm(tmp_path / "lm.pt", tiny_recurrent())
    flags = ["--text", PROMPT, "--gen-length", "15", "--num-samples", "3", "--top-k", "20"]
    first, save = run(tmp_path, load, *flags, "--seed", "5")
    second, _ = run(tmp_path, load, *flags, "--seed", "5", name="b.txt")
    third, _ = run(tmp_path, load, *flags, "--seed", "6", name="c.txt")
    assert first["samples"] == second["samples"]
    assert first["samples"] != third["samples"]
    assert len(set(first["samples"])) == 3 and all(s.startswith(PROMPT) for s in first["samples"])
    with open(save, encoding="utf-8") as handle:
        assert handle.read().count("----- sample ") == 3


def test_an_empty_prompt_starts_from_a_newline_that_is_not_shown(tmp_path):
    model = tiny_recurrent()
    summary, _ = run(tmp_path, save_lm(tmp_path / "lm.pt", model), "--gen-length", "12", "--temperature", "0")
    with torch.no_grad():
        logits, _ = model(torch.tensor([char_ids("\n")]))
    first = CharTokenizer().decode([int(logits[0, -1, 1:].argmax()) + 1])
    assert summary["samples"][0].startswith(first)
    assert len(summary["samples"][0].encode("utf-8", errors="replace")) >= 1


# ---------------------------------------------------------------------------------------------
# neuron values and steering


def test_the_heatmap_shows_the_classifiers_top_neuron_times_its_sign(tmp_path):
    model = tiny_recurrent()
    load = save_classifier(tmp_path / "clf.pt", model, neuron=11, sign=-1.0)
    flags = ["--text", PROMPT, "--gen-length", "10", "--temperature", "0", "--visualize"]
    summary, save = run(tmp_path, load, *flags)
    negated, _ = run(tmp_path, load, *flags, "--negate", name="neg.txt")
    tokens = generate_tokens(model, char_ids(PROMPT), 10, SamplingOptions(temperature=0.0)).tokens[0].tolist()
    raw = trace_values(model, tokens, "c", 0)[:, 11]  # (T,) per token
    text, expected = token_text(CharTokenizer(), tokens, (-raw).tolist())  # per character, × sign -1
    assert summary["heatmaps"][0]["text"] == text == summary["samples"][0]
    assert summary["heatmaps"][0]["values"] == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert negated["heatmaps"][0]["values"] == pytest.approx([-v for v in expected], rel=1e-4, abs=1e-5)


def test_overwrite_changes_the_neurons_values_and_the_sampled_text(tmp_path):
    load = save_lm(tmp_path / "lm.pt", tiny_recurrent())
    flags = ["--text", PROMPT, "--gen-length", "20", "--seed", "1", "--visualize", "--neuron", "4"]
    free, _ = run(tmp_path, load, *flags, name="free.txt")
    pushed, _ = run(tmp_path, load, *flags, "--overwrite", "3.0", name="pushed.txt")
    free_values, pushed_values = free["heatmaps"][0]["values"], pushed["heatmaps"][0]["values"]
    prompt_chars = len(PROMPT)
    assert free_values[:prompt_chars] == pytest.approx(pushed_values[:prompt_chars])  # prompt read unsteered
    assert free["samples"][0][:prompt_chars] == pushed["samples"][0][:prompt_chars] == PROMPT
    assert free["samples"][0] != pushed["samples"][0]
    assert free_values != pytest.approx(pushed_values, abs=1e-3)  # exact per-token checks: test_generate_decoding


def test_a_steered_heatmap_says_its_colours_are_the_values_before_the_overwrite(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(heatmap.plt, "close", figures.append)  # keep the figure to read its texts
    load = save_lm(tmp_path / "lm.pt", tiny_recurrent())
    _, save = run(tmp_path, load, "--text", PROMPT, "--gen-length", "8", "--seed", "1", "--visualize",
                  "--neuron", "4", "--overwrite", "1")
    title = "neuron 4 (layer 0, cell state c), set to 1 after every generated token"
    caption = "neuron value as the model computed it, before being set to 1: green = positive"
    grid, bar = figures[0].axes
    assert grid.texts[0].get_text() == title and caption in bar.get_xlabel().replace("\n", " ")
    with open(save[:-len(".txt")] + "_heatmap.html", encoding="utf-8") as handle:
        page = handle.read()
    assert f"<h3>{title}</h3>" in page and caption in page
    monkeypatch.undo()
    plt.close(figures[0])


def test_zero_generated_tokens_print_the_prompt_alone(tmp_path, capsys):
    load = save_lm(tmp_path / "lm.pt", tiny_recurrent())
    run(tmp_path, load, "--text", PROMPT, "--gen-length", "0")
    captured = capsys.readouterr()
    assert captured.out == PROMPT + "\n" and "\r" not in captured.err  # no progress bar drawn and wiped


# ---------------------------------------------------------------------------------------------
# heatmap files


def png_height_rows(path, titled=True):
    """Character rows a heatmap PNG is tall enough for (inverse of text_heatmap_png's figure size; 60
    characters per row fit the colour bar's caption on one line)."""
    height_in = plt.imread(path).shape[0] / heatmap.DPI
    return round((height_in - 0.2) / heatmap.CELL_HEIGHT_IN - (1.6 if titled else 0.0) - heatmap.scale_band_rows(1))


def test_visualize_writes_png_html_and_json_with_the_expected_rows(tmp_path):
    load = save_lm(tmp_path / "lm.pt", tiny_recurrent())
    prompt = "A long prompt is read in one forward pass, so it makes a tall heatmap cheaply. " * 2
    summary, save = run(tmp_path, load, "--text", prompt, "--gen-length", "20", "--visualize", "--neuron", "0")
    stem = save[:-len(".txt")] + "_heatmap"
    record = summary["heatmaps"][0]
    text = record["text"]
    assert text == summary["samples"][0]
    assert len(record["values"]) == len(text) and max(map(abs, record["values"])) > 0
    expected_rows = len(heatmap.layout_rows(text, record["values"], 60))
    assert expected_rows >= math.ceil(len(text) / 60) >= 3
    assert record["rows"] == expected_rows == png_height_rows(stem + ".png")
    with open(stem + ".html", encoding="utf-8") as handle:
        assert handle.read().count("<span") == len(text)
    with open(stem + ".json", encoding="utf-8") as handle:
        assert json.load(handle)["neuron"]["index"] == 0


def test_data_mode_draws_one_heatmap_per_row(tmp_path, write_file):
    load = save_lm(tmp_path / "lm.pt", tiny_recurrent())
    data = write_file("rows.csv", "label,sentence\n1,great movie\n0,dull and slow\n1,fine\n")
    summary, save = run(tmp_path, load, "--data", data, "--max-rows", "2", "--neuron", "2", name="rows.txt")
    folder = tmp_path / "rows_heatmaps"
    assert sorted(p.name for p in folder.iterdir()) == [
        "neuron_values.json", "row_0000.html", "row_0000.png", "row_0001.html", "row_0001.png"]
    # the rows go through the model's process function (process_str: what this checkpoint records)
    assert [r["text"] for r in summary["heatmaps"]] == ["\n great movie ", "\n dull and slow "]
    model = tiny_recurrent()
    raw = trace_values(model, char_ids("\n dull and slow "), "c", 0)[:, 2]
    torch.testing.assert_close(torch.tensor(summary["heatmaps"][1]["values"]), raw, rtol=1e-4, atol=1e-5)


def test_sentencepiece_transformer_starts_an_empty_prompt_from_bos_and_maps_pieces_to_characters(tmp_path, data_dir):
    tokenizer = SentencePieceTokenizer(str(data_dir / "tokenizers" / "imdb_sst_ama_32k_tokenizer.model"))
    torch.manual_seed(0)
    model = build_language_model({**TINY_TRANSFORMER, "vocab_size": tokenizer.vocab_size}).eval()
    path = tmp_path / "sp.pt"
    save_checkpoint(path, {"kind": "lm", "model_config": model.config, "model_state": model.state_dict(),
                           "tokenizer": tokenizer.to_dict(), "process_fn": "process_str"})
    summary, _ = run(tmp_path, str(path), "--gen-length", "8", "--temperature", "0", "--visualize",
                     "--neuron", "5")
    bos = tokenizer.processor.bos_id() + 1
    result = generate_tokens(model, [bos], 8, SamplingOptions(temperature=0.0))
    generated = result.tokens[0, 1:].tolist()
    assert summary["samples"] == [tokenizer.decode(generated)]
    record = summary["heatmaps"][0]
    assert record["text"] == tokenizer.decode(generated) and len(record["values"]) == len(record["text"])
    per_token = trace_values(model, [bos] + generated, "h", -1)[1:, 5]
    first_piece = tokenizer.decode(generated[:1])
    assert record["values"][:len(first_piece)] == pytest.approx([float(per_token[0])] * len(first_piece), rel=1e-5)
    assert record["values"][-1] == pytest.approx(float(per_token[-1]), rel=1e-5)


# ---------------------------------------------------------------------------------------------
# bad input


def run_cli_error(capsys, argv):
    with pytest.raises(SystemExit) as stopped:
        run_cli(generate.main, argv)
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("error: ")
    assert not any(line.startswith("Traceback") for line in lines)
    return lines[-1]


@pytest.mark.parametrize("flags, words", [
    (["--visualize"], "no --neuron given"),
    (["--visualize", "--neuron", "32"], "--neuron 32 is out of range"),
    (["--visualize", "--neuron", "-1"], "--neuron -1 is out of range"),
    (["--visualize", "--neuron", "1", "--layer", "2"], "--layer 2 is out of range"),
    (["--visualize", "--neuron", "1", "--layer", "-3"], "--layer -3 is out of range"),
    (["--overwrite-prefix", "--neuron", "1"], "--overwrite-prefix needs --overwrite"),
    (["--gen-length", "-1"], "--gen-length must be >= 0"),
    (["--top-p", "0"], "--top-p must be in (0, 1]"),
    (["--num-samples", "0"], "--num-samples must be >= 1"),
])
def test_bad_flags_are_one_line_errors(tmp_path, capsys, flags, words):
    model = tiny_recurrent(nlayers=2)
    load = save_lm(tmp_path / "lm.pt", model)
    message = run_cli_error(capsys, ["--load", load, "--save", str(tmp_path / "o.txt"), "--gen-length", "3", *flags])
    assert words in message


def test_a_transformer_cannot_be_steered(tmp_path, capsys):
    load = save_lm(tmp_path / "tf.pt", tiny_transformer())
    message = run_cli_error(capsys, ["--load", load, "--save", str(tmp_path / "o.txt"), "--neuron", "1",
                                     "--overwrite", "1.0"])
    assert "transformer cannot be steered" in message
    message = run_cli_error(capsys, ["--load", load, "--save", str(tmp_path / "o.txt"), "--gen-length", "100"])
    assert "max_positions 64" in message


def test_a_missing_model_file_is_a_one_line_error(tmp_path, capsys):
    message = run_cli_error(capsys, ["--load", str(tmp_path / "nope.pt"), "--save", str(tmp_path / "o.txt")])
    assert "nope.pt" in message


def test_prompt_is_fed_as_given_unless_process_fn_is_passed(tmp_path):
    load = save_lm(tmp_path / "lm.pt", tiny_recurrent())  # records process_str (for --data)
    as_given, _ = run(tmp_path, load, "--text", "a&amp;b", "--gen-length", "0", name="a.txt")
    assert as_given["samples"] == ["a&amp;b"]
    processed, _ = run(tmp_path, load, "--text", "a&amp;b", "--gen-length", "0", "--process-fn", "process_str",
                       name="b.txt")
    assert processed["samples"] == ["\n a&b "]

"""Tests of checkpoint saving/loading: round trips, atomic writes, plain-data payloads, bad files, RNG state,
and version-1 files (every kind, the legacy files of tests/data included) read through `upgrade` as before."""
import argparse
import math
import os
import random

import numpy as np
import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.models.transformer import TransformerLM
from sentiment_discovery import checkpoint as ckpt
from sentiment_discovery.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from sentiment_discovery.models.classifier import build_classifier, classifier_config

TINY_TRANSFORMER = {"model": "transformer", "vocab_size": 30, "decoder_layers": 1, "decoder_embed_dim": 8,
                    "decoder_ffn_embed_dim": 16, "decoder_attention_heads": 2, "dropout": 0.0,
                    "decoder_learned_pos": True, "max_positions": 16}


def test_model_rebuilt_from_the_checkpoint_alone_gives_the_same_outputs(tmp_path):
    torch.manual_seed(0)
    model = TransformerLM(TINY_TRANSFORMER).eval()
    path = tmp_path / "nested" / "dir" / "lm.pt"  # parent directories are created
    save_checkpoint(path, {"kind": "lm", "model_config": model.config, "model_state": model.state_dict()})
    payload = load_checkpoint(path, expect_kind="lm")
    rebuilt = TransformerLM(payload["model_config"]).eval()
    rebuilt.load_state_dict(payload["model_state"])
    tokens = torch.randint(1, 30, (2, 6))
    with torch.no_grad():
        assert torch.equal(model(tokens)[0], rebuilt(tokens)[0])
    assert payload["format"] == "sentiment-discovery" and payload["format_version"] == 2


PLAIN_VALUES = {
    "nested": {"a": {"b": [1, {"c": [2.5, "x"]}]}},
    "tensor": torch.arange(6, dtype=torch.float32).view(2, 3),
    "half_tensor": torch.ones(3, dtype=torch.float16),
    "int": 7,
    "huge_int": 2 ** 127 + 12345,  # like numpy PCG64's 128-bit state
    "negative_huge_int": -(2 ** 200),
    "pcg64_state": np.random.default_rng(3).bit_generator.state,
    "float": 0.1,
    "string": "héllo",
    "bytes": bytes(range(256)),  # e.g. a sentencepiece model
    "none": None,
    "bools": [True, False],
    "tuple": (1, "two"),
}


@pytest.mark.parametrize("name", sorted(PLAIN_VALUES))
def test_each_kind_of_plain_value_survives_weights_only_loading(tmp_path, name):
    value = PLAIN_VALUES[name]
    save_checkpoint(tmp_path / "c.pt", {"kind": "lm", "value": value})
    loaded = load_checkpoint(tmp_path / "c.pt")["value"]
    if isinstance(value, torch.Tensor):
        assert loaded.dtype == value.dtype and torch.equal(loaded, value)
    else:
        assert loaded == value and type(loaded) is type(value)


def test_generator_state_restores_a_numpy_generator(tmp_path):
    generator = np.random.default_rng(5)
    generator.random(3)
    save_checkpoint(tmp_path / "c.pt", {"kind": "lm", "gen": generator.bit_generator.state})
    expected = generator.random(4)
    restored = np.random.default_rng()
    restored.bit_generator.state = load_checkpoint(tmp_path / "c.pt")["gen"]
    assert np.array_equal(restored.random(4), expected)


@pytest.mark.parametrize("value, type_name", [
    (np.zeros(3), "numpy.ndarray"),
    ({"loss": np.float64(0.5)}, "numpy.float64"),  # a float subclass that weights_only cannot read
    ([np.int64(3)], "numpy.int64"),
    (argparse.Namespace(lr=1.0), "argparse.Namespace"),
])
def test_saving_refuses_values_that_would_not_load_back(tmp_path, value, type_name):
    with pytest.raises(TypeError, match=rf"payload\['bad'\].* is a {type_name}"):
        save_checkpoint(tmp_path / "c.pt", {"kind": "lm", "bad": value})
    assert not os.path.exists(tmp_path / "c.pt")


def test_a_failure_mid_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"kind": "lm", "step": 1})
    old_bytes = path.read_bytes()

    def crash_mid_write(obj, file_handle):
        file_handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", crash_mid_write)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"kind": "lm", "step": 2})
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["c.pt"]  # no temporary file left behind
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(UserError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_files_that_are_not_torch_files(tmp_path):
    (tmp_path / "text.pt").write_text("hello, world\n")
    (tmp_path / "empty.pt").write_bytes(b"")
    for name, message in [("text.pt", "not a readable PyTorch file"), ("empty.pt", "is empty")]:
        with pytest.raises(UserError, match=message) as caught:
            load_checkpoint(tmp_path / name)
        assert "\n" not in str(caught.value)


def test_truncated_and_corrupted_files(tmp_path):
    save_checkpoint(tmp_path / "good.pt", {"kind": "lm", "weights": torch.randn(2000)})
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    pickle_at = data.index(b"data.pkl") + 40  # inside the pickled structure
    corrupted = data[:pickle_at] + bytes(64) + data[pickle_at + 64:]
    (tmp_path / "corrupted.pt").write_bytes(corrupted)
    for name in ("truncated.pt", "corrupted.pt"):
        with pytest.raises(UserError, match="not a readable PyTorch file") as caught:
            load_checkpoint(tmp_path / name)
        assert "\n" not in str(caught.value)


def test_foreign_files_point_to_the_importers(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(2)}}, tmp_path / "plain.pt")
    torch.save({"sd": {"w": torch.ones(2)}, "args": argparse.Namespace(lr=1.0)}, tmp_path / "original.pt")
    with pytest.raises(UserError, match="no format marker.*importers"):
        load_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(UserError, match=r"Python objects \(argparse.Namespace\).*importers"):
        load_checkpoint(tmp_path / "original.pt")


def test_wrong_kind_is_named(tmp_path):
    save_checkpoint(tmp_path / "clf.pt", {"kind": "classifier"})
    with pytest.raises(UserError, match="is a classifier checkpoint, but a language model is expected"):
        load_checkpoint(tmp_path / "clf.pt", expect_kind="lm")
    assert load_checkpoint(tmp_path / "clf.pt", expect_kind=("lm", "classifier"))["kind"] == "classifier"


def test_newer_and_unknown_format_versions_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt, "FORMAT_VERSION", 3)
    save_checkpoint(tmp_path / "future.pt", {"kind": "lm"})
    monkeypatch.undo()
    with pytest.raises(UserError, match="format version 3, newer than this program reads"):
        load_checkpoint(tmp_path / "future.pt")
    torch.save({"format": "sentiment-discovery", "format_version": 0, "kind": "lm"}, tmp_path / "zero.pt")
    with pytest.raises(UserError, match="unknown checkpoint format version 0"):
        load_checkpoint(tmp_path / "zero.pt")


def draw_all():
    return random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(1).item()


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    save_checkpoint(tmp_path / "rng.pt", {"kind": "lm", "rng": rng_state()})
    expected = draw_all()
    draw_all()
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert draw_all() == expected


# ------------------------------------------------ load_language_model on our checkpoints ---------------------
SP_MODEL = os.path.join(os.path.dirname(__file__), "..", "data", "tokenizers", "imdb_sst_ama_32k_tokenizer.model")
TINY_RECURRENT = {"model": "mLSTM", "vocab_size": 257, "emsize": 4, "nhid": 6, "nlayers": 2, "dropout": 0.0,
                  "weight_norm": True, "tied": False}


def lm_payload(model, tokenizer):
    return {"kind": "lm", "model_config": model.config, "model_state": model.state_dict(),
            "tokenizer": tokenizer.to_dict(), "process_fn": "process_str", "step": 12}


def test_load_language_model_rebuilds_a_recurrent_lm_checkpoint(tmp_path):
    from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
    from sentiment_discovery.models.kinds import build_language_model
    from sentiment_discovery.models.loading import load_language_model

    torch.manual_seed(1)
    model = build_language_model(TINY_RECURRENT).eval()
    save_checkpoint(tmp_path / "lm.pt", lm_payload(model, CharTokenizer()))
    loaded, tokenizer, info = load_language_model(tmp_path / "lm.pt")
    assert isinstance(tokenizer, CharTokenizer) and not loaded.training
    assert (info["source"], info["kind"], info["step"]) == ("checkpoint", "lm", 12)
    tokens = torch.tensor([tokenizer.encode("abc de")])
    with torch.no_grad():
        assert torch.allclose(loaded(tokens)[0], model(tokens)[0], atol=1e-6)


@pytest.mark.skipif(not os.path.exists(SP_MODEL), reason="bundled sentencepiece model missing")
def test_load_language_model_rebuilds_a_transformer_with_its_sentencepiece_tokenizer(tmp_path):
    from sentiment_discovery.data.tokenizers.builtin import SentencePieceTokenizer
    from sentiment_discovery.models.loading import load_language_model

    tokenizer = SentencePieceTokenizer(SP_MODEL)
    torch.manual_seed(2)
    model = TransformerLM({**TINY_TRANSFORMER, "vocab_size": tokenizer.vocab_size}).eval()
    save_checkpoint(tmp_path / "tf.pt", lm_payload(model, tokenizer))
    loaded, loaded_tokenizer, info = load_language_model(tmp_path / "tf.pt")
    text = "a quietly moving film"
    assert loaded_tokenizer.encode(text) == tokenizer.encode(text)
    tokens = torch.tensor([tokenizer.encode(text)])
    with torch.no_grad():
        assert torch.equal(loaded(tokens)[0], model(tokens)[0])
    assert info["model_config"]["model"] == "transformer"


def test_load_language_model_takes_the_encoder_of_a_classifier_checkpoint(tmp_path):
    from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
    from sentiment_discovery.models.classifier import build_classifier, classifier_config
    from sentiment_discovery.models.loading import load_language_model

    torch.manual_seed(3)
    classifier = build_classifier(classifier_config(TINY_RECURRENT, n_outputs=2)).eval()
    save_checkpoint(tmp_path / "clf.pt", ckpt.classifier_payload(classifier.config, classifier.state_dict(),
                                                                 CharTokenizer(), ["a", "b"], [0.5, 0.5],
                                                                 "process_str", "finetune"))
    encoder, _, info = load_language_model(tmp_path / "clf.pt")
    assert info["kind"] == "classifier" and encoder.config["nhid"] == 6
    tokens = torch.tensor([CharTokenizer().encode("fine")])
    with torch.no_grad():
        assert torch.equal(encoder(tokens)[0], classifier.encoder(tokens)[0])


def test_load_language_model_names_mismatches(tmp_path):
    from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
    from sentiment_discovery.models.loading import load_language_model

    model = TransformerLM(TINY_TRANSFORMER)  # vocabulary 30, not the character tokenizer's 257
    save_checkpoint(tmp_path / "mismatch.pt", lm_payload(model, CharTokenizer()))
    with pytest.raises(UserError, match="tokenizer has 257 tokens but the model's vocabulary is 30"):
        load_language_model(tmp_path / "mismatch.pt")
    wrong_state = {**lm_payload(model, CharTokenizer()), "model_config": {**model.config, "decoder_embed_dim": 12,
                                                                           "decoder_attention_heads": 3}}
    save_checkpoint(tmp_path / "wrong.pt", wrong_state)
    with pytest.raises(UserError, match="weights do not fit its model config"):
        load_language_model(tmp_path / "wrong.pt")
    save_checkpoint(tmp_path / "other.pt", {"kind": "optimizer-only"})
    with pytest.raises(UserError,
                       match="is a 'optimizer-only' checkpoint, but a language model or classifier is expected"):
        load_language_model(tmp_path / "other.pt")


# ------------------------------------------------ version-1 files through upgrade ---------------------------
LEGACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "legacy_checkpoints")


def legacy(name):
    """(the version-1 file's payload as stored, the same file through load_checkpoint)."""
    path = os.path.join(LEGACY, name)
    raw = torch.load(path, weights_only=True)
    assert raw["format_version"] == 1
    return raw, load_checkpoint(path)


def version_1(**payload):
    return {"format": "sentiment-discovery", "format_version": 1, **payload}


def assert_same_state(a, b):
    assert list(a) == list(b) and all(torch.equal(a[key], b[key]) for key in a)


def test_upgrade_leaves_a_current_payload_and_its_input_as_they_are():
    current = {"format": "sentiment-discovery", "format_version": ckpt.FORMAT_VERSION, "kind": "lm", "x": 1}
    assert ckpt.upgrade(current) == current
    old = version_1(kind="classifier", model_config=dict(TINY_RECURRENT), feature_options={})
    snapshot = dict(old)
    ckpt.upgrade(old)
    assert old == snapshot


def test_a_version_1_language_model_loads_as_before():
    from sentiment_discovery.models.loading import load_language_model
    from test_training_schedules import _optimizer, _step
    from sentiment_discovery.training.schedules import build_schedule

    raw, up = legacy("lm_stopped_4_of_8.pt")
    assert up["format_version"] == 2 and "lr_lambdas" not in raw["schedule"]
    for key in ("kind", "model_config", "tokenizer", "process_fn", "data_state", "precision"):
        assert up[key] == raw[key], key
    assert up["progress"] == {"epoch": None, "step_in_epoch": None, "iteration": 4, "best_value": -math.inf,
                              "best_epoch": 0, "best_keep": {}, "history": [], "running": {}}
    assert not {"iteration", "best_val_loss", "evaluations"} & set(up)
    assert_same_state(up["model_state"], raw["model_state"])
    assert up["optimizer"]["param_groups"] == raw["optimizer"]["param_groups"]
    for index, state in raw["optimizer"]["state"].items():
        assert_same_state(up["optimizer"]["state"][index], state)
    resumed = build_schedule(_optimizer(), num_iters=1)      # AnnealingLR(cosine, 8 iterations) at iteration 4
    resumed.load_state_dict(up["schedule"])
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * min(t, 8) / 8)) for t in range(5, 10)]  # holds at 0
    assert [_step(resumed) for _ in range(5)] == pytest.approx(expected, abs=1e-12)
    model, tokenizer, info = load_language_model(os.path.join(LEGACY, "lm_stopped_4_of_8.pt"))
    assert_same_state(model.state_dict(), raw["model_state"])
    assert info["process_fn"] == "process_str" and tokenizer.to_dict() == raw["tokenizer"]


def test_an_annealing_lr_state_resumes_the_same_curve():
    """The hand-written AnnealingLR saved plain settings; upgrade maps them onto LambdaLR's factors."""
    from test_training_schedules import _lrs_at, _optimizer, _step
    from sentiment_discovery.training.schedules import LRFactor, WarmupDecayLR, build_schedule

    old = {"iteration": 3, "num_iters": 10, "warmup": 2, "decay_style": "linear", "constant_decay": None,
           "stlr_cut_frac": None, "stlr_ratio": 32.0, "exp_final_ratio": 0.01, "min_lr": 0.1, "base_lrs": [1.0]}
    optimizer = _optimizer(lr=7.0)
    resumed = build_schedule(optimizer, num_iters=999, decay_style="cosine")
    resumed.load_state_dict(ckpt.upgrade(version_1(kind="lm", schedule=old))["schedule"])
    assert resumed.last_epoch == 3 and resumed.factor.decay_style == "linear"
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.875)
    assert [_step(resumed) for _ in range(7)] == pytest.approx([0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.1])
    fresh = WarmupDecayLR(_optimizer(), [LRFactor(num_iters=10, warmup=2, decay_style="linear", floor=0.1)])
    _lrs_at(fresh, [3])
    assert [_step(fresh) for _ in range(7)] == pytest.approx([0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.1])
    with pytest.raises(UserError, match="LR scheduler state is missing"):
        ckpt.upgrade(version_1(kind="lm", schedule={"iteration": 3}))


def test_a_version_1_classifier_loads_as_before():
    """Its encoder config and feature options were stored twice; classifier_config keeps them."""
    from sentiment_discovery.drivers.generate import classifier_neurons
    from sentiment_discovery.models.loading import classifier_from_checkpoint, load_language_model
    from sentiment_discovery.classification import load_classifier

    path = os.path.join(LEGACY, "clf_best_stopped_13_of_20.pt")
    raw, up = legacy("clf_best_stopped_13_of_20.pt")
    assert set(raw) - set(up) == {"model_config", "feature_options"} and set(up) - set(raw) == set()
    assert up["classifier_config"] == raw["classifier_config"]
    assert raw["model_config"] == up["classifier_config"]["encoder"]
    assert raw["feature_options"] == up["classifier_config"]["features"]
    before = build_classifier(raw["classifier_config"]).eval()
    before.load_state_dict(raw["model_state"])
    model, tokenizer, process_fn = classifier_from_checkpoint(up, path)
    tokens = torch.tensor([tokenizer.encode("\n quite good ! ")])
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(tokens, torch.tensor([tokens.shape[1]])),
                                   before(tokens, torch.tensor([tokens.shape[1]])), rtol=0, atol=0)
    assert process_fn == raw["process_fn"]
    encoder, _, info = load_language_model(path)
    assert info["kind"] == "classifier" and encoder.config == raw["model_config"]
    assert_same_state(encoder.state_dict(), {k[len("encoder."):]: v for k, v in raw["model_state"].items()
                                             if k.startswith("encoder.")})
    loaded = load_classifier(path)
    assert (loaded.labels, loaded.class_names, loaded.source) == (raw["labels"], None, "finetune")
    assert classifier_neurons(path) == (None, raw["feature_options"])


def test_version_1_fp16_states_become_plain_optimizer_and_grad_scaler_states():
    """--fp16 of version 1: FP16Optimizer (the inner state + fp32 master params) and a dynamic or static
    loss scaler; today: a plain optimizer over the fp32 weights (= the masters) and GradScaler."""
    from sentiment_discovery.models.kinds import build_language_model
    from sentiment_discovery.training.precision import Precision

    raw, up = legacy("lm_fp16_dynamic_stopped_18_of_24.pt")
    masters = raw["optimizer"]["master_params"][0]
    model = build_language_model(up["model_config"])
    names = [name for name, _ in model.named_parameters()]
    assert len(names) == len(masters)
    assert all(torch.equal(up["model_state"][name], master) for name, master in zip(names, masters))
    assert up["optimizer"]["param_groups"] == raw["optimizer"]["optimizer"]["param_groups"]
    optimizer = torch.optim.Adam(model.parameters())
    optimizer.load_state_dict(up["optimizer"])
    assert optimizer.state[next(model.parameters())]["step"] == 4            # 4 steps taken, 14 skipped
    assert up["precision"] == {"mode": "fp16", "skipped_steps": 14, "scaler": {
        "scale": 2.0 ** 18, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 1000,
        "_growth_tracker": 4}}
    precision = Precision("fp16", dynamic_loss_scale=True)
    precision.load_state_dict(up["precision"])
    assert (precision.loss_scale, precision.skipped_steps) == (2.0 ** 18, 14)
    assert precision.scaler.state_dict() == up["precision"]["scaler"]

    raw, up = legacy("clf_fp16_last_stopped_13_of_20.pt")                 # --loss-scale 128 (static)
    assert raw["precision"]["scaler"] == {"loss_scale": 128.0, "skipped_steps": 0}
    assert up["precision"] == {"mode": "fp16", "scaler": None, "skipped_steps": 0}
    assert "master_params" not in up["optimizer"] and "lr_lambdas" in up["schedule"]
    assert up["progress"]["best_keep"] == {"thresholds": raw["progress"]["best_thresholds"]}
    assert "best_thresholds" not in up["progress"] and "best_thresholds" in raw["progress"]


def test_version_1_records_added_later_get_their_defaults():
    lm = ckpt.upgrade(version_1(kind="lm", model_config=dict(TINY_RECURRENT), model_state={}))
    assert lm["process_fn"] == "process_str" and lm["tokenizer"] == {"kind": "char", "vocab_size": 257}
    hf = {"model": "hf", "hf_config": {}, "pooling": "cls", "hidden_size": 8, "max_positions": 16}
    clf = ckpt.upgrade(version_1(kind="classifier", model_config=hf, feature_options={},
                                 classifier_config=classifier_config(hf, n_outputs=1), tokenizer={"kind": "hf"}))
    assert clf["process_fn"] == "none" and clf["class_names"] is None and "model_config" not in clf
    assert clf["tokenizer"] == {"kind": "hf"}
    first = classifier_config(TINY_RECURRENT, n_outputs=2)     # the first layout: under "model_config" only
    assert ckpt.upgrade(version_1(kind="classifier", model_config=first))["classifier_config"] == first
    kept = ckpt.upgrade(version_1(kind="lm", model_config=dict(TINY_RECURRENT), process_fn="process_tweet"))
    assert kept["process_fn"] == "process_tweet"

"""Tests of checkpoint saving/loading: round trips, atomic writes, plain-data payloads, bad files, RNG state."""
import argparse
import os
import random

import numpy as np
import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.models.transformer import TransformerLM
from sentiment_discovery import checkpoint as ckpt
from sentiment_discovery.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state

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
    assert payload["format"] == "sentiment-discovery" and payload["format_version"] == 1


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


def test_newer_format_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt, "FORMAT_VERSION", 2)
    save_checkpoint(tmp_path / "future.pt", {"kind": "lm"})
    monkeypatch.undo()
    with pytest.raises(UserError, match="format version 2, newer than this program reads"):
        load_checkpoint(tmp_path / "future.pt")


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
            "tokenizer": tokenizer.to_dict(), "step": 12}


def test_load_language_model_rebuilds_a_recurrent_lm_checkpoint(tmp_path):
    from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
    from sentiment_discovery.models.language_model import build_language_model
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
    save_checkpoint(tmp_path / "clf.pt", {"kind": "classifier", "model_config": classifier.config,
                                          "model_state": classifier.state_dict(),
                                          "tokenizer": CharTokenizer().to_dict()})
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
    with pytest.raises(UserError, match="is a 'optimizer-only' checkpoint, but a language model or classifier is expected"):
        load_language_model(tmp_path / "other.pt")

"""Character and sentencepiece tokenizers: id layout, round trips, training, storage, bad input."""
import io
import os

import numpy as np
import pytest
import torch

from sentiment_discovery.data.tokenizers.builtin import (
    CharTokenizer,
    SentencePieceTokenizer,
    make_tokenizer,
    tokenizer_from_dict,
)
from sentiment_discovery.errors import UserError

TRAIN_TEXTS = [f"the movie was {w} and the acting was {v}" for w in ("good", "bad", "dull", "fun")
               for v in ("great", "poor", "fine", "odd")] * 5


def test_char_tokenizer_ids_are_bytes_plus_one():
    tok = CharTokenizer()
    assert (tok.kind, tok.vocab_size, tok.pad_id) == ("char", 257, 0)
    assert tok.encode("a\u00e9") == [98, 0xC3 + 1, 0xA9 + 1]
    assert tok.encode_array("ab").dtype == np.int64 and tok.encode_array("").size == 0
    assert tok.decode([0, 98, 99, 0]) == "ab"
    assert tok.decode(torch.tensor([[98], [0xC3 + 1]])) == "a\ufffd"  # truncated UTF-8 -> U+FFFD
    with pytest.raises(ValueError, match="0..256"):
        tok.decode([300])


def test_bundled_32k_sentencepiece_model_loads(data_dir):
    tok = SentencePieceTokenizer(str(data_dir / "tokenizers" / "imdb_sst_ama_32k_tokenizer.model"))
    assert tok.vocab_size == 32001 and tok.pad_id == 0
    ids = tok.encode("This movie was great.")
    assert min(ids) >= 1 and tok.decode([0] + ids + [0]) == "This movie was great."
    assert tok.encode_array("This movie was great.").tolist() == ids


@pytest.mark.parametrize("model_type,vocab_size", [("bpe", 40), ("unigram", 25), ("char", 25), ("word", 15)])
def test_train_save_and_reload(tmp_path, model_type, vocab_size):
    path = str(tmp_path / "sub" / "tok.model")
    tok = make_tokenizer("SentencePieceTokenizer", tokenizer_path=path, model_type=model_type,
                         vocab_size=vocab_size, texts=iter(TRAIN_TEXTS))
    assert os.path.isfile(path) and tok.vocab_size == tok.processor.get_piece_size() + 1
    if model_type != "char":  # a char model has as many pieces as the text has characters
        assert tok.vocab_size == vocab_size + 1
    assert tok.decode(tok.encode("the movie was fun")) == "the movie was fun"
    again = make_tokenizer("SentencePieceTokenizer", tokenizer_path=path)  # loads, no texts needed
    assert again.encode("the acting was odd") == tok.encode("the acting was odd")


def test_to_dict_is_self_contained_and_checkpoint_safe(tmp_path):
    tok = SentencePieceTokenizer(str(tmp_path / "t.model"), texts=TRAIN_TEXTS, vocab_size=40)
    os.remove(tmp_path / "t.model")
    buffer = io.BytesIO()
    torch.save({"tokenizer": tok.to_dict()}, buffer)
    buffer.seek(0)
    restored = tokenizer_from_dict(torch.load(buffer, weights_only=True)["tokenizer"])
    assert restored.encode("the movie was good") == tok.encode("the movie was good")
    assert isinstance(tokenizer_from_dict(CharTokenizer().to_dict()), CharTokenizer)


def test_make_tokenizer_names():
    assert isinstance(make_tokenizer(), CharTokenizer)
    with pytest.raises(UserError, match="unknown tokenizer type 'BPE'; choose one of: CharacterLevelTokenizer"):
        make_tokenizer("BPE")


def test_bad_tokenizer_inputs(tmp_path, data_dir):
    vocab = str(data_dir / "tokenizers" / "imdb_sst_ama_32k_tokenizer.vocab")
    with pytest.raises(UserError, match="imdb_sst_ama_32k_tokenizer.vocab is not a sentencepiece model"):
        SentencePieceTokenizer(vocab)
    with pytest.raises(UserError, match="does not exist and no texts were given"):
        make_tokenizer("SentencePieceTokenizer", tokenizer_path=str(tmp_path / "missing.model"))
    with pytest.raises(UserError, match="is a folder"):
        SentencePieceTokenizer(str(tmp_path))
    with pytest.raises(UserError, match="unknown sentencepiece model type 'wordpiece'"):
        SentencePieceTokenizer(str(tmp_path / "x.model"), texts=TRAIN_TEXTS, model_type="wordpiece")
    with pytest.raises(UserError, match="Vocabulary size too high"):
        SentencePieceTokenizer(str(tmp_path / "y.model"), texts=TRAIN_TEXTS[:2], vocab_size=5000)
    with pytest.raises(UserError, match="not a stored tokenizer"):
        tokenizer_from_dict({"kind": "wordpiece"})
    with pytest.raises(UserError, match="is not a sentencepiece model"):
        tokenizer_from_dict({"kind": "sentencepiece", "model_bytes": b"junk"})

"""Tokenizers: UTF-8 bytes (the char-level mLSTM's) and sentencepiece (the Transformer's).

Both reserve id 0 for padding and shift real tokens up by one:
- `CharTokenizer`: id = byte + 1, vocabulary 257 (the layout of the original's later checkpoints);
- `SentencePieceTokenizer`: id = sentencepiece id + 1, vocabulary = pieces + 1. It loads a model
  file, or trains one (`SentencePieceTrainer`, Kudo & Richardson 2018) from an iterator of texts and
  saves it. `to_dict()` keeps the model itself as bytes so a checkpoint is self-contained.

`make_tokenizer` maps the original's `--tokenizer-type` names ("CharacterLevelTokenizer",
"SentencePieceTokenizer") to these classes.
"""
import io
import os

import numpy as np
import sentencepiece as spm

from ...atomic import atomic_open
from ...errors import UserError

PAD_ID = 0
SENTENCEPIECE_MODEL_TYPES = ("bpe", "unigram", "char", "word")


class Tokenizer:
    """What every tokenizer shares: id 0 is padding, `encode` is `encode_array`'s ids as a list."""

    pad_id = PAD_ID

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def real_ids(self, ids) -> np.ndarray:
        """Shifted ids (any shape; real ids 1..vocab_size-1) as int64 (n,) without padding; ValueError for an id
        outside the vocabulary."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        ids = ids[ids != PAD_ID]
        if ids.size and (ids.min() < 1 or ids.max() >= self.vocab_size):
            raise ValueError(f"token ids must be 0..{self.vocab_size - 1}, got {ids.min()}..{ids.max()}")
        return ids


class CharTokenizer(Tokenizer):
    """UTF-8 bytes: id = byte + 1; 0 is padding."""

    kind = "char"
    vocab_size = 257

    def encode_array(self, text: str) -> np.ndarray:
        """Token ids of a text, int64 (n_bytes,)."""
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64) + 1

    def decode(self, ids) -> str:
        """Text of ids; padding is skipped and invalid UTF-8 becomes U+FFFD."""
        return (self.real_ids(ids) - 1).astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "vocab_size": self.vocab_size}


def _load_processor(model_bytes: bytes, source: str):
    """A SentencePieceProcessor from a serialized model; UserError if it is not one."""
    processor = spm.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(model_bytes)
    except (RuntimeError, OSError, TypeError) as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{source} is not a sentencepiece model ({detail})") from None
    if processor.get_piece_size() <= 0:
        raise UserError(f"{source} is not a sentencepiece model (no pieces)")
    return processor


def train_sentencepiece(texts, vocab_size=32000, model_type="bpe", character_coverage=1.0) -> bytes:
    """Train a sentencepiece model on an iterable of texts; returns the serialized model."""
    if model_type not in SENTENCEPIECE_MODEL_TYPES:
        raise UserError(f"unknown sentencepiece model type {model_type!r}; "
                        f"choose one of: {', '.join(SENTENCEPIECE_MODEL_TYPES)}")
    model = io.BytesIO()
    sentences = (text for text in texts if text and text.strip())
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=sentences, model_writer=model, vocab_size=vocab_size,
            model_type=model_type, character_coverage=character_coverage, minloglevel=2)
    except RuntimeError as err:
        detail = str(err).strip().splitlines()[-1] if str(err).strip() else "unknown error"
        raise UserError(f"training a sentencepiece model (vocab {vocab_size}, {model_type}) failed: {detail}") from None
    return model.getvalue()


class SentencePieceTokenizer(Tokenizer):
    """sentencepiece pieces: id = sentencepiece id + 1; 0 is padding."""

    kind = "sentencepiece"

    def __init__(self, tokenizer_path=None, model_bytes=None, texts=None, model_type="bpe",
                 vocab_size=32000):
        """Use `model_bytes`, else load `tokenizer_path` if it exists, else train on `texts`
        and save the model to `tokenizer_path`."""
        if model_bytes is None:
            model_bytes = self._load_or_train(tokenizer_path, texts, model_type, vocab_size)
        self.model_bytes = bytes(model_bytes)
        self.processor = _load_processor(self.model_bytes, tokenizer_path or "the stored tokenizer")
        self.vocab_size = self.processor.get_piece_size() + 1

    @staticmethod
    def _load_or_train(tokenizer_path, texts, model_type, vocab_size):
        if tokenizer_path and os.path.isdir(tokenizer_path):
            raise UserError(f"tokenizer path {tokenizer_path} is a folder, not a sentencepiece model file")
        if tokenizer_path and os.path.isfile(tokenizer_path):
            with open(tokenizer_path, "rb") as handle:
                return handle.read()
        if texts is None:
            where = tokenizer_path or "(no --tokenizer-path given)"
            raise UserError(f"sentencepiece model {where} does not exist and no texts were given to train one")
        model_bytes = train_sentencepiece(texts, vocab_size=vocab_size, model_type=model_type)
        if tokenizer_path:
            with atomic_open(tokenizer_path, "wb") as handle:
                handle.write(model_bytes)
        return model_bytes

    def encode_array(self, text: str) -> np.ndarray:
        """Token ids of a text, int64 (n_pieces,)."""
        return np.asarray(self.processor.encode(text), dtype=np.int64) + 1

    def decode(self, ids) -> str:
        """Text of ids; padding is skipped."""
        return self.processor.decode((self.real_ids(ids) - 1).tolist())

    def to_dict(self) -> dict:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "model_bytes": self.model_bytes}


def tokenizer_from_dict(d: dict):
    """Rebuild a tokenizer from `to_dict()` output (e.g. from a checkpoint)."""
    kind = d.get("kind") if isinstance(d, dict) else None
    if kind == "char":
        return CharTokenizer()
    from .hf import KIND as HF_KIND, HFTokenizer  # transformers itself is imported only when used

    if kind == HF_KIND:
        return HFTokenizer.from_dict(d)
    if kind == "sentencepiece" and isinstance(d.get("model_bytes"), (bytes, bytearray)):
        tokenizer = SentencePieceTokenizer(model_bytes=d["model_bytes"])
        if d.get("vocab_size", tokenizer.vocab_size) != tokenizer.vocab_size:
            raise UserError(f"stored tokenizer says vocab {d['vocab_size']} but its model has "
                            f"{tokenizer.vocab_size}")
        return tokenizer
    raise UserError(f"not a stored tokenizer (kind {kind!r}); expected 'char', 'sentencepiece' "
                    "with its model bytes, or 'hf' with its files")


TOKENIZER_TYPES = {
    "CharacterLevelTokenizer": "char",
    "SentencePieceTokenizer": "sentencepiece",
}


def make_tokenizer(tokenizer_type="CharacterLevelTokenizer", tokenizer_path=None, model_type="bpe",
                   vocab_size=32000, texts=None):
    """A tokenizer for the original's `--tokenizer-type` names (sentencepiece: load or train)."""
    kind = TOKENIZER_TYPES.get(tokenizer_type)
    if kind is None:
        raise UserError(f"unknown tokenizer type {tokenizer_type!r}; choose one of: {', '.join(TOKENIZER_TYPES)}")
    if kind == "char":
        return CharTokenizer()
    return SentencePieceTokenizer(tokenizer_path, texts=texts, model_type=model_type,
                                  vocab_size=vocab_size)

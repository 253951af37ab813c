"""The tokenizer of a pretrained HuggingFace encoder (`--model hf`), behind the project's tokenizer
interface (`encode_array`, `encode`, `decode`, `vocab_size`, `to_dict`).

Ids are the encoder's own ([CLS] text [SEP] for BERT), not shifted: the encoder takes its attention mask
from the text lengths, so padding never needs a reserved id. `truncate(ids, n)` keeps the closing special
token, so a cut text still ends the way the encoder was trained to see. `to_dict()` stores the tokenizer's
files as text, so a classifier checkpoint needs nothing on disk to tokenize again."""
import os
import tempfile

import numpy as np

from ...errors import UserError
from .builtin import Tokenizer

KIND = "hf"


class HFTokenizer(Tokenizer):
    """A transformers tokenizer; `max_length` is the encoder's longest input (kept with it in checkpoints)."""

    kind = KIND

    def __init__(self, tokenizer, max_length):
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.vocab_size = len(tokenizer)

    @classmethod
    def from_folder(cls, folder, max_length):
        from ...models.hf_encoder import import_transformers

        transformers = import_transformers()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as err:
            raise UserError(f"cannot load the tokenizer of {folder} ({str(err).strip().splitlines()[0]})") from None
        return cls(tokenizer, max_length)

    def encode_array(self, text: str) -> np.ndarray:
        """Ids with the encoder's special tokens, int64 (n,), uncut: callers cut with `truncate` to the
        encoder's `max_length` (and count what they cut, see transfer/featurize.encode_texts)."""
        ids = self.tokenizer(text, truncation=False, add_special_tokens=True, verbose=False)["input_ids"]
        return np.asarray(ids, dtype=np.int64)

    def truncate(self, ids, n):
        """The first n ids of a longer text, its last (closing special) id kept at the end."""
        if ids.size <= n:
            return ids
        return np.concatenate([ids[: n - 1], ids[-1:]]) if n > 1 else ids[:n]

    def decode(self, ids) -> str:
        return self.tokenizer.decode(list(np.asarray(ids).ravel()), skip_special_tokens=True)

    def to_dict(self) -> dict:
        with tempfile.TemporaryDirectory() as folder:
            self.tokenizer.save_pretrained(folder)
            files = {}
            for name in sorted(os.listdir(folder)):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    files[name] = handle.read()
        return {"kind": KIND, "files": files, "max_length": self.max_length, "vocab_size": self.vocab_size}

    @classmethod
    def from_dict(cls, stored: dict):
        files = stored.get("files")
        if not isinstance(files, dict) or not files:
            raise UserError("stored hf tokenizer has no files")
        with tempfile.TemporaryDirectory() as folder:
            for name, text in files.items():
                if os.path.basename(name) != name:
                    raise UserError(f"stored hf tokenizer has a file name with a path in it: {name!r}")
                with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
                    handle.write(text)
            tokenizer = cls.from_folder(folder, stored.get("max_length", 512))
        if stored.get("vocab_size", tokenizer.vocab_size) != tokenizer.vocab_size:
            raise UserError(f"stored hf tokenizer says vocab {stored['vocab_size']} but has {tokenizer.vocab_size}")
        return tokenizer

"""Tokenizers: text -> ids and back (bytes and sentencepiece in `builtin.py`, a HuggingFace encoder's in `hf.py`)."""

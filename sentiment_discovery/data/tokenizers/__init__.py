"""Tokenizers: text -> ids and back, behind one interface (`encode_array`, `encode`, `decode`,
`vocab_size`, `to_dict`).

- `builtin.py`  UTF-8 bytes (the char-level mLSTM's) and sentencepiece (the Transformer's), and
                `make_tokenizer` / `tokenizer_from_dict`, which build any tokenizer, including
- `hf.py`       the tokenizer of a pretrained HuggingFace encoder (`--model hf`).
"""

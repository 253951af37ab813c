"""Turning per-token neuron values into per-character values for a heatmap.

A character model's tokens are UTF-8 bytes: a multi-byte character gets the value after its last byte,
and invalid bytes decode to U+FFFD (errors="replace", through an incremental decoder, so the text is
exactly `bytes.decode("utf-8", errors="replace")`). A sentencepiece token's characters are the text it
adds to the decoded prefix; each of them gets the value after that token (a token that adds no text,
e.g. padding, shows nothing).
"""
import codecs

import numpy as np

from ..data.tokenizers.builtin import PAD_ID


def char_token_text(ids, values):
    """Byte ids (id = byte + 1) and one value per id -> (text, one value per character)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pieces, char_values = [], []
    for token, value in zip(ids, values):
        if token == PAD_ID:
            continue
        piece = decoder.decode(bytes([int(token) - 1]))
        pieces.append(piece)
        char_values += [float(value)] * len(piece)
    tail = decoder.decode(b"", final=True)  # an unfinished character at the end
    if tail:
        pieces.append(tail)
        char_values += [float(values[-1])] * len(tail)
    return "".join(pieces), char_values


def piece_token_text(tokenizer, ids, values):
    """Sentencepiece ids and one value per id -> (text, one value per character)."""
    shown, char_values = "", []
    for end in range(1, len(ids) + 1):
        decoded = tokenizer.decode(ids[:end])
        # normally the prefix grows by this token's text; if decoding rewrote the prefix, show the piece alone
        piece = decoded[len(shown):] if decoded.startswith(shown) else tokenizer.decode(ids[end - 1:end])
        shown += piece
        char_values += [float(values[end - 1])] * len(piece)
    return shown, char_values


def token_text(tokenizer, ids, values):
    """(text, per-character values) of token `ids` (a sequence of ints) with one value per token."""
    ids = [int(i) for i in ids]
    values = np.asarray(values, dtype=np.float64).ravel()
    if len(values) != len(ids):
        raise ValueError(f"{len(ids)} tokens but {len(values)} values")
    if tokenizer.kind == "char":
        return char_token_text(ids, values)
    return piece_token_text(tokenizer, ids, values)

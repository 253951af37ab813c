"""Importer for OpenAI's released byte-level mLSTM (Radford, Jozefowicz & Sutskever 2017, "Learning to
Generate Reviews and Discovering Sentiment", arXiv 1704.01444).

The release is a directory of numpy files. Twelve-file layout, sizes read from the files:
    0 embedding (256, E)   1 wx (E, 4H)   2 wh (H, 4H)   3 wmx (E, H)   4 wmh (H, H)   5 b (4H,)
    6 gx (4H,)   7 gh (4H,)   8 gmx (H,)   9 gmh (H,)   10 output w (H, 256)   11 output b (256,)
The released fifteen-file variant splits wh into four (H, H) files (2..5) that concatenate along the
output axis; the rest shift by three (6 wmx ... 14 output b).

OpenAI's equations (weights input-major, weight norm along the input axis: w = g * v / ||v||_axis0):
    m = (x wmx) * (h wmh);   z = x wx + m wh + b;   i, f, o, u = split(z)   (gate order i, f, o, u)
    c' = sigmoid(f) c + sigmoid(i) tanh(u);   h' = sigmoid(o) tanh(c');   logits = h' w + b_out
Our mLSTM has gates (i, f, g, o) with g = u, weights (out, in), and two biases: b goes to b_ih and
b_hh is zero. Bytes 0..255 become tokens 1..256 (pad 0).
"""
import os

import numpy as np

from ..errors import UserError
from .recurrent_import import build_recurrent_lm, fill_recurrent_lm, pad_byte_decoder, pad_byte_embedding

JOINED_NAMES = ["embedding", "wx", "wh", "wmx", "wmh", "b", "gx", "gh", "gmx", "gmh", "out_w", "out_b"]
SPLIT_NAMES = ["embedding", "wx", "wh0", "wh1", "wh2", "wh3", "wmx", "wmh", "b", "gx", "gh", "gmx", "gmh",
               "out_w", "out_b"]


def numbered_npy_count(directory):
    """How many of 0.npy, 1.npy, ... exist in a row."""
    count = 0
    while os.path.isfile(os.path.join(directory, f"{count}.npy")):
        count += 1
    return count


def is_openai_directory(path):
    """True when `path` is a directory holding 0.npy (the start of an OpenAI release)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "0.npy"))


def load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        reason = str(err).splitlines()[0] if str(err) else "unreadable"
        raise UserError(f"{path} is not a readable numpy .npy file ({reason})") from None


def read_openai_arrays(directory):
    """The named arrays of an OpenAI release (wh joined when it came split), float32."""
    if not os.path.isdir(directory):
        raise UserError(f"OpenAI model directory {directory} does not exist")
    count = numbered_npy_count(directory)
    if count not in (len(JOINED_NAMES), len(SPLIT_NAMES)):
        raise UserError(f"{directory} holds {count} numbered .npy files (0.npy ...); an OpenAI mLSTM release has "
                        f"{len(JOINED_NAMES)} or {len(SPLIT_NAMES)}")
    names = JOINED_NAMES if count == len(JOINED_NAMES) else SPLIT_NAMES
    arrays = {name: load_npy(os.path.join(directory, f"{index}.npy")).astype(np.float32)
              for index, name in enumerate(names)}
    if count == len(SPLIT_NAMES):
        parts = [arrays.pop(f"wh{index}") for index in range(4)]
        if any(part.ndim != 2 for part in parts):
            raise UserError(f"{directory}: files 2.npy-5.npy must be 2-D parts of wh")
        arrays["wh"] = np.concatenate(parts, axis=1)  # (H, 4H)
    check_openai_shapes(arrays, directory)
    return arrays


def check_openai_shapes(arrays, directory):
    """Every array must agree with the sizes read from the embedding and wmh."""
    if arrays["embedding"].ndim != 2 or arrays["wmh"].ndim != 2:
        raise UserError(f"{directory}: the embedding and wmh must be matrices")
    emsize, hidden = arrays["embedding"].shape[1], arrays["wmh"].shape[0]
    expected = {"embedding": (256, emsize), "wx": (emsize, 4 * hidden), "wh": (hidden, 4 * hidden),
                "wmx": (emsize, hidden), "wmh": (hidden, hidden), "b": (4 * hidden,), "gx": (4 * hidden,),
                "gh": (4 * hidden,), "gmx": (hidden,), "gmh": (hidden,), "out_w": (hidden, 256), "out_b": (256,)}
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise UserError(f"{directory}: {name} has shape {arrays[name].shape}, expected {shape} "
                            f"(embedding size {emsize}, hidden size {hidden})")


def weight_normed(v, g):
    """OpenAI's weight norm: v l2-normalised along the input axis (0), times g per output column."""
    norm = np.sqrt(np.sum(np.square(v.astype(np.float64)), axis=0, keepdims=True))
    return (v / np.maximum(norm, 1e-12) * g[None, :]).astype(np.float32)


def ifou_to_ifgo(array, axis):
    """Reorder four gate blocks along `axis` from OpenAI's (i, f, o, u) to our (i, f, g, o)."""
    i, f, o, u = np.split(array, 4, axis=axis)
    return np.concatenate([i, f, u, o], axis=axis)


def import_openai(directory):
    """Build our mLSTM LM from an OpenAI release directory. Returns (model, info)."""
    arrays = read_openai_arrays(directory)
    emsize, hidden = arrays["embedding"].shape[1], arrays["wmh"].shape[0]
    wx = weight_normed(arrays["wx"], arrays["gx"])  # (E, 4H)
    wh = weight_normed(arrays["wh"], arrays["gh"])  # (H, 4H)
    wmx = weight_normed(arrays["wmx"], arrays["gmx"])  # (E, H)
    wmh = weight_normed(arrays["wmh"], arrays["gmh"])  # (H, H)
    layer = {
        "w_ih": ifou_to_ifgo(wx, axis=1).T, "b_ih": ifou_to_ifgo(arrays["b"], axis=0),
        "w_hh": ifou_to_ifgo(wh, axis=1).T, "b_hh": np.zeros(4 * hidden, np.float32),
        "w_mih": wmx.T, "w_mhh": wmh.T,
    }
    decoder_weight, decoder_bias = pad_byte_decoder(arrays["out_w"].T, arrays["out_b"])
    model = build_recurrent_lm("mLSTM", emsize, hidden, 1, weight_norm=True)
    fill_recurrent_lm(model, pad_byte_embedding(arrays["embedding"]), [layer], decoder_weight, decoder_bias)
    info = {"source": "openai", "path": os.fspath(directory), "model": "mLSTM", "emsize": emsize,
            "nhid": hidden, "nlayers": 1, "kind": "lm",
            "process_fn": "process_str"}  # the text was '\n ' + text + ' ' (data/preprocess.py)
    return model, info

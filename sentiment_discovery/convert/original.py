"""Importer for checkpoints of NVIDIA's original sentiment-discovery (recurrent models).

Accepted files: a torch-pickled state dict, flat (`encoder.encoder.weight`, `encoder.rnn.rnns.0.w_ih`,
`decoder.weight`, ...) or nested the way the original's `state_dict()` returned it
({"encoder": {"encoder": {...}, "rnn": {...}}, "decoder": {...}}); the same wrapped as
{"sd": state_dict, "args": Namespace}; classifier files whose encoder sits under `encoder` or
`lm_encoder` next to a `classifier`. Layer weights are `<prefix>(rnns|layers).N.<name>` with names
w_ih, w_hh, b_ih, b_hh (+ w_mih, w_mhh for the mLSTM), or weight-norm pairs `<name>_g` / `<name>_v`
where w = g * v / ||v|| per output row (v of shape (out, in)). Prefixes may be present or not.

The cell type is read from the tensors: w_mih present -> mLSTM; else w_ih has 4H rows -> LSTM, 3H -> GRU
(the original's cells follow torch.nn's equations and gate orders, as ours do). Sizes and layer count
come from the tensors too. A 257-row embedding is our character vocabulary already; a 256-row one
(raw bytes, no pad) is shifted by one like OpenAI's.

The file is read without executing pickled code: `torch.load(weights_only=True)`, with argparse.Namespace
mapped to a plain dict stand-in and numpy arrays/scalars allowed as data; any other class is refused.
Transformer checkpoints of the original are not supported (their sentencepiece ids cannot be recovered
from the file); they get a one-line error.
"""
import os
import pickle
import re
import warnings

import numpy as np
import torch

try:
    from numpy._core import multiarray as numpy_multiarray  # numpy >= 2
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as numpy_multiarray

from ..data.preprocess import PROCESS_FNS
from ..errors import UserError
from ..checkpoint import foreign_global_name
from .recurrent_import import build_recurrent_lm, fill_recurrent_lm, pad_byte_decoder, pad_byte_embedding

LAYER_KEY = re.compile(r"^(?P<prefix>.*?)(?P<container>rnns|layers)\.(?P<index>\d+)\."
                       r"(?P<name>w_ih|w_hh|w_mih|w_mhh|b_ih|b_hh)(?:_(?P<part>g|v))?$")
TRANSFORMER_MARKERS = ("embed_tokens", "self_attn", "embed_positions", "fc1.weight", "in_proj_weight")


class OriginalArgs(dict):
    """Stand-in for the argparse.Namespace the original pickled next to its weights: a dict with
    attribute access, built from the pickled attributes only (no argparse code runs)."""

    def __setstate__(self, state):
        self.update(state)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def data_only_globals():
    """The foreign globals a stored original checkpoint may name, each mapped to a data-only object."""
    dtype_classes = [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")]
    return [
        (OriginalArgs, "argparse.Namespace"),
        numpy_multiarray._reconstruct, (numpy_multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
        numpy_multiarray.scalar, (numpy_multiarray.scalar, "numpy.core.multiarray.scalar"),
        np.ndarray, np.dtype, *dtype_classes,
    ]


def read_original_file(path):
    """The unpickled contents of an original checkpoint, read without running pickled code."""
    if not os.path.isfile(path):
        raise UserError(f"checkpoint {path} does not exist" if not os.path.exists(path)
                        else f"checkpoint {path} is not a file")
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(data_only_globals()):
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        foreign = foreign_global_name(err)
        if foreign:
            raise UserError(f"{path} holds Python objects of type {foreign}, which are not read "
                            "(a checkpoint is loaded as data only)") from None
        raise UserError(f"{path} is not a readable PyTorch file (corrupted or another format)") from None
    except (OSError, RuntimeError, EOFError, KeyError, ValueError, IndexError, TypeError, AttributeError):
        raise UserError(f"{path} is not a readable PyTorch file (truncated, corrupted or another format)") from None


def flatten_tensors(tree, prefix=""):
    """Nested dicts -> {"a.b.c": tensor}; non-tensor leaves (thresholds, neurons, args) are dropped."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            flat[name] = value
        elif isinstance(value, dict):
            flat.update(flatten_tensors(value, name + "."))
    return flat


def original_state_dict(contents, path):
    """The flat tensor dict of an original checkpoint (unwrapping {"sd": ..., "args": ...})."""
    if not isinstance(contents, dict):
        raise UserError(f"{path} holds a {type(contents).__name__}, not a state dict")
    if "sd" in contents and isinstance(contents["sd"], dict):
        contents = contents["sd"]
    flat = flatten_tensors(contents)
    if not flat:
        raise UserError(f"{path} holds no tensors; top-level keys: {sorted(map(str, contents))[:10]}")
    return flat


def describe_keys(flat, limit=6):
    keys = sorted(flat)
    more = f" ... ({len(keys)} in all)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def effective_weight(entries, name, key_hint):
    """A layer's weight `name`: stored plainly, or rebuilt from weight-norm g (out[,1]) and v (out, in)."""
    if (name, None) in entries:
        return entries[(name, None)].float()
    if (name, "g") in entries and (name, "v") in entries:
        g, v = entries[(name, "g")].float(), entries[(name, "v")].float()
        return g.reshape(-1, 1) * v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    raise UserError(f"original checkpoint is missing {key_hint}{name} (or its _g/_v weight-norm pair)")


def group_layers(flat, path):
    """(prefix, container name, [per-layer {(name, part): tensor}]) of the recurrent layers in `flat`."""
    found, containers = {}, {}
    for key, tensor in flat.items():
        match = LAYER_KEY.match(key)
        if match:
            containers[match["prefix"]] = match["container"]
            found.setdefault(match["prefix"], {}).setdefault(int(match["index"]), {})[
                (match["name"], match["part"])] = tensor
    if not found:
        if any(marker in key for key in flat for marker in TRANSFORMER_MARKERS):
            raise UserError(f"{path} looks like an original Transformer checkpoint (keys: {describe_keys(flat)}); "
                            "only recurrent original checkpoints (mLSTM, LSTM, GRU) are supported")
        raise UserError(f"{path} has no recurrent layer weights (keys: {describe_keys(flat)})")
    if len(found) > 1:
        raise UserError(f"{path} holds several recurrent networks (under {sorted(found)}); expected one")
    prefix, by_index = next(iter(found.items()))
    if sorted(by_index) != list(range(len(by_index))):
        raise UserError(f"{path}: recurrent layers are numbered {sorted(by_index)}, expected 0..{len(by_index) - 1}")
    return prefix, containers[prefix], [by_index[index] for index in range(len(by_index))]


def find_beside(flat, rnn_prefix, suffix):
    """The key `<p>suffix` where <p> is the longest prefix of the rnn's parent path that has one."""
    parent = rnn_prefix.removesuffix("rnn.")
    candidates = [key for key in flat if key.endswith(suffix) and parent.startswith(key[: -len(suffix)])]
    return max(candidates, key=len) if candidates else None


def layer_weights(entries, layer_prefix, cell_type, hidden):
    """Our per-layer weight dict from the original's entries (missing biases are zero)."""
    gates = {"mLSTM": 4, "LSTM": 4, "GRU": 3}[cell_type] * hidden
    weights = {"w_ih": effective_weight(entries, "w_ih", layer_prefix),
               "w_hh": effective_weight(entries, "w_hh", layer_prefix)}
    for bias in ("b_ih", "b_hh"):
        weights[bias] = entries[(bias, None)].float() if (bias, None) in entries else torch.zeros(gates)
    if cell_type == "mLSTM":
        weights["w_mih"] = effective_weight(entries, "w_mih", layer_prefix)
        weights["w_mhh"] = effective_weight(entries, "w_mhh", layer_prefix)
    return weights


def infer_cell_type(first_layer, layer_prefix):
    """mLSTM / LSTM / GRU and the hidden size, from layer 0's weights."""
    names = {name for name, _ in first_layer}
    w_ih = effective_weight(first_layer, "w_ih", layer_prefix + "0.")
    if "w_mih" in names:
        return "mLSTM", effective_weight(first_layer, "w_mih", layer_prefix + "0.").shape[0]
    w_hh = effective_weight(first_layer, "w_hh", layer_prefix + "0.")
    hidden = w_hh.shape[1]
    gates = w_ih.shape[0] // hidden
    if w_ih.shape[0] % hidden or gates not in (3, 4):
        raise UserError(f"{layer_prefix}0.w_ih has {w_ih.shape[0]} rows for hidden size {hidden}; "
                        "not an mLSTM, LSTM or GRU layer")
    return ("LSTM" if gates == 4 else "GRU"), hidden


def char_tables(embedding, decoder_weight, decoder_bias, path):
    """Embedding and decoder over our 257-token character vocabulary (shifting 256-entry byte tables)."""
    rows = embedding.shape[0]
    if rows == 257:
        return embedding, decoder_weight, decoder_bias
    if rows == 256:
        decoder_weight, decoder_bias = pad_byte_decoder(decoder_weight, decoder_bias)
        return pad_byte_embedding(embedding), decoder_weight, decoder_bias
    raise UserError(f"{path} has a {rows}-token embedding; only character-level original checkpoints "
                    "(256 or 257 tokens) can be imported, since the file holds no tokenizer")


def plain_args(args):
    """The scalar settings (str, int, float, bool) of the original's pickled args, as python values."""
    values = {key: value.item() if isinstance(value, np.generic) else value for key, value in args.items()}
    return {key: value for key, value in values.items() if type(value) in (str, int, float, bool)}


def import_original(path):
    """Build our recurrent LM from an original sentiment-discovery checkpoint. Returns (model, info)."""
    path = os.fspath(path)
    return import_original_contents(read_original_file(path), path)


def import_original_contents(contents, path):
    """`import_original` for a file already unpickled (as data) into `contents`."""
    flat = original_state_dict(contents, path)
    prefix, container, layers = group_layers(flat, path)
    layer_prefix = f"{prefix}{container}."
    cell_type, hidden = infer_cell_type(layers[0], layer_prefix)
    weights = [layer_weights(entries, f"{layer_prefix}{index}.", cell_type, hidden)
               for index, entries in enumerate(layers)]
    weight_normed = any(part == "g" for entries in layers for _, part in entries)
    embedding_key = find_beside(flat, prefix, "encoder.weight")
    if embedding_key is None:
        raise UserError(f"{path} has recurrent layers but no embedding (...encoder.weight); keys: "
                        f"{describe_keys(flat)}")
    embedding = flat[embedding_key].float()
    emsize = embedding.shape[1]
    if weights[0]["w_ih"].shape[1] != emsize:
        raise UserError(f"{path}: embedding size {emsize} does not match layer 0's input size "
                        f"{weights[0]['w_ih'].shape[1]}")
    decoder_key = find_beside(flat, prefix, "decoder.weight")
    has_decoder = decoder_key is not None
    if has_decoder:
        decoder_weight = flat[decoder_key].float()
        bias_key = decoder_key[: -len("weight")] + "bias"
        decoder_bias = flat[bias_key].float() if bias_key in flat else torch.zeros(decoder_weight.shape[0])
    else:  # a classifier file without its LM head: features work, next-token predictions are uniform
        decoder_weight, decoder_bias = torch.zeros(embedding.shape[0], hidden), torch.zeros(embedding.shape[0])
    embedding, decoder_weight, decoder_bias = char_tables(embedding, decoder_weight, decoder_bias, path)
    model = build_recurrent_lm(cell_type, emsize, hidden, len(layers), weight_norm=weight_normed)
    fill_recurrent_lm(model, embedding, weights, decoder_weight, decoder_bias)
    is_classifier = isinstance(contents, dict) and any(
        key.startswith("classifier.") for key in flatten_tensors(contents.get("sd", contents)))
    info = {"source": "original", "path": path, "model": cell_type, "emsize": emsize, "nhid": hidden,
            "nlayers": len(layers), "weight_norm": weight_normed, "kind": "classifier" if is_classifier else "lm",
            "has_decoder": has_decoder}
    if isinstance(contents, dict) and isinstance(contents.get("args"), dict):
        info["original_args"] = plain_args(contents["args"])
    info["process_fn"] = original_process_fn(info.get("original_args", {}))
    return model, info


def original_process_fn(args: dict) -> str:
    """The original's text clean-up for its model: what its pickled args name, when they name one we
    reproduce, else its default process_str (data/preprocess.py)."""
    named = args.get("process_fn")
    return named if named in PROCESS_FNS else "process_str"

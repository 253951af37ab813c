"""Shared steps of the importers: build our recurrent LM of the right size and fill it with foreign weights.

Foreign weights arrive as numpy arrays or tensors in our layout ((out, in) matrices, gates already in
(i, f, g, o) order). Byte-level tables of 256 entries (no padding token) are shifted to our 257-token
character vocabulary: pad = 0, byte b -> b + 1. The pad row of the embedding is zero and the pad logit
gets a very negative bias so it is never predicted.
"""
import numpy as np
import torch
from torch.nn.utils import parametrize

from ..errors import UserError
from ..data.tokenizers.builtin import CharTokenizer
from ..models.language_model import RecurrentLM, recurrent_config

PAD_LOGIT_BIAS = -1e4


def as_tensor(array):
    """float32 CPU tensor from a numpy array or tensor."""
    if isinstance(array, torch.Tensor):
        return array.detach().to("cpu", torch.float32)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def pad_byte_embedding(embedding):
    """(256, E) byte embedding -> (257, E) with a zero pad row first."""
    embedding = as_tensor(embedding)
    return torch.cat([embedding.new_zeros(1, embedding.size(1)), embedding])


def pad_byte_decoder(weight, bias):
    """(256, H) output weight and (256,) bias -> (257, H), (257,) with a zero pad row, very negative pad bias."""
    weight, bias = as_tensor(weight), as_tensor(bias)
    return (torch.cat([weight.new_zeros(1, weight.size(1)), weight]),
            torch.cat([bias.new_full((1,), PAD_LOGIT_BIAS), bias]))


def build_recurrent_lm(cell_type, emsize, nhid, nlayers, weight_norm=True):
    """A fresh RecurrentLM of the given sizes over the 257-token character vocabulary, dropout 0."""
    return RecurrentLM(recurrent_config(cell_type, CharTokenizer.vocab_size, int(emsize), int(nhid), int(nlayers),
                                        weight_norm=bool(weight_norm)))


def set_linear(linear, weight, bias=None):
    """Set a Linear's effective weight (through weight norm if it has one) and bias."""
    weight = as_tensor(weight)
    expected = tuple(linear.weight.shape)
    if tuple(weight.shape) != expected:
        raise UserError(f"imported weight of shape {tuple(weight.shape)} does not fit a layer of shape {expected}")
    with torch.no_grad():
        if parametrize.is_parametrized(linear, "weight"):
            linear.weight = weight  # weight norm's right_inverse sets g and v
        else:
            linear.weight.copy_(weight)
        if bias is not None:
            linear.bias.copy_(as_tensor(bias))


def fill_recurrent_lm(model, embedding, layers, decoder_weight, decoder_bias):
    """Copy weights into `model`.

    embedding (257, E); layers: one dict per layer with "w_ih", "w_hh", "b_ih", "b_hh" and for the
    mLSTM "w_mih", "w_mhh", in our (out, in) layout; decoder_weight (257, H), decoder_bias (257,)."""
    with torch.no_grad():
        model.embedding.weight.copy_(as_tensor(embedding))
        for layer, weights in zip(model.rnn.layers, layers):
            set_linear(layer.w_ih, weights["w_ih"], weights["b_ih"])
            set_linear(layer.w_hh, weights["w_hh"], weights["b_hh"])
            if "w_mih" in weights:
                set_linear(layer.w_mih, weights["w_mih"])
                set_linear(layer.w_mhh, weights["w_mhh"])
        set_linear(model.decoder, decoder_weight, decoder_bias)
    return model.eval()

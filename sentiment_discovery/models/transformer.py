"""Decoder-only Transformer language model (the "transformer" model of sentiment-discovery).

Follows "Large Scale Language Modeling: Converging on 40GB of Text in Four Hours" (Puri et al. 2018,
arXiv 1808.01371) and "Practical Text Classification With Large Pre-Trained Language Models"
(Kant et al. 2018, arXiv 1812.01207), whose decoder is the one of "Attention Is All You Need"
(Vaswani et al. 2017) without encoder attention, with GeLU feed-forward layers (Radford et al. 2018):

    x_0 = sqrt(d) * E[token] + P[position]            (P sinusoidal or learned)
    post-norm:  x = LN(x + Attn(x));  x = LN(x + FFN(x))
    pre-norm:   x = x + Attn(LN(x));  x = x + FFN(LN(x));  final LN after the last layer
    logits = x W_out^T + b                              (W_out tied to E when asked)

Positions are counted along time for every sequence, starting at the length of the key/value cache,
so a row of a batch gives the same outputs as the same sequence alone. Padding sits at the right end
of a row; causal attention already keeps every real token from seeing it.

`reset_mask` is accepted for interface parity with the recurrent models and IGNORED: like the
original, a training window is one attention context even when it spans a document boundary.

The recurrent-state slot holds a key/value cache: a list over layers of (k, v), each
(B, heads, T_past, d_head). `forward(tokens, state)` continues from it, so generation can feed one
token at a time. `None` is the empty cache.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import UserError
from .token_check import check_token_ids

DEFAULT_CONFIG = {
    "model": "transformer",
    "vocab_size": None,
    "decoder_layers": 12,
    "decoder_embed_dim": 768,
    "decoder_ffn_embed_dim": 3072,
    "decoder_attention_heads": 8,
    "decoder_learned_pos": False,
    "decoder_normalize_before": False,
    "share_decoder_input_output_embed": False,
    "dropout": 0.1,
    "attention_dropout": 0.0,
    "relu_dropout": 0.0,
    "max_positions": 512,
    "chkpt_grad": False,
}


def transformer_config(config):
    """A complete, checked copy of a transformer config dict (missing keys take the defaults)."""
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise UserError(f"unknown transformer config keys {unknown}; known keys: {sorted(DEFAULT_CONFIG)}")
    full = {**DEFAULT_CONFIG, **config}
    if full["model"] != "transformer":
        raise UserError(f"model {full['model']!r} is not a transformer config")
    if not isinstance(full["vocab_size"], int) or full["vocab_size"] < 2:
        raise UserError(f"transformer config needs an integer vocab_size >= 2, got {full['vocab_size']!r}")
    dim, heads = full["decoder_embed_dim"], full["decoder_attention_heads"]
    if heads < 1 or dim % heads != 0:
        raise UserError(f"decoder_embed_dim {dim} is not divisible by decoder_attention_heads {heads}")
    if not full["decoder_learned_pos"] and dim % 2 != 0:
        raise UserError(f"sinusoidal positions need an even decoder_embed_dim, got {dim}")
    for key in ("decoder_layers", "decoder_ffn_embed_dim", "max_positions"):
        if not isinstance(full[key], int) or full[key] < 1:
            raise UserError(f"transformer config {key} must be a positive integer, got {full[key]!r}")
    for key in ("dropout", "attention_dropout", "relu_dropout"):
        if not 0.0 <= float(full[key]) < 1.0:
            raise UserError(f"transformer config {key} must be in [0, 1), got {full[key]!r}")
    return full


def sinusoidal_table(num_positions, dim):
    """(num_positions, dim) table: sin of position*frequency in the first half, cos in the second."""
    half = dim // 2
    frequencies = torch.exp(torch.arange(half, dtype=torch.float64) * -(math.log(10000.0) / max(half - 1, 1)))
    angles = torch.arange(num_positions, dtype=torch.float64)[:, None] * frequencies[None, :]  # (P, half)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()  # (P, dim)


def cache_length(state):
    """Number of positions already held in a key/value cache (0 for the empty cache)."""
    return 0 if state is None else state[0][0].size(2)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention over new tokens plus an optional key/value cache."""

    def __init__(self, dim, heads, attention_dropout):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.attention_dropout = attention_dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def split_heads(self, x):
        batch, steps, _ = x.shape
        return x.view(batch, steps, self.heads, self.head_dim).transpose(1, 2)  # (B, heads, T, d_head)

    def forward(self, x, cache=None):
        """x (B, T, D), cache (k, v) each (B, heads, T_past, d_head) or None -> (B, T, D), (k, v)."""
        batch, steps, dim = x.shape
        q, k, v = (self.split_heads(part) for part in self.qkv(x).chunk(3, dim=-1))
        past = 0
        if cache is not None:
            past = cache[0].size(2)
            k = torch.cat([cache[0], k], dim=2)  # (B, heads, T_past + T, d_head)
            v = torch.cat([cache[1], v], dim=2)
        dropout_p = self.attention_dropout if self.training else 0.0
        if past == 0:
            attended = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=steps > 1)
        elif steps == 1:
            attended = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        else:
            query_pos = torch.arange(past, past + steps, device=x.device)[:, None]
            key_pos = torch.arange(past + steps, device=x.device)[None, :]
            allowed = key_pos <= query_pos  # (T, T_past + T), bool
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p)
        merged = attended.transpose(1, 2).reshape(batch, steps, dim)  # (B, T, D)
        return self.out(merged), (k, v)


class FeedForward(nn.Module):
    """Position-wise feed-forward block: Linear -> GeLU -> dropout -> Linear."""

    def __init__(self, dim, hidden, relu_dropout):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(relu_dropout)

    def forward(self, x):
        return self.fc2(self.dropout(F.gelu(self.fc1(x))))


class DecoderLayer(nn.Module):
    """One decoder layer: causal self-attention and feed-forward, each with residual and LayerNorm."""

    def __init__(self, config):
        super().__init__()
        dim = config["decoder_embed_dim"]
        self.normalize_before = config["decoder_normalize_before"]
        self.attention = CausalSelfAttention(dim, config["decoder_attention_heads"], config["attention_dropout"])
        self.attn_norm = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, config["decoder_ffn_embed_dim"], config["relu_dropout"])
        self.ffn_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(config["dropout"])

    def forward(self, x, cache=None):
        """x (B, T, D) -> (B, T, D), new (k, v) of this layer."""
        if self.normalize_before:
            attended, new_cache = self.attention(self.attn_norm(x), cache)
            x = x + self.dropout(attended)
            return x + self.dropout(self.ffn(self.ffn_norm(x))), new_cache
        attended, new_cache = self.attention(x, cache)
        x = self.attn_norm(x + self.dropout(attended))
        return self.ffn_norm(x + self.dropout(self.ffn(x))), new_cache


class TransformerLM(nn.Module):
    """Decoder-only Transformer LM with the recurrent LMs' interface (the state is a key/value cache)."""

    def __init__(self, config):
        super().__init__()
        self.config = transformer_config(config)
        cfg = self.config
        dim, vocab = cfg["decoder_embed_dim"], cfg["vocab_size"]
        self.embed_scale = math.sqrt(dim)
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        if cfg["decoder_learned_pos"]:
            self.positions = nn.Embedding(cfg["max_positions"], dim)
        else:
            self.register_buffer("sinusoids", sinusoidal_table(cfg["max_positions"], dim), persistent=False)
        self.dropout = nn.Dropout(cfg["dropout"])
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg["decoder_layers"]))
        self.final_norm = nn.LayerNorm(dim) if cfg["decoder_normalize_before"] else nn.Identity()
        self.decoder = nn.Linear(dim, vocab)
        self.reset_parameters()
        if cfg["share_decoder_input_output_embed"]:
            self.decoder.weight = self.embedding.weight

    @property
    def vocab_size(self):
        return self.config["vocab_size"]

    def reset_parameters(self):
        """Embeddings N(0, 1/d) with a zero pad row; linear layers Xavier-uniform, zero biases."""
        dim = self.config["decoder_embed_dim"]
        nn.init.normal_(self.embedding.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        if self.config["decoder_learned_pos"]:
            nn.init.normal_(self.positions.weight, std=dim ** -0.5)
        for module in self.modules():
            if isinstance(module, nn.Linear) and module is not self.decoder:
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.decoder.weight, std=dim ** -0.5)
        nn.init.zeros_(self.decoder.bias)

    def position_embeddings(self, start, steps, device):
        """(T, D) position vectors for positions start .. start+steps-1."""
        limit = self.config["max_positions"]
        if start + steps > limit:
            raise UserError(f"sequence reaches position {start + steps}, beyond the model's max_positions {limit}")
        if self.config["decoder_learned_pos"]:
            return self.positions(torch.arange(start, start + steps, device=device))
        return self.sinusoids[start:start + steps]

    def run_layers(self, tokens, state):
        """tokens (B, T) -> last hidden after the final norm (B, T, D), new cache."""
        check_token_ids(tokens, self.vocab_size)
        past = cache_length(state)
        x = self.embed_scale * self.embedding(tokens)  # (B, T, D)
        x = self.dropout(x + self.position_embeddings(past, tokens.size(1), tokens.device).to(x.dtype))
        checkpointing = self.config["chkpt_grad"] and self.training and torch.is_grad_enabled()
        new_state = []
        for index, layer in enumerate(self.layers):
            layer_cache = None if state is None else state[index]
            if checkpointing:
                x, kv = checkpoint(layer, x, layer_cache, use_reentrant=False)
            else:
                x, kv = layer(x, layer_cache)
            new_state.append(kv)
        return self.final_norm(x), new_state

    def forward(self, tokens, state=None, reset_mask=None):
        """tokens (B, T) int64 -> logits (B, T, V), key/value cache. reset_mask is ignored (see module doc)."""
        hidden, new_state = self.run_layers(tokens, state)
        return self.decoder(hidden), new_state

    def trace(self, tokens, state=None, reset_mask=None):
        """tokens (B, T) -> ({"h": [last layer's output after the final norm (B, T, D)]}, cache)."""
        hidden, new_state = self.run_layers(tokens, state)
        return {"h": [hidden]}, new_state

    def init_state(self, batch_size, device=None, dtype=None):
        """The empty key/value cache."""
        return None  # noqa: RET501 (None is the cache value, not "no result")

    def detach_state(self, state):
        """The same cache cut from the autograd graph."""
        if state is None:
            return None
        return [(k.detach(), v.detach()) for k, v in state]

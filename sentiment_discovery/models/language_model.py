"""Recurrent language model (embedding -> stacked mLSTM/LSTM/GRU -> decoder), as in NVIDIA's
sentiment-discovery (Puri et al. 2018, arXiv 1808.01371) after OpenAI's byte mLSTM (Radford et al. 2017,
arXiv 1704.01444), and `build_language_model`, which rebuilds any language model (recurrent or the
transformer of transformer.py) from its plain-data config.

Interface (batch-first): `forward(tokens (B, T), state=None, reset_mask=None) -> (logits (B, T, V), state)`,
`trace(...) -> ({"h": [per layer (B, T, H)], "c": [...]}, state)`. Dropout is applied to the embedded
inputs, between layers and to the last layer's outputs (the original's placement).

At inference (no grad, dropout off) with a small (character) vocabulary, layer 0's input products are a
lookup table: each vocabulary row's embedding already multiplied by [W_ih; W_mih] (+ biases), rebuilt
when the embedding or the layer changes."""
from torch import nn

from ..errors import UserError
from .token_check import check_token_ids
from .prepared_weight import VersionedCache
from .recurrent import StackedRNN
from .recurrent_layer import keep_mask, needs_graph

MAX_TABLE_VOCAB = 4096  # larger vocabularies project embeddings per token instead of a table
REQUIRED_RECURRENT_KEYS = ("model", "vocab_size", "emsize", "nhid", "nlayers")


def recurrent_config(model="mLSTM", vocab_size=257, emsize=64, nhid=4096, nlayers=1, dropout=0.0,
                     weight_norm=True, tied=False):
    """The plain-data config of a recurrent language model (what checkpoints store)."""
    return {"model": model, "vocab_size": vocab_size, "emsize": emsize, "nhid": nhid, "nlayers": nlayers,
            "dropout": dropout, "weight_norm": weight_norm, "tied": tied}


def _checked_recurrent_config(config):
    missing = [key for key in REQUIRED_RECURRENT_KEYS if key not in config]
    if missing:
        raise UserError(f"recurrent model config lacks {', '.join(missing)} (it has {', '.join(sorted(config))})")
    full = recurrent_config(**{key: config[key] for key in REQUIRED_RECURRENT_KEYS})
    full.update({key: value for key, value in config.items()})
    for key in ("vocab_size", "emsize", "nhid", "nlayers"):
        if not isinstance(full[key], int) or isinstance(full[key], bool) or full[key] < 1:
            raise UserError(f"model config {key} must be a positive integer, got {full[key]!r}")
    if not 0.0 <= float(full["dropout"]) < 1.0:
        raise UserError(f"dropout must be in [0, 1), got {full['dropout']!r}")
    if full["tied"] and full["emsize"] != full["nhid"]:
        raise UserError(f"tied embedding and decoder need emsize == nhid, got {full['emsize']} and {full['nhid']}")
    return full


class RecurrentLM(nn.Module):
    """Embedding (V -> E) -> StackedRNN -> decoder Linear(H -> V); `tied` shares the embedding weight."""

    def __init__(self, config):
        super().__init__()
        config = _checked_recurrent_config(config)
        self.config = config
        self.embedding = nn.Embedding(config["vocab_size"], config["emsize"])
        self.drop = nn.Dropout(config["dropout"])
        self.rnn = StackedRNN(config["model"], config["emsize"], config["nhid"], config["nlayers"],
                              config["dropout"], config["weight_norm"])
        self.decoder = nn.Linear(config["nhid"], config["vocab_size"])
        if config["tied"]:
            self.decoder.weight = self.embedding.weight
        self._table_cache = VersionedCache()

    @property
    def vocab_size(self):
        return self.config["vocab_size"]

    def init_state(self, batch_size, device=None, dtype=None):
        """Zero state: a list over layers of (h, c), each (B, H)."""
        return self.rnn.init_state(batch_size, device or self.embedding.weight.device,
                                   dtype or self.decoder.weight.dtype)

    @staticmethod
    def detach_state(state):
        return [(h.detach(), c.detach()) for h, c in state]

    def forward(self, tokens, state=None, reset_mask=None):
        """tokens (B, T) int -> (logits (B, T, V), state)."""
        hs, _, state = self._run(tokens, state, reset_mask, collect_cells=False)
        logits = self.decoder(self.drop(hs[-1]))  # (T, B, V)
        return logits.transpose(0, 1).contiguous(), state

    def trace(self, tokens, state=None, reset_mask=None):
        """Per-step states of every layer: ({"h": [(B, T, H)], "c": [(B, T, H)]}, state).
        The (B, T, H) tensors are transposed views of time-major buffers."""
        hs, cs, state = self._run(tokens, state, reset_mask, collect_cells=True)
        return {"h": [h.transpose(0, 1) for h in hs], "c": [c.transpose(0, 1) for c in cs]}, state

    def _run(self, tokens, state, reset_mask, collect_cells):
        check_token_ids(tokens, self.vocab_size)
        batch_size, steps = tokens.shape
        if state is None:
            state = self.init_state(batch_size, tokens.device)
        keep = keep_mask(reset_mask, batch_size, steps, state[0][0].dtype)
        tokens_tm = tokens.t()  # (T, B)
        table = self._input_table(state)
        if table is not None:
            return self.rnn.run(tokens_tm, state, keep, collect_cells, table=table)
        embedded = self.drop(self.embedding(tokens_tm))  # (T, B, E)
        return self.rnn.run(embedded, state, keep, collect_cells)

    def _input_table(self, state):
        """Layer 0's per-token input projections (tuple of (V, P_k)), or None when the table route does
        not apply (autograd recording, reference cell, active dropout, large vocabulary)."""
        state_tensors = [tensor for layer_state in state for tensor in layer_state]
        usable = (not needs_graph(self, *state_tensors) and self.rnn.impl == "fast"
                  and (not self.training or self.drop.p == 0.0) and self.vocab_size <= MAX_TABLE_VOCAB)
        if not usable:
            return None
        first = self.rnn.layers[0]
        sources = [self.embedding.weight, *first.parameters()]
        return self._table_cache.get(sources, lambda: first.input_table(self.embedding.weight))

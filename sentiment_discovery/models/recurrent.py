"""A stack of recurrent layers (mLSTM, LSTM or GRU) with dropout between layers, as in the original
sentiment-discovery's stackedRNN. State is explicit: a list over layers of (h, c), each (B, H)."""
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from .gru import GRULayer
from .mlstm import LSTMLayer, MLSTMLayer
from .recurrent_layer import IMPLEMENTATIONS

LAYER_TYPES = {"mLSTM": MLSTMLayer, "LSTM": LSTMLayer, "GRU": GRULayer}


def layer_class(cell_type):
    """The layer class for `cell_type` ("mLSTM" | "LSTM" | "GRU")."""
    if cell_type not in LAYER_TYPES:
        raise UserError(f"unknown recurrent model {cell_type!r}; choose one of {', '.join(LAYER_TYPES)}")
    return LAYER_TYPES[cell_type]


class StackedRNN(nn.Module):
    """`num_layers` layers of `cell_type`; layer 0 reads `input_size` features, the rest read H."""

    def __init__(self, cell_type, input_size, hidden_size, num_layers=1, dropout=0.0, weight_norm=True):
        super().__init__()
        if num_layers < 1:
            raise UserError(f"a recurrent model needs at least 1 layer, got {num_layers}")
        cls = layer_class(cell_type)
        self.cell_type = cell_type
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.layers = nn.ModuleList(
            cls(input_size if index == 0 else hidden_size, hidden_size, weight_norm)
            for index in range(num_layers))

    @property
    def impl(self):
        """"fast" or "reference" (the plain per-step cell), the same for every layer."""
        return self.layers[0].impl

    @impl.setter
    def impl(self, value):
        if value not in IMPLEMENTATIONS:
            raise ValueError(f"unknown recurrent implementation {value!r}; use one of {IMPLEMENTATIONS}")
        for layer in self.layers:
            layer.impl = value

    def init_state(self, batch_size, device=None, dtype=None):
        return [layer.init_state(batch_size, device, dtype) for layer in self.layers]

    def run(self, x, state, keep=None, collect_cells=False, table=None):
        """Time-major: x (T, B, I) (or (T, B) token ids with layer 0's lookup `table`).
        Returns per-layer hs [(T, B, H)], per-layer cs [(T, B, H) or None] and the new state."""
        if len(state) != len(self.layers):
            raise ValueError(f"state has {len(state)} layers, the model has {len(self.layers)}")
        all_hs, all_cs, new_state = [], [], []
        for index, (layer, layer_state) in enumerate(zip(self.layers, state)):
            if index > 0:
                x = F.dropout(x, self.dropout, self.training)
            hs, cs, layer_state = layer.run(x, layer_state, keep, collect_cells, table if index == 0 else None)
            all_hs.append(hs)
            all_cs.append(cs)
            new_state.append(layer_state)
            x = hs
        return all_hs, all_cs, new_state

"""Multiplicative LSTM (Krause et al. 2016, "Multiplicative LSTM for sequence modelling", arXiv 1609.07959)
as used by Radford et al. 2017 (arXiv 1704.01444) and NVIDIA's sentiment-discovery, and the plain LSTM
(Hochreiter & Schmidhuber 1997, gates in torch.nn.LSTM's (i, f, g, o) order) with the same structure.

mLSTM, per step (input x, state h, c):
    m = (W_mih x) ⊙ (W_mhh h)
    z = W_ih x + b_ih + W_hh m + b_hh, split into (i, f, g, o)
    c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g);   h' = σ(o) ⊙ tanh(c')
The LSTM is the same with m = h.

`reference_step` is the plain cell (all four products inside the step), kept as the reference the fast
path is tested against. The fast path hoists the input products (W_ih x and W_mih x, each one matrix
product for the whole sequence, or per-token lookup tables at inference) and runs the loop of
gated_recurrence.py."""
import torch

from .gated_recurrence import run_inference, run_training
from .prepared_weight import PreparedWeight
from .recurrent_layer import RecurrentLayer, autocast_dtype, make_linear


def lstm_cell_update(z, c):
    """Pre-activations z (B, 4H) in (i, f, g, o) order and cell c (B, H) -> new (h, c)."""
    i, f, g, o = z.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


class LSTMLayer(RecurrentLayer):
    """One LSTM layer: w_ih Linear(I, 4H), w_hh Linear(H, 4H); gates (i, f, g, o)."""

    def reference_step(self, x_t, h, c):
        return lstm_cell_update(self.w_ih(x_t) + self.w_hh(h), c)

    def input_weights(self):
        """[(W_ih (4H, I), b_ih + b_hh (4H,))]: both biases folded into the input product."""
        return [(self.w_ih.weight, self.w_ih.bias + self.w_hh.bias)]

    def recurrent_weights(self):
        """(W_hh (4H, H), W_mhh (H, H) or None)."""
        return self.w_hh.weight, None

    def _prepare(self, compute_dtype):
        w_hh, w_mhh = self.recurrent_weights()
        return {
            "inputs": [(w.to(compute_dtype), None if b is None else b.to(compute_dtype))
                       for w, b in self.input_weights()],
            "w_hh": PreparedWeight(w_hh.to(compute_dtype)),
            "w_mhh": PreparedWeight(w_mhh.to(compute_dtype)) if w_mhh is not None else None,
        }

    def _run_fast_train(self, x, state, keep):
        h0, c0 = state
        xz, *xm = (p.to(h0.dtype) for p in self.project_inputs(x))  # (T, B, 4H), [(T, B, H)]
        w_hh, w_mhh = self.recurrent_weights()
        compute_dtype = autocast_dtype(x.device) or h0.dtype
        with torch.autocast(x.device.type, enabled=False):
            hs, cs = run_training(xz, xm[0] if xm else None, h0, c0, w_hh, w_mhh, keep, compute_dtype)
        return hs, cs, (hs[-1], cs[-1])

    def _run_fast_inference(self, x, state, keep, collect_cells, table):
        h, c = state
        prep = self.prepared(self.inference_compute_dtype(h.device))
        with torch.autocast(h.device.type, enabled=False):
            steps = self.projected_steps(x, prep, table)
            hs, cs, h, c = run_inference(steps, h, c, prep["w_hh"], prep["w_mhh"], keep, collect_cells)
        return torch.stack(hs), (torch.stack(cs) if collect_cells else None), (h, c)


class MLSTMLayer(LSTMLayer):
    """One mLSTM layer: LSTM's w_ih, w_hh plus w_mih Linear(I, H) and w_mhh Linear(H, H), no biases."""

    def __init__(self, input_size, hidden_size, weight_norm=True):
        super().__init__(input_size, hidden_size, weight_norm)
        self.w_mih = make_linear(input_size, hidden_size, False, weight_norm)
        self.w_mhh = make_linear(hidden_size, hidden_size, False, weight_norm)

    def reference_step(self, x_t, h, c):
        m = self.w_mih(x_t) * self.w_mhh(h)  # (B, H)
        return lstm_cell_update(self.w_ih(x_t) + self.w_hh(m), c)

    def input_weights(self):
        """[(W_ih (4H, I), b_ih + b_hh), (W_mih (H, I), None)]."""
        return [(self.w_ih.weight, self.w_ih.bias + self.w_hh.bias), (self.w_mih.weight, None)]

    def recurrent_weights(self):
        return self.w_hh.weight, self.w_mhh.weight

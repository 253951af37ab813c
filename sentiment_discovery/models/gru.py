"""Gated recurrent unit (Cho et al. 2014, arXiv 1406.1078) with torch.nn.GRU's equations and gate order:

    r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))      h' = (1 − z) ⊙ n + z ⊙ h

w_ih Linear(I, 3H) and w_hh Linear(H, 3H) hold the (r, z, n) blocks. The GRU has no cell: its state is
(h, h). The fast path hoists W_ih x out of the loop (a lookup table at inference) and, without grad, runs
the recurrent product on a prepared weight; with grad it runs per-step autograd (the recurrent weight cast
once per call under autocast). Unlike the (m)LSTM it has no hand-written backward."""
import torch
import torch.nn.functional as F

from .prepared_weight import PreparedWeight
from .recurrent_layer import RecurrentLayer, autocast_dtype


def gru_update(projected_input, projected_hidden, h):
    """(B, 3H) input and hidden projections (biases included), h (B, H) -> new h (B, H)."""
    in_r, in_z, in_n = projected_input.chunk(3, 1)
    hid_r, hid_z, hid_n = projected_hidden.chunk(3, 1)
    r = torch.sigmoid(in_r + hid_r)
    z = torch.sigmoid(in_z + hid_z)
    n = torch.tanh(in_n + r * hid_n)
    return n + z * (h - n)


class GRULayer(RecurrentLayer):
    """One GRU layer; state (h, h)."""

    gate_count = 3

    def reference_step(self, x_t, h, c):
        h = gru_update(self.w_ih(x_t), self.w_hh(h), h)
        return h, h

    def input_weights(self):
        return [(self.w_ih.weight, self.w_ih.bias)]

    def _prepare(self, compute_dtype):
        return {"inputs": [(self.w_ih.weight.to(compute_dtype), self.w_ih.bias.to(compute_dtype))],
                "w_hh": PreparedWeight(self.w_hh.weight.to(compute_dtype), self.w_hh.bias)}

    def _run_fast_train(self, x, state, keep):
        h = state[0]
        (xproj,) = (p.to(h.dtype) for p in self.project_inputs(x))  # (T, B, 3H)
        compute_dtype = autocast_dtype(x.device) or h.dtype
        w_hh = self.w_hh.weight.to(compute_dtype)
        b_hh = self.w_hh.bias.to(compute_dtype)
        hs = []
        with torch.autocast(x.device.type, enabled=False):
            for t, x_t in enumerate(xproj.unbind(0)):
                if keep is not None:
                    h = h * keep[t]
                h = gru_update(x_t, F.linear(h.to(compute_dtype), w_hh, b_hh), h)
                hs.append(h)
        hs = torch.stack(hs)
        return hs, hs, (h, h)

    def _run_fast_inference(self, x, state, keep, collect_cells, table):
        h = state[0]
        prep = self.prepared(self.inference_compute_dtype(h.device))
        hs = []
        with torch.autocast(h.device.type, enabled=False):
            for t, (x_t,) in enumerate(self.projected_steps(x, prep, table)):
                if keep is not None:
                    h = h * keep[t]
                h = gru_update(x_t, prep["w_hh"](h.to(prep["w_hh"].dtype)), h)
                hs.append(h)
        hs = torch.stack(hs)
        return hs, (hs if collect_cells else None), (h, h)

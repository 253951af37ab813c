"""What every recurrent layer (mLSTM, LSTM, GRU) shares: weight-normed Linear submodules, state and
reset-mask handling, and the choice between the plain per-step reference cell and the fast path.

Layout (the original sentiment-discovery's): `w_ih` Linear(I, G·H, bias) and `w_hh` Linear(H, G·H, bias),
G gates of size H. Weight norm (Salimans & Kingma 2016, w = g·v/‖v‖ per output row) is a
`torch.nn.utils.parametrizations.weight_norm` parametrization on those matrices, so `layer.w_ih.weight`
is always the effective weight and `layer.w_ih.weight = W` sets it (g and v recomputed). The Linear modules
are the only source of truth: the fast path's packed copies are derived from them and rebuilt whenever a
parameter changes (see prepared_weight.VersionedCache).

Layers run time-major: `run(x (T, B, I), state, keep (T, B, 1))`. A layer's state is (h, c), each (B, H);
a GRU has no cell and carries (h, h)."""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm as add_weight_norm

from .. import capabilities
from ..errors import UserError
from .prepared_weight import VersionedCache

IMPLEMENTATIONS = ("fast", "reference")
INFERENCE_CHUNK_STEPS = 64  # input projections are computed this many steps at a time without grad


class RecurrentLinear(nn.Linear):
    """nn.Linear whose weight can be set from a plain tensor: `linear.weight = W` copies W in (checking
    its shape); with weight norm on, the parametrization's right_inverse turns W into (g, v)."""

    def __setattr__(self, name, value):
        if name == "weight" and isinstance(value, torch.Tensor) and "weight" in self._weight_names():
            expected = tuple(self.weight.shape)
            if tuple(value.shape) != expected:
                raise UserError(f"weight of shape {tuple(value.shape)} does not fit a layer expecting {expected}")
            if not parametrize.is_parametrized(self, "weight") and not isinstance(value, nn.Parameter):
                with torch.no_grad():
                    self.weight.copy_(value)
                return
        super().__setattr__(name, value)

    def _weight_names(self):
        names = set(self.__dict__.get("_parameters", {}))
        if parametrize.is_parametrized(self):
            names |= set(self.parametrizations.keys())
        return names


def make_linear(in_features, out_features, bias, weight_norm):
    """A RecurrentLinear, weight-normed per output row when `weight_norm`."""
    linear = RecurrentLinear(in_features, out_features, bias=bias)
    if weight_norm:
        add_weight_norm(linear, "weight", dim=0)
    return linear


def keep_mask(reset_mask, batch_size, steps, dtype):
    """(B, T) bool reset mask -> (T, B, 1) multiplier that zeroes a row's state before marked tokens."""
    if reset_mask is None:
        return None
    if tuple(reset_mask.shape) != (batch_size, steps):
        raise ValueError(f"reset_mask has shape {tuple(reset_mask.shape)}, expected ({batch_size}, {steps})")
    return (~reset_mask.bool()).t().unsqueeze(-1).to(dtype)


def needs_graph(module, *tensors):
    """True when autograd must record: grad mode on and a parameter or input requires grad
    (a frozen encoder under grad mode takes the inference path)."""
    if not torch.is_grad_enabled():
        return False
    return (any(t.requires_grad for t in tensors if t is not None)
            or any(p.requires_grad for p in module.parameters()))


def autocast_dtype(device):
    """The dtype the recurrent products compute in under autocast on `device`, or None when autocast is off
    there: autocast's own, except bfloat16 on a device without native bfloat16 (an AVX2-only CPU computes
    it tens of times slower than float32), which computes in float32 (see capabilities.py)."""
    if torch.is_autocast_enabled(device.type):
        return capabilities.compute_dtype(device, torch.get_autocast_dtype(device.type))
    return None


class RecurrentLayer(nn.Module):
    """Base class: holds w_ih/w_hh, dispatches a sequence to the reference cell or the fast path."""

    gate_count = 4

    def __init__(self, input_size, hidden_size, weight_norm=True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.weight_norm = weight_norm
        self.impl = "fast"
        self.w_ih = make_linear(input_size, self.gate_count * hidden_size, True, weight_norm)
        self.w_hh = make_linear(hidden_size, self.gate_count * hidden_size, True, weight_norm)
        self._inference_cache = VersionedCache()

    # ---- state ---------------------------------------------------------------------------------
    def init_state(self, batch_size, device=None, dtype=None):
        """Zero state (h, c), each (B, H)."""
        weight = self.w_hh.bias
        zeros = torch.zeros(batch_size, self.hidden_size, device=device or weight.device,
                            dtype=dtype or weight.dtype)
        return zeros, zeros.clone()

    def _check_state(self, state, batch_size):
        h, c = state
        expected = (batch_size, self.hidden_size)
        if tuple(h.shape) != expected or tuple(c.shape) != expected:
            raise ValueError(f"state has shapes {tuple(h.shape)}, {tuple(c.shape)}; expected {expected}")

    # ---- time-major engine ---------------------------------------------------------------------
    def run(self, x, state, keep=None, collect_cells=False, table=None):
        """Run a sequence time-major.

        x: (T, B, I) inputs, or (T, B) token ids when `table` (a tuple of (V, P_k)) holds each token's
        input projections (the lookup-table route, inference only). keep: (T, B, 1) or None.
        Returns hs (T, B, H), cs (T, B, H) or None (only when collect_cells; always for the
        training path, where they come for free), and the final (h, c)."""
        steps, batch_size = x.shape[0], x.shape[1]
        self._check_state(state, batch_size)
        if steps == 0:
            raise UserError("cannot run a recurrent layer over an empty sequence (0 steps)")
        if self.impl == "reference":
            if table is not None:
                raise ValueError("the reference cell takes embedded inputs, not a lookup table")
            return self._run_reference(x, state, keep, collect_cells)
        if needs_graph(self, x, *state):
            if table is not None:
                raise ValueError("the lookup-table route is for inference (no grad) only")
            return self._run_fast_train(x, state, keep)
        return self._run_fast_inference(x, state, keep, collect_cells, table)

    def _run_reference(self, x, state, keep, collect_cells):
        h, c = state
        hs, cs = [], []
        with parametrize.cached():
            for t, x_t in enumerate(x.unbind(0)):
                if keep is not None:
                    h, c = h * keep[t], c * keep[t]
                h, c = self.reference_step(x_t, h, c)
                hs.append(h)
                if collect_cells:
                    cs.append(c)
        return torch.stack(hs), (torch.stack(cs) if collect_cells else None), (h, c)

    # ---- inference helpers ---------------------------------------------------------------------
    def prepared(self, compute_dtype):
        """The weights as the inference loop wants them, rebuilt when any parameter changes."""
        return self._inference_cache.get(self.parameters(), lambda: self._prepare(compute_dtype),
                                         extra=compute_dtype)

    def inference_compute_dtype(self, device):
        """Dtype of the per-step products at inference: autocast's when on (weights cast once), else
        the parameters' own."""
        return autocast_dtype(device) or self.w_hh.bias.dtype

    def projected_steps(self, x, prep, table=None):
        """Yield each step's input projections, a tuple of (B, P_k) tensors (one per entry of
        `input_weights()`), INFERENCE_CHUNK_STEPS steps at a time: gathered from the lookup tables or
        projected with one matrix product per chunk. Each is contiguous and in the compute dtype, so
        adding it to the recurrent product fuses into that product."""
        for chunk in x.split(INFERENCE_CHUNK_STEPS, 0):
            if table is not None:
                projected = [F.embedding(chunk, rows).to(w.dtype) for rows, (w, _) in zip(table, prep["inputs"])]
            else:
                projected = [F.linear(chunk.to(w.dtype), w, b) for w, b in prep["inputs"]]  # each (t, B, P_k)
            yield from zip(*(p.unbind(0) for p in projected))

    def input_table(self, embedding_weight):
        """(V, E) embedding rows -> tuple of (V, P_k) input projections, as the fast path computes them."""
        with torch.autocast(embedding_weight.device.type, enabled=False):
            return tuple(F.linear(embedding_weight, w, b) for w, b in self.input_weights())

    def project_inputs(self, x):
        """x (T, B, I) -> tuple of (T, B, P_k) projections (differentiable; autocast applies)."""
        return tuple(F.linear(x, w, b) for w, b in self.input_weights())

    # ---- subclass interface --------------------------------------------------------------------
    def reference_step(self, x_t, h, c):
        """Plain cell: one step with every product inside; returns the new (h, c)."""
        raise NotImplementedError

    def input_weights(self):
        """[(W (P_k, I), b (P_k,) or None)]: the products the fast path applies to the inputs before
        the loop (kept apart so that each step's slice of them is contiguous)."""
        raise NotImplementedError

    def _prepare(self, compute_dtype):
        raise NotImplementedError

    def _run_fast_train(self, x, state, keep):
        raise NotImplementedError

    def _run_fast_inference(self, x, state, keep, collect_cells, table):
        raise NotImplementedError

"""The fast time loop of the LSTM and the multiplicative LSTM (Krause et al. 2016, arXiv 1609.07959),
with a hand-written backward pass (backpropagation through time).

Per step, with the input projections x̃ = W_ih x + b_ih + b_hh (and x̃m = W_mih x for the mLSTM) computed
for the whole sequence before the loop (kept as two tensors, so each step's slice is contiguous):
    mLSTM: n = W_mhh h;  m = x̃m ⊙ n          LSTM: m = h
    z = x̃ + W_hh m, split (i, f, g, o);  c' = σ(f)c + σ(i)tanh(g);  h' = σ(o)tanh(c')

Why a custom autograd Function: autograd would compute the gradient of W_hh as T separate (4H × B) @
(B × H) outer products and add them one by one (at H = 4096 that is a 256 MB read-modify-write per step);
here the per-step backward only carries dz and dn, and the weight gradients are two large matrix products
over all T·B rows at the end. The per-step products use prepared (oneDNN-packed on CPU) weights, cast once
per call to the compute dtype (bfloat16 under autocast) rather than per step.

The same step code runs the no-grad inference loop (`run_inference`), which keeps nothing for backward."""
import torch

from .prepared_weight import PreparedWeight


def activate_gates(z):
    """In place on a fresh (B, 4H) pre-activation: σ on i, f, o and tanh on g. Returns z."""
    hidden = z.shape[1] // 4
    z[:, : 2 * hidden].sigmoid_()
    z[:, 2 * hidden: 3 * hidden].tanh_()
    z[:, 3 * hidden:].sigmoid_()
    return z


def gated_step(xz_t, xm_t, h, c, w_hh, w_mhh):
    """One step outside autograd.

    xz_t (B, 4H) = W_ih x + biases, xm_t (B, H) = W_mih x or None (LSTM); h, c (B, H); w_hh, w_mhh
    PreparedWeight (w_mhh None for the LSTM). Returns gates (B, 4H) after activation, n = W_mhh h (B, H)
    or None, and the new h, c."""
    compute = w_hh.dtype
    if w_mhh is not None:
        n = w_mhh(h.to(compute))  # (B, H)
        m = xm_t * n  # (B, H)
    else:
        n, m = None, h
    gates = activate_gates(w_hh(m.to(compute), add=xz_t))  # (B, 4H)
    i, f, g, o = gates.chunk(4, 1)
    c = torch.addcmul(f * c, i, g)
    h = o * torch.tanh(c)
    return gates, n, h, c


def run_inference(steps, h, c, w_hh, w_mhh, keep=None, collect_cells=False):
    """No-grad loop over an iterable of per-step inputs (xz_t,) or (xz_t, xm_t).
    Returns hs, cs (lists of (B, H)) and the final h, c."""
    hs, cs = [], []
    for t, (xz_t, *xm_t) in enumerate(steps):
        if keep is not None:
            h, c = h * keep[t], c * keep[t]
        _, _, h, c = gated_step(xz_t, xm_t[0] if xm_t else None, h, c, w_hh, w_mhh)
        hs.append(h)
        if collect_cells:
            cs.append(c)
    return hs, cs, h, c


def _preceding(first, later, keep):
    """States entering each step: [first, later[0..T-2]] (T, B, H), zeroed where keep is 0."""
    entering = torch.cat([first.unsqueeze(0), later[:-1]])
    return entering if keep is None else entering * keep


class GatedRecurrence(torch.autograd.Function):
    """(xz (T, B, 4H), xm (T, B, H) | None, h0, c0 (B, H), W_hh (4H, H), W_mhh (H, H) | None,
    keep (T, B, 1) | None, compute_dtype) -> hs, cs (T, B, H)."""

    @staticmethod
    def forward(ctx, xz, xm, h0, c0, w_hh, w_mhh, keep, compute_dtype):
        prepared_hh = PreparedWeight(w_hh.to(compute_dtype))
        prepared_mhh = PreparedWeight(w_mhh.to(compute_dtype)) if w_mhh is not None else None
        h, c = h0, c0
        hs, cs, gates, ns = [], [], [], []
        keeps = keep.unbind(0) if keep is not None else None
        xms = xm.unbind(0) if xm is not None else [None] * xz.shape[0]
        for t, (xz_t, xm_t) in enumerate(zip(xz.unbind(0), xms)):
            if keeps is not None:
                h, c = h * keeps[t], c * keeps[t]
            gates_t, n, h, c = gated_step(xz_t, xm_t, h, c, prepared_hh, prepared_mhh)
            hs.append(h)
            cs.append(c)
            gates.append(gates_t)
            ns.append(n)
        hs, cs = torch.stack(hs), torch.stack(cs)
        ctx.save_for_backward(xm, h0, c0, w_hh, w_mhh, keep, hs, cs)
        ctx.gates, ctx.ns, ctx.compute_dtype = gates, ns, compute_dtype
        return hs, cs

    @staticmethod
    def backward(ctx, grad_hs, grad_cs):
        xm, h0, c0, w_hh, w_mhh, keep, hs, cs = ctx.saved_tensors
        grad_xz = hs.new_empty(hs.shape[:2] + (4 * hs.shape[2],))  # (T, B, 4H), filled step by step
        grad_xm = torch.empty_like(hs) if xm is not None else None  # (T, B, H)
        grad_n = torch.empty_like(hs) if xm is not None else None  # (T, B, H): d(W_mhh h)
        dh, dc = _backward_through_time(ctx, grad_hs, grad_cs, grad_xz, grad_xm, grad_n)
        needs = ctx.needs_input_grad
        grad_w_hh, grad_w_mhh = _weight_gradients(ctx, grad_xz, grad_n, needs[4], needs[5])
        return grad_xz, grad_xm, dh, dc, grad_w_hh, grad_w_mhh, None, None


def _backward_through_time(ctx, grad_hs, grad_cs, grad_xz, grad_xm, grad_n):
    """Walk the steps backwards, writing dz into grad_xz (and dx̃m, dn into grad_xm, grad_n).
    Returns the gradients of h0 and c0."""
    xm, h0, c0, w_hh, w_mhh, keep, hs, cs = ctx.saved_tensors
    compute = ctx.compute_dtype
    back_hh = PreparedWeight(w_hh.t().to(compute))  # dm = dz @ W_hh
    back_mhh = PreparedWeight(w_mhh.t().to(compute)) if w_mhh is not None else None
    dh, dc = torch.zeros_like(h0), torch.zeros_like(c0)
    for t in range(hs.shape[0] - 1, -1, -1):
        if grad_hs is not None:
            dh = dh + grad_hs[t]
        if grad_cs is not None:
            dc = dc + grad_cs[t]
        c_in = cs[t - 1] if t > 0 else c0
        if keep is not None:
            c_in = c_in * keep[t]
        dc_in = _gate_backward(ctx.gates[t], cs[t], c_in, dh, dc, out=grad_xz[t])
        dm = back_hh(grad_xz[t].to(compute)).to(dh.dtype)  # (B, H)
        if back_mhh is not None:
            torch.mul(dm, ctx.ns[t], out=grad_xm[t])
            torch.mul(dm, xm[t], out=grad_n[t])
            dh_in = back_mhh(grad_n[t].to(compute)).to(dh.dtype)
        else:
            dh_in = dm
        dh, dc = (dh_in * keep[t], dc_in * keep[t]) if keep is not None else (dh_in, dc_in)
    return dh, dc


def _gate_backward(gates, c, c_in, dh, dc, out):
    """Given dL/dh' and dL/dc' (from later steps) of one step, write dL/dz (B, 4H) into `out` and
    return dL/dc entering the step. gates (B, 4H) after activation, c the step's new cell."""
    i, f, g, o = gates.chunk(4, 1)
    dz_i, dz_f, dz_g, dz_o = out.chunk(4, 1)
    tanh_c = torch.tanh(c)
    dc = dc + dh * o * (1 - tanh_c * tanh_c)
    torch.mul(dc * g, i * (1 - i), out=dz_i)
    torch.mul(dc * c_in, f * (1 - f), out=dz_f)
    torch.mul(dc * i, 1 - g * g, out=dz_g)
    torch.mul(dh * tanh_c, o * (1 - o), out=dz_o)
    return dc * f


def _weight_gradients(ctx, grad_xz, grad_n, need_hh, need_mhh):
    """dW_hh = Σ_t dz_tᵀ m_t and dW_mhh = Σ_t dn_tᵀ h_t, each as one product over all T·B rows."""
    xm, h0, c0, w_hh, w_mhh, keep, hs, cs = ctx.saved_tensors
    steps, batch, hidden = hs.shape
    rows = steps * batch
    grad_w_hh = grad_w_mhh = None
    if not (need_hh or need_mhh):
        return grad_w_hh, grad_w_mhh
    h_in = _preceding(h0, hs, keep).reshape(rows, hidden)  # states entering each step
    if need_hh:
        m = (xm * torch.stack(ctx.ns)).reshape(rows, hidden) if xm is not None else h_in
        grad_w_hh = grad_xz.view(rows, 4 * hidden).t().mm(m)  # (4H, H)
    if xm is not None and need_mhh:
        grad_w_mhh = grad_n.view(rows, hidden).t().mm(h_in)  # (H, H)
    return grad_w_hh, grad_w_mhh


def run_training(xz, xm, h0, c0, w_hh, w_mhh=None, keep=None, compute_dtype=None):
    """Differentiable loop: returns hs, cs (T, B, H). xz, xm must have h0's dtype."""
    return GatedRecurrence.apply(xz, xm, h0, c0, w_hh, w_mhh, keep, compute_dtype or h0.dtype)

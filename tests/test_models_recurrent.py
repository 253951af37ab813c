"""Recurrent layers: the fast path against the plain reference cell (outputs, gradients, float64
gradcheck), the lookup-table route, reset masks, state carrying, weight norm, and the LSTM/GRU equations
against torch.nn.LSTM / torch.nn.GRU with copied weights."""
import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.models.gated_recurrence import GatedRecurrence
from sentiment_discovery.models.gru import GRULayer
from sentiment_discovery.models.mlstm import LSTMLayer, MLSTMLayer
from sentiment_discovery.models.recurrent import StackedRNN
from sentiment_discovery.models.recurrent_layer import keep_mask

LAYERS = {"mLSTM": MLSTMLayer, "LSTM": LSTMLayer, "GRU": GRULayer}


def make_layer(kind, input_size=5, hidden=6, weight_norm=True, seed=0):
    torch.manual_seed(seed)
    return LAYERS[kind](input_size, hidden, weight_norm=weight_norm)


def random_state(layer, batch, seed=1):
    generator = torch.Generator().manual_seed(seed)
    h = torch.randn(batch, layer.hidden_size, generator=generator) * 0.5
    c = h.clone() if isinstance(layer, GRULayer) else torch.randn(batch, layer.hidden_size, generator=generator)
    return h, c


def batch_first(module, x, state=None, reset_mask=None):
    """x (B, T, I) through a layer's (or a stack's) time-major `run` -> (the last layer's outputs h
    (B, T, H), the final state)."""
    batch_size, steps = x.shape[0], x.shape[1]
    if state is None:
        state = module.init_state(batch_size, x.device, x.dtype)
    first = state[0] if isinstance(state, list) else state  # a stack's state is a list over layers
    hs, _, state = module.run(x.transpose(0, 1), state, keep_mask(reset_mask, batch_size, steps, first[0].dtype))
    return (hs[-1] if isinstance(hs, list) else hs).transpose(0, 1), state


class BatchFirst(torch.nn.Module):
    """`batch_first` as a module (for torch.func.functional_call)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return batch_first(self.inner, x)


def run_layer(layer, x, state, mask=None, impl="fast"):
    layer.impl = impl
    return batch_first(layer, x, state, mask)


@pytest.mark.parametrize("kind", LAYERS)
def test_fast_path_matches_reference_outputs_and_gradients(kind):
    layer = make_layer(kind)
    x = torch.randn(3, 7, 5)
    mask = torch.zeros(3, 7, dtype=torch.bool)
    mask[0, 3] = mask[2, 0] = True
    results = {}
    for impl in ("reference", "fast"):
        layer.zero_grad()
        x_leaf = x.clone().requires_grad_()
        h0, c0 = (t.clone().requires_grad_() for t in random_state(layer, 3))
        out, (h, c) = run_layer(layer, x_leaf, (h0, c0), mask, impl)
        loss = (out * torch.linspace(-1, 1, out.shape[-1])).sum() + (h * 0.3).sum() + (c ** 2).sum()
        loss.backward()
        grads = [x_leaf.grad, h0.grad] + [p.grad.clone() for p in layer.parameters()]
        if kind != "GRU":
            grads.append(c0.grad)
        results[impl] = (out.detach(), h.detach(), c.detach(), grads)
    for ref, fast in zip(results["reference"][:3], results["fast"][:3]):
        torch.testing.assert_close(fast, ref, atol=1e-6, rtol=1e-5)
    for ref, fast in zip(results["reference"][3], results["fast"][3]):
        torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("multiplicative", [True, False])
def test_gated_recurrence_gradcheck_float64(multiplicative):
    torch.manual_seed(0)
    steps, batch, hidden = 4, 2, 3

    def leaf(*shape, scale=1.0):
        return (torch.randn(*shape, dtype=torch.float64) * scale).requires_grad_()

    xz, h0, c0 = leaf(steps, batch, 4 * hidden), leaf(batch, hidden), leaf(batch, hidden)
    w_hh = leaf(4 * hidden, hidden, scale=0.5)
    keep = torch.ones(steps, batch, 1, dtype=torch.float64)
    keep[2, 1] = 0.0
    if multiplicative:
        inputs = (xz, leaf(steps, batch, hidden), h0, c0, w_hh, leaf(hidden, hidden, scale=0.5))
    else:
        inputs = (xz, None, h0, c0, w_hh, None)

    def run(*args):
        return GatedRecurrence.apply(*args, keep, torch.float64)

    assert torch.autograd.gradcheck(run, inputs, eps=1e-6, atol=1e-7)


def test_mlstm_layer_gradcheck_float64_through_weight_norm():
    layer = BatchFirst(make_layer("mLSTM", input_size=3, hidden=2).double())
    x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in layer.named_parameters()]
    assert any("original0" in name for name in names)  # g and v are what gets checked

    def run(x, *values):
        return torch.func.functional_call(layer, dict(zip(names, values)), (x,))[0]

    values = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())
    assert torch.autograd.gradcheck(run, (x, *values), eps=1e-6, atol=1e-7, fast_mode=True)


@pytest.mark.parametrize("kind", LAYERS)
def test_inference_path_matches_reference(kind):
    layer = make_layer(kind)
    x = torch.randn(2, 9, 5)
    state = random_state(layer, 2)
    mask = torch.zeros(2, 9, dtype=torch.bool)
    mask[1, 4] = True
    with torch.no_grad():
        ref_out, ref_state = run_layer(layer, x, state, mask, "reference")
        fast_out, fast_state = run_layer(layer, x, state, mask, "fast")
    torch.testing.assert_close(fast_out, ref_out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fast_state, ref_state, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("grad", [True, False])
def test_two_halves_with_carried_state_equal_the_whole(kind, grad):
    layer = make_layer(kind)
    x = torch.randn(2, 10, 5)
    state = random_state(layer, 2)
    with torch.set_grad_enabled(grad):
        whole, whole_state = batch_first(layer, x, state)
        first, mid_state = batch_first(layer, x[:, :4], state)
        second, end_state = batch_first(layer, x[:, 4:], mid_state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(end_state, whole_state, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_reset_mask_zeroes_state_before_marked_token(kind, impl):
    layer = make_layer(kind)
    layer.impl = impl
    x = torch.randn(2, 8, 5)
    state = random_state(layer, 2)
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[0, 5] = True
    with torch.no_grad():
        out, _ = batch_first(layer, x, state, mask)
        suffix, _ = batch_first(layer, x[:1, 5:], layer.init_state(1))
        unmasked, _ = batch_first(layer, x, state)
    torch.testing.assert_close(out[0, 5:], suffix[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out[0, :5], unmasked[0, :5])
    torch.testing.assert_close(out[1], unmasked[1])  # the other row is untouched
    assert not torch.allclose(out[0, 5:], unmasked[0, 5:])


def copy_into_torch_rnn(layer, torch_rnn):
    with torch.no_grad():
        torch_rnn.weight_ih_l0.copy_(layer.w_ih.weight)
        torch_rnn.weight_hh_l0.copy_(layer.w_hh.weight)
        torch_rnn.bias_ih_l0.copy_(layer.w_ih.bias)
        torch_rnn.bias_hh_l0.copy_(layer.w_hh.bias)


@pytest.mark.parametrize("weight_norm", [True, False])
@pytest.mark.parametrize("grad", [True, False])
def test_lstm_layer_equals_torch_lstm(weight_norm, grad):
    layer = make_layer("LSTM", weight_norm=weight_norm)
    reference = torch.nn.LSTM(5, 6, batch_first=True)
    copy_into_torch_rnn(layer, reference)
    x = torch.randn(3, 6, 5)
    h0, c0 = random_state(layer, 3)
    with torch.set_grad_enabled(grad):
        out, (h, c) = batch_first(layer, x, (h0, c0))
        expected, (h_ref, c_ref) = reference(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(c, c_ref[0], atol=1e-6, rtol=1e-5)


def test_gru_layer_equals_torch_gru():
    layer = make_layer("GRU")
    reference = torch.nn.GRU(5, 6, batch_first=True)
    copy_into_torch_rnn(layer, reference)
    x = torch.randn(3, 6, 5)
    h0, _ = random_state(layer, 3)
    for impl in ("fast", "reference"):
        out, (h, c) = run_layer(layer, x, (h0, h0), impl=impl)
        expected, h_ref = reference(x, h0.unsqueeze(0))
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
        assert h is c


def test_weight_norm_on_and_off():
    normed = make_layer("mLSTM", weight_norm=True)
    plain = make_layer("mLSTM", weight_norm=False)
    normed_names = {name for name, _ in normed.named_parameters()}
    assert "w_mhh.parametrizations.weight.original0" in normed_names  # g, per output row
    assert normed.w_mhh.parametrizations.weight.original0.shape == (6, 1)
    assert {name for name, _ in plain.named_parameters()} >= {"w_ih.weight", "w_mih.weight", "w_mhh.weight"}
    # effective weight = g * v / ||v|| per row; scaling v leaves it unchanged
    with torch.no_grad():
        before = normed.w_hh.weight.clone()
        normed.w_hh.parametrizations.weight.original1.mul_(3.0)
    torch.testing.assert_close(normed.w_hh.weight, before)
    # the same effective weights give the same outputs with and without weight norm
    for name in ("w_ih", "w_hh", "w_mih", "w_mhh"):
        getattr(plain, name).weight = getattr(normed, name).weight.detach().clone()
        if getattr(normed, name).bias is not None:
            getattr(plain, name).bias = torch.nn.Parameter(getattr(normed, name).bias.detach().clone())
    x = torch.randn(2, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(batch_first(normed, x)[0], batch_first(plain, x)[0], atol=1e-6, rtol=1e-5)


def test_assigned_weights_are_picked_up_by_the_cached_fast_path():
    layer = make_layer("mLSTM")
    x = torch.randn(2, 4, 5)
    with torch.no_grad():
        before, _ = batch_first(layer, x)
        layer.w_mhh.weight = torch.randn(6, 6)  # importer-style assignment of the effective weight
        after_fast, _ = batch_first(layer, x)
        layer.impl = "reference"
        after_ref, _ = batch_first(layer, x)
    assert not torch.allclose(before, after_fast)
    torch.testing.assert_close(after_fast, after_ref, atol=1e-6, rtol=1e-5)


def test_in_place_updates_are_picked_up_by_the_cached_fast_path():
    layer = make_layer("LSTM", weight_norm=False)
    x = torch.randn(2, 4, 5)
    with torch.no_grad():
        batch_first(layer, x)
        layer.w_hh.weight.mul_(-2.0)  # like an optimizer step
        fast, _ = batch_first(layer, x)
        layer.impl = "reference"
        ref, _ = batch_first(layer, x)
    torch.testing.assert_close(fast, ref, atol=1e-6, rtol=1e-5)


def test_weight_assignment_with_wrong_shape_is_a_user_error():
    layer = make_layer("mLSTM")
    with pytest.raises(UserError, match="does not fit"):
        layer.w_hh.weight = torch.randn(3, 3)


def test_bf16_autocast_inference_is_close_to_float32():
    layer = make_layer("mLSTM", input_size=16, hidden=32)
    x = torch.randn(2, 6, 16)
    with torch.no_grad():
        full, _ = batch_first(layer, x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low, (h, _) = batch_first(layer, x)
    assert low.dtype == torch.float32 and h.dtype == torch.float32
    torch.testing.assert_close(low, full, atol=3e-2, rtol=0)


def test_stacked_rnn_dropout_only_in_training():
    torch.manual_seed(0)
    rnn = StackedRNN("mLSTM", 5, 6, num_layers=2, dropout=0.5)
    x = torch.randn(2, 4, 5)
    with torch.no_grad():
        rnn.train()
        assert not torch.allclose(batch_first(rnn, x)[0], batch_first(rnn, x)[0])
        rnn.eval()
        torch.testing.assert_close(batch_first(rnn, x)[0], batch_first(rnn, x)[0])


def test_unknown_cell_type_is_a_user_error():
    with pytest.raises(UserError, match="unknown recurrent model 'RNN'"):
        StackedRNN("RNN", 5, 6)

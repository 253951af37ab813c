"""The recurrent language model: shapes, state, trace, the lookup-table route, configs and bad input."""
import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.models.language_model import RecurrentLM, recurrent_config
from sentiment_discovery.models.kinds import build_language_model


def tiny_lm(model="mLSTM", nlayers=2, seed=0, **overrides):
    torch.manual_seed(seed)
    config = recurrent_config(model=model, vocab_size=257, emsize=8, nhid=12, nlayers=nlayers)
    config.update(overrides)
    return build_language_model(config)


def tokens(batch=3, steps=9, seed=0):
    return torch.randint(1, 257, (batch, steps), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("model", ["mLSTM", "LSTM", "GRU"])
def test_shapes_of_forward_trace_and_state(model):
    lm = tiny_lm(model)
    logits, state = lm(tokens())
    assert logits.shape == (3, 9, 257) and logits.is_contiguous()
    assert len(state) == 2 and all(h.shape == (3, 12) and c.shape == (3, 12) for h, c in state)
    states, _ = lm.trace(tokens())
    assert set(states) == {"h", "c"}
    assert [s.shape for s in states["h"] + states["c"]] == [(3, 9, 12)] * 4
    torch.testing.assert_close(states["h"][-1][:, -1], state[-1][0])
    assert lm.config == recurrent_config(model=model, vocab_size=257, emsize=8, nhid=12, nlayers=2)


@pytest.mark.parametrize("model", ["mLSTM", "GRU"])
def test_lookup_table_route_matches_reference_cell(model):
    lm = tiny_lm(model).eval()
    batch = tokens()
    mask = torch.zeros(3, 9, dtype=torch.bool)
    mask[2, 6] = True
    with torch.no_grad():
        assert lm._input_table(lm.init_state(3)) is not None  # the table route is what runs below
        fast_logits, fast_state = lm(batch, reset_mask=mask)
        fast_trace, _ = lm.trace(batch, reset_mask=mask)
        lm.rnn.impl = "reference"
        ref_logits, ref_state = lm(batch, reset_mask=mask)
        ref_trace, _ = lm.trace(batch, reset_mask=mask)
    torch.testing.assert_close(fast_logits, ref_logits, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fast_state, ref_state, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fast_trace, ref_trace, atol=1e-6, rtol=1e-5)


def test_lookup_table_is_rebuilt_when_the_embedding_changes():
    lm = tiny_lm().eval()
    with torch.no_grad():
        lm(tokens())
        lm.embedding.weight.mul_(0.5)
        fast, _ = lm(tokens())
        lm.rnn.impl = "reference"
        ref, _ = lm(tokens())
    torch.testing.assert_close(fast, ref, atol=1e-6, rtol=1e-5)


def test_training_gradients_match_reference_cell():
    lm = tiny_lm(nlayers=2)
    batch = tokens()
    grads = {}
    for impl in ("reference", "fast"):
        lm.zero_grad()
        lm.rnn.impl = impl
        logits, _ = lm(batch)
        torch.nn.functional.cross_entropy(logits.reshape(-1, 257), batch.roll(-1, 1).reshape(-1)).backward()
        grads[impl] = {name: p.grad.clone() for name, p in lm.named_parameters()}
    for name, grad in grads["reference"].items():
        torch.testing.assert_close(grads["fast"][name], grad, atol=1e-6, rtol=1e-5)


def test_halves_with_carried_state_equal_whole_sequence():
    lm = tiny_lm().eval()
    batch = tokens(steps=12)
    with torch.no_grad():
        whole, _ = lm(batch)
        first, state = lm(batch[:, :5])
        second, _ = lm(batch[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-6, rtol=1e-5)


def test_reset_mask_equals_restarting_from_zero_state():
    lm = tiny_lm().eval()
    batch = tokens(steps=10)
    mask = torch.zeros(3, 10, dtype=torch.bool)
    mask[1, 4] = True
    with torch.no_grad():
        masked, _ = lm(batch, reset_mask=mask)
        restarted, _ = lm(batch[1:2, 4:])
    torch.testing.assert_close(masked[1, 4:], restarted[0], atol=1e-6, rtol=1e-5)


def test_frozen_encoder_under_grad_mode_takes_the_inference_path():
    lm = tiny_lm().eval()
    reference, _ = lm(tokens())
    lm.requires_grad_(False)
    assert lm._input_table(lm.init_state(3)) is not None
    frozen, _ = lm(tokens())
    assert not frozen.requires_grad
    torch.testing.assert_close(frozen, reference.detach(), atol=1e-6, rtol=1e-5)
    state = [(h.requires_grad_(), c) for h, c in lm.init_state(3)]
    assert lm._input_table(state) is None  # a state that needs grad keeps the graph


def test_init_and_detach_state():
    lm = tiny_lm()
    state = lm.init_state(4)
    assert all(h.abs().sum() == 0 and h.shape == (4, 12) for h, _ in state)
    _, state = lm(tokens(batch=4))
    assert state[0][0].requires_grad
    detached = lm.detach_state(state)
    assert not any(h.requires_grad or c.requires_grad for h, c in detached)


def test_tied_decoder_shares_the_embedding():
    lm = tiny_lm(nlayers=1, emsize=12, tied=True)
    assert lm.decoder.weight is lm.embedding.weight
    with pytest.raises(UserError, match="emsize == nhid"):
        tiny_lm(tied=True)


def test_build_rejects_bad_configs():
    with pytest.raises(UserError, match="unknown model 'RNN'"):
        build_language_model({"model": "RNN"})
    with pytest.raises(UserError, match="lacks nhid"):
        build_language_model({"model": "mLSTM", "vocab_size": 257, "emsize": 8, "nlayers": 1})
    with pytest.raises(UserError, match="nhid must be a positive integer"):
        build_language_model(recurrent_config(nhid=0))


def test_tokens_outside_the_vocabulary_are_a_user_error():
    lm = tiny_lm()
    with pytest.raises(UserError, match="token id 300 is outside the model's vocabulary of 257"):
        lm(torch.tensor([[1, 300]]))
    with pytest.raises(UserError, match=r"\(batch, time\)"):
        lm(torch.tensor([1, 2]))


def test_state_dict_round_trip_rebuilds_the_same_model():
    lm = tiny_lm("LSTM").eval()
    again = RecurrentLM(dict(lm.config)).eval()
    again.load_state_dict(lm.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(again(tokens())[0], lm(tokens())[0])


def test_deepcopy_after_inference_gives_an_independent_model():
    import copy

    lm = tiny_lm().eval()
    with torch.no_grad():
        before, _ = lm(tokens())  # fills the packed-weight and lookup-table caches
        twin = copy.deepcopy(lm)
        twin.rnn.layers[0].w_mhh.weight = torch.zeros(12, 12)
        torch.testing.assert_close(lm(tokens())[0], before)
        assert not torch.allclose(twin(tokens())[0], before)

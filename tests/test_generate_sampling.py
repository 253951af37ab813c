"""Tests of the token-choice rules: greedy, temperature, top-k and top-p (nucleus) sampling."""
import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.generation.sampling import (SamplingOptions, next_token_distribution, sample_next,
                                                      top_k_filter, top_p_filter)


def draws(logits, options, n, seed=0):
    """n draws for each row of logits (B, V) -> (n, B) token ids."""
    generator = torch.Generator().manual_seed(seed)
    return torch.stack([sample_next(logits, options, generator) for _ in range(n)])


def test_greedy_is_the_argmax_of_each_row():
    logits = torch.tensor([[0.1, 2.0, -1.0, 1.9], [5.0, 0.0, 0.0, 0.0]])
    picked = sample_next(logits, SamplingOptions(temperature=0.0, top_k=1, top_p=0.1))
    assert picked.tolist() == [1, 0]


def test_a_token_outside_top_k_is_never_drawn():
    torch.manual_seed(0)
    logits = torch.randn(3, 20)
    allowed = torch.topk(logits, 4, dim=-1).indices  # (3, 4)
    picked = draws(logits, SamplingOptions(temperature=2.0, top_k=4), 600)  # (600, 3)
    for row in range(3):
        drawn = set(picked[:, row].tolist())
        assert drawn <= set(allowed[row].tolist())
        assert len(drawn) == 4  # at temperature 2 every kept token turns up in 600 draws


def test_top_k_filter_keeps_exactly_k_tokens():
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0, -1.0]])
    kept = torch.isfinite(top_k_filter(logits, 2))
    assert kept.tolist() == [[True, False, True, False, False]]
    assert torch.equal(top_k_filter(logits, 0), logits)


@pytest.mark.parametrize("p, expected", [
    (0.5, {0}),           # 0.5 alone reaches 0.5
    (0.51, {0, 1}),       # 0.5 + 0.25 = 0.75 is the first mass >= 0.51
    (0.75, {0, 1}),
    (0.8, {0, 1, 2}),     # 0.875
    (0.9, {0, 1, 2, 3}),      # 0.9375
    (0.95, {0, 1, 2, 3, 4}),
    (1.0, {0, 1, 2, 3, 4}),
])
def test_top_p_keeps_the_smallest_set_whose_mass_reaches_p(p, expected):
    probs = torch.tensor([[0.5, 0.25, 0.125, 0.0625, 0.0625]])
    permutation = torch.tensor([3, 0, 4, 2, 1])  # shuffle the vocabulary so order is not a shortcut
    logits = probs.log()[:, permutation]
    kept = torch.isfinite(top_p_filter(logits, p))[0]
    kept_original_ids = {int(permutation[i]) for i in torch.nonzero(kept).flatten()}
    assert kept_original_ids == expected


def test_top_p_sampling_draws_only_from_the_nucleus_with_renormalised_probabilities():
    probs = torch.tensor([[0.6, 0.3, 0.06, 0.04]])
    options = SamplingOptions(temperature=1.0, top_p=0.85)
    distribution = next_token_distribution(probs.log(), options)[0]
    assert torch.allclose(distribution, torch.tensor([2 / 3, 1 / 3, 0.0, 0.0]), atol=1e-6)
    picked = draws(probs.log(), options, 3000)[:, 0]
    assert set(picked.tolist()) == {0, 1}
    assert abs((picked == 0).float().mean().item() - 2 / 3) < 0.04


def test_temperature_sharpens_and_flattens_the_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    cold = next_token_distribution(logits, SamplingOptions(temperature=0.5))[0]
    warm = next_token_distribution(logits, SamplingOptions(temperature=1.0))[0]
    hot = next_token_distribution(logits, SamplingOptions(temperature=4.0))[0]
    assert torch.allclose(cold, torch.softmax(logits[0] / 0.5, dim=0))
    assert cold[0] > warm[0] > hot[0]


def test_sampling_with_the_same_seed_repeats():
    logits = torch.randn(2, 30)
    options = SamplingOptions(temperature=1.0, top_k=10, top_p=0.9)
    assert torch.equal(draws(logits, options, 50, seed=7), draws(logits, options, 50, seed=7))
    assert not torch.equal(draws(logits, options, 50, seed=7), draws(logits, options, 50, seed=8))


@pytest.mark.parametrize("kwargs, flag", [
    ({"temperature": -0.1}, "--temperature"), ({"top_k": -1}, "--top-k"),
    ({"top_p": 0.0}, "--top-p"), ({"top_p": 1.5}, "--top-p"), ({"temperature": float("nan")}, "--temperature"),
])
def test_bad_sampling_options_are_one_line_errors(kwargs, flag):
    with pytest.raises(UserError, match=flag) as caught:
        SamplingOptions(**kwargs)
    assert "\n" not in str(caught.value)

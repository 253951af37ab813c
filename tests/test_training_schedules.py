"""Schedules on LambdaLR (training/schedules.py): exact learning rates at chosen iterations for every decay
style and resume from a saved state. (Old AnnealingLR states: checkpoint.upgrade, tests/test_checkpoint.py.)"""
import math

import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.training.schedules import LRFactor, build_schedule


def _optimizer(lr=1.0, groups=None):
    model = torch.nn.Linear(2, 2)
    params = groups(model) if groups else model.parameters()
    return torch.optim.SGD(params, lr=lr)


def _lrs_at(scheduler, iterations):
    """The LR at each of the (increasing) iterations, stepping the schedule forward to it."""
    lrs = {}
    for t in iterations:
        while scheduler.last_epoch < t:
            scheduler.step()
        lrs[t] = scheduler.lr
    return lrs


def _step(scheduler):
    scheduler.step()
    return scheduler.lr


def test_linear_with_warmup():
    scheduler = build_schedule(_optimizer(), num_iters=10, warmup=2, decay_style="linear")
    assert scheduler.lr == 0.0                      # iteration 0: warm-up starts from zero
    lrs = _lrs_at(scheduler, [1, 2, 6, 10, 12])
    assert lrs == pytest.approx({1: 0.5, 2: 1.0, 6: 0.5, 10: 0.0, 12: 0.0}, abs=1e-12)


def test_cosine_without_warmup():
    scheduler = build_schedule(_optimizer(2.0), num_iters=4, decay_style="cosine")
    assert scheduler.lr == 2.0
    lrs = _lrs_at(scheduler, [1, 2, 4, 9])
    expected = {1: 1.0 + math.cos(math.pi / 4), 2: 1.0, 4: 0.0, 9: 0.0}
    assert lrs == pytest.approx(expected, abs=1e-12)


def test_exponential_reaches_its_final_ratio():
    scheduler = build_schedule(_optimizer(), num_iters=10, decay_style="exponential")
    assert _lrs_at(scheduler, [5, 10, 20]) == pytest.approx({5: 0.1, 10: 0.01, 20: 0.01})


@pytest.mark.parametrize("style", ["constant", "Constant"])
def test_constant_after_warmup(style):
    scheduler = build_schedule(_optimizer(), num_iters=100, warmup=4, decay_style=style)
    assert _lrs_at(scheduler, [2, 4, 100, 500]) == {2: 0.5, 4: 1.0, 100: 1.0, 500: 1.0}


def test_constant_decay_sets_the_decay_horizon_after_warmup():
    scheduler = build_schedule(_optimizer(), num_iters=100, warmup=2, decay_style="linear", constant_decay=4)
    assert _lrs_at(scheduler, [2, 4, 6, 50]) == pytest.approx({2: 1.0, 4: 0.5, 6: 0.0, 50: 0.0})


def test_cos_cut_frac_warms_up_then_cosine_decays_to_zero():
    scheduler = build_schedule(_optimizer(), num_iters=100, cos_cut_frac=0.1)
    assert scheduler.factor.warmup == 10 and scheduler.factor.decay_style == "cosine"
    lrs = _lrs_at(scheduler, [5, 10, 55, 100])
    assert lrs == pytest.approx({5: 0.5, 10: 1.0, 55: 0.5, 100: 0.0}, abs=1e-12)


def test_slanted_triangular():
    scheduler = build_schedule(_optimizer(), num_iters=100, decay_style="stlr", stlr_cut_frac=0.1)
    assert scheduler.lr == pytest.approx(1 / 32)
    lrs = _lrs_at(scheduler, [5, 10, 55, 100, 150])
    half = (1 + 0.5 * 31) / 32
    assert lrs == pytest.approx({5: half, 10: 1.0, 55: half, 100: 1 / 32, 150: 1 / 32})


def test_the_floor_bounds_the_decay_but_not_the_warmup():
    factor = LRFactor(num_iters=10, warmup=2, decay_style="linear", floor=0.1)
    assert [factor(t) for t in (0, 1, 9, 10)] == pytest.approx([0.0, 0.5, 0.125, 0.1])


def test_step_advances_one_iteration_and_sets_the_optimizer_lr():
    optimizer = _optimizer()
    scheduler = build_schedule(optimizer, num_iters=4, warmup=0, decay_style="linear")
    assert [_step(scheduler) for _ in range(4)] == pytest.approx([0.75, 0.5, 0.25, 0.0])
    assert scheduler.last_epoch == 4
    assert optimizer.param_groups[0]["lr"] == 0.0


def test_groups_keep_their_ratio_unless_start_lr_is_given():
    def groups(m):
        return [{"params": [m.weight], "lr": 1.0}, {"params": [m.bias], "lr": 0.1}]
    optimizer = _optimizer(groups=groups)
    scheduler = build_schedule(optimizer, num_iters=10, decay_style="linear")
    _lrs_at(scheduler, [5])
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.5, 0.05])
    optimizer = _optimizer(groups=groups)
    build_schedule(optimizer, num_iters=10, start_lr=2.0, decay_style="linear")
    assert [g["lr"] for g in optimizer.param_groups] == [2.0, 2.0]


def test_state_dict_is_plain_data_and_resumes_the_same_schedule():
    scheduler = build_schedule(_optimizer(), num_iters=20, warmup=3, decay_style="cosine")
    for _ in range(7):
        scheduler.step()
    state = scheduler.state_dict()
    assert all(isinstance(v, (int, float, str, list, type(None))) for v in state.values())
    expected = [_step(scheduler) for _ in range(5)]
    optimizer = _optimizer(lr=123.0)
    resumed = build_schedule(optimizer, num_iters=999, decay_style="linear")
    resumed.load_state_dict(state)
    assert resumed.last_epoch == 7 and resumed.factor.decay_style == "cosine"
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 17)))
    assert [_step(resumed) for _ in range(5)] == pytest.approx(expected)


def test_state_dict_saved_with_torch_loads_with_weights_only(tmp_path):
    scheduler = build_schedule(_optimizer(), num_iters=20, decay_style="stlr", stlr_cut_frac=0.2)
    torch.save(scheduler.state_dict(), tmp_path / "s.pt")
    assert torch.load(tmp_path / "s.pt", weights_only=True) == scheduler.state_dict()


@pytest.mark.parametrize("kwargs, words", [
    ({"decay_style": "triangle"}, "triangle"),
    ({"cos_cut_frac": 0.1, "stlr_cut_frac": 0.1}, "not both"),
    ({"cos_cut_frac": 0.1, "warmup": 5}, "warmup"),
    ({"decay_style": "stlr"}, "--stlr-cut-frac"),
    ({"stlr_cut_frac": 0.1, "warmup": 3}, "warmup"),
    ({"stlr_cut_frac": 1.5}, "--stlr-cut-frac"),
    ({"num_iters": 0}, "iterations"),
    ({"warmup": -1}, "warmup"),
])
def test_bad_settings_are_one_line_user_errors(kwargs, words):
    settings = {"num_iters": 10, **kwargs}
    with pytest.raises(UserError, match=words) as err:
        build_schedule(_optimizer(), **settings)
    assert "\n" not in str(err.value)


def test_loading_a_state_for_other_param_groups_is_a_user_error():
    state = build_schedule(_optimizer(), num_iters=10).state_dict()
    two_groups = _optimizer(groups=lambda m: [{"params": [m.weight]}, {"params": [m.bias]}])
    with pytest.raises(UserError, match="parameter groups"):
        build_schedule(two_groups, num_iters=10).load_state_dict(state)

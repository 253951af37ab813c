"""Optimizer lookup by name."""
import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.training.optim import OPTIMIZERS, build_optimizer


def _params():
    return torch.nn.Linear(3, 2).parameters()


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_name_builds_its_class(name):
    optimizer = build_optimizer(name, _params(), lr=0.01)
    assert type(optimizer) is OPTIMIZERS[name]
    assert optimizer.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize("spelling", ["adam", "ADAM", "Adam", "aDaM"])
def test_lookup_ignores_letter_case(spelling):
    assert type(build_optimizer(spelling, _params(), lr=1e-3)) is torch.optim.Adam


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UserError) as err:
        build_optimizer("Adamm", _params(), lr=1e-3)
    message = str(err.value)
    assert "Adamm" in message and "AdamW" in message and "RMSprop" in message
    assert "\n" not in message


def test_code_in_the_name_is_not_evaluated():
    with pytest.raises(UserError):
        build_optimizer("SGD(__import__('os'))", _params(), lr=1e-3)


def test_weight_decay_reaches_the_optimizer():
    optimizer = build_optimizer("sgd", _params(), lr=0.1, weight_decay=0.01)
    assert optimizer.param_groups[0]["weight_decay"] == 0.01


def test_param_groups_are_accepted():
    model = torch.nn.Linear(3, 2)
    groups = [{"params": [model.weight], "lr": 0.5}, {"params": [model.bias]}]
    optimizer = build_optimizer("Adam", groups, lr=0.1)
    assert [g["lr"] for g in optimizer.param_groups] == [0.5, 0.1]


@pytest.mark.parametrize("kwargs", [{"lr": -1.0}, {"lr": 0.1, "weight_decay": -0.5}])
def test_negative_settings_are_user_errors(kwargs):
    with pytest.raises(UserError):
        build_optimizer("Adam", _params(), **kwargs)


def test_no_parameters_is_a_user_error():
    with pytest.raises(UserError, match="no parameters"):
        build_optimizer("Adam", [], lr=0.1)

"""Optimizers by name: the `--optim` flag's lookup table and a builder.

    optimizer = build_optimizer("Adam", model.parameters(), lr=5e-4, weight_decay=0.0)

Names are matched case-insensitively against `OPTIMIZERS` (never `eval`-ed); an unknown name is a
`UserError` that lists the known ones. Extra keyword arguments go straight to the torch optimizer
(e.g. `betas=(0.9, 0.98)`, `momentum=0.9`)."""
import torch

from ..errors import UserError

OPTIMIZERS = {
    "Adam": torch.optim.Adam,
    "AdamW": torch.optim.AdamW,
    "SGD": torch.optim.SGD,
    "Adagrad": torch.optim.Adagrad,
    "RMSprop": torch.optim.RMSprop,
    "Adamax": torch.optim.Adamax,
}


def optimizer_class(name):
    """The torch optimizer class called `name` (any letter case)."""
    by_lower_name = {known.lower(): cls for known, cls in OPTIMIZERS.items()}
    cls = by_lower_name.get(str(name).lower())
    if cls is None:
        raise UserError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    return cls


def build_optimizer(name, params, lr, weight_decay=0.0, **kwargs):
    """Build the optimizer `name` over `params` (an iterable of tensors or of param-group dicts)."""
    if lr < 0:
        raise UserError(f"learning rate must be >= 0, got {lr}")
    if weight_decay < 0:
        raise UserError(f"weight decay must be >= 0, got {weight_decay}")
    cls = optimizer_class(name)
    params = list(params)
    if not params:
        raise UserError(f"optimizer {name} was given no parameters to train")
    return cls(params, lr=lr, weight_decay=weight_decay, **kwargs)

"""Optimizers by name: the `--optim` flag's lookup table (matched case-insensitively, never `eval`-ed) and a
builder; layer-wise learning-rate groups."""
import re

import torch

from ..errors import UserError

LAYER_INDEX = re.compile(r"\blayers?\.(\d+)\.")

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


def build_optimizer(name, params, lr, weight_decay=0.0):
    """Build the optimizer `name` over `params` (an iterable of tensors or of param-group dicts)."""
    if lr < 0:
        raise UserError(f"learning rate must be >= 0, got {lr}")
    if weight_decay < 0:
        raise UserError(f"weight decay must be >= 0, got {weight_decay}")
    cls = optimizer_class(name)
    params = list(params)
    if not params:
        raise UserError(f"optimizer {name} was given no parameters to train")
    return cls(params, lr=lr, weight_decay=weight_decay)


def layer_decayed_groups(named_parameters, lr, decay):
    """Parameter groups for layer-wise learning-rate decay (ULMFiT's discriminative fine-tuning, Howard &
    Ruder 2018): depth from the parameter's name, embeddings at the bottom, numbered layers (`layer.3.`,
    `layers.3.`) above them, everything else (head, final norm, LM decoder) at the top, which trains at `lr`;
    each depth below trains at `decay` times the one above. With `decay` 1: one group of every parameter."""
    named = [(name, param) for name, param in named_parameters if param.requires_grad]
    if decay == 1.0:
        return [param for _, param in named]
    depths = {}
    for name, _ in named:
        match = LAYER_INDEX.search(name)
        depths[name] = int(match.group(1)) + 1 if match else (0 if "embed" in name else None)
    top = max([depth for depth in depths.values() if depth is not None], default=0) + 1
    groups = {}
    for name, param in named:
        groups.setdefault(top if depths[name] is None else depths[name], []).append(param)
    return [{"params": params, "lr": lr * decay ** (top - depth)} for depth, params in sorted(groups.items())]

"""Train / validation / test splits: the original's `--split 1000,1,1` and a deterministic cut.

`parse_split("1000,1,1")` -> [1000/1002, 1/1002, 1/1002]; `".9,.1"` -> [0.9, 0.1, 0.0] (padded to
three). `split_dataset(ds, fractions, seed)` shuffles the row order with `seed` and cuts it at
round(cumulative fraction x N), so the parts add up to N exactly; a part may be empty.
"""
import numpy as np

from ...errors import UserError

N_PARTS = 3


def parse_split(text) -> list[float]:
    """Comma-separated non-negative weights -> 3 fractions summing to 1 (train, val, test)."""
    pieces = [piece.strip() for piece in str(text).split(",")]
    try:
        weights = [float(piece) for piece in pieces]
    except ValueError:
        raise UserError(f"split {text!r} does not parse: expected up to three comma-separated numbers "
                        "such as 1000,1,1 or .9,.1") from None
    if len(weights) > N_PARTS:
        raise UserError(f"split {text!r} has {len(weights)} parts; at most {N_PARTS} (train, val, test)")
    if any(not np.isfinite(w) or w < 0 for w in weights):
        raise UserError(f"split {text!r} has a negative or non-finite weight")
    total = sum(weights)
    if total <= 0:
        raise UserError(f"split {text!r} sums to 0; at least one part must be positive")
    weights += [0.0] * (N_PARTS - len(weights))
    return [w / total for w in weights]


def split_indices(n_rows, fractions, seed):
    """Row indices of each part: a seeded permutation cut at the cumulative fractions (`parse_split`'s)."""
    fractions = np.asarray(fractions, dtype=np.float64)
    order = np.random.default_rng(seed).permutation(n_rows)  # (n_rows,)
    cuts = np.round(np.cumsum(fractions / fractions.sum()) * n_rows).astype(np.int64)
    cuts[-1] = n_rows
    return np.split(order, cuts[:-1])


def split_dataset(ds, fractions, seed) -> list:
    """`ds` cut into (train, val, test) TextDatasets after a deterministic shuffle."""
    parts = split_indices(len(ds), fractions, seed)
    names = ("train", "val", "test")
    return [ds.subset(rows, source=f"{ds.source} ({name} split)") for name, rows in zip(names, parts)]

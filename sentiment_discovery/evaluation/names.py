"""The metric names every scorer and threshold search accepts, and the original's short aliases."""
from ..errors import UserError

METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "jaccard", "mcc")
METRIC_ALIASES = {"acc": "accuracy", "jacc": "jaccard", "prec": "precision", "rec": "recall"}


def canonical_metric(name: str) -> str:
    """Map a metric name or the original's short alias (acc, jacc) to its full name."""
    full = METRIC_ALIASES.get(str(name).lower(), str(name).lower())
    if full not in METRIC_NAMES:
        known = ", ".join(METRIC_NAMES + tuple(METRIC_ALIASES))
        raise UserError(f"unknown metric {name!r}; choose one of: {known}")
    return full

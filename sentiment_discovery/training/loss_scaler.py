"""Loss scalers for `--fp16` training (the original codebase's recipe, after Micikevicius et al. 2018,
"Mixed Precision Training", arXiv 1710.03740).

The loss is multiplied by `loss_scale` before backward so small fp16 gradients do not flush to zero;
the optimizer divides the gradients by it again. After each step the optimizer reports whether the
gradients overflowed (held an inf or nan) with `update(overflow)`:

- `StaticLossScaler(scale)`: the scale never changes (an overflowed step is still skipped).
- `DynamicLossScaler(init_scale=2**32, scale_factor=2, scale_window=1000, min_scale=1)`: on overflow
  the scale is divided by `scale_factor` (never below `min_scale`) and the step is skipped; after
  `scale_window` clean steps in a row it is multiplied by `scale_factor`.

Both count `skipped_steps` and have `state_dict()/load_state_dict()` of plain numbers."""
import logging

from ..errors import UserError

logger = logging.getLogger(__name__)


class StaticLossScaler:
    """A fixed loss scale."""

    dynamic = False

    def __init__(self, scale=1.0):
        if not scale > 0:
            raise UserError(f"loss scale must be > 0, got {scale}")
        self.loss_scale = float(scale)
        self.skipped_steps = 0

    def update(self, overflow):
        """Record one step's outcome; an overflowed step counts as skipped."""
        if overflow:
            self.skipped_steps += 1
            logger.info("gradient overflow: skipping step (static loss scale %g)", self.loss_scale)

    def state_dict(self):
        return {"loss_scale": self.loss_scale, "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state):
        self.skipped_steps = int(state.get("skipped_steps", 0))


class DynamicLossScaler:
    """A loss scale that halves on overflow and doubles after `scale_window` clean steps."""

    dynamic = True

    def __init__(self, init_scale=2.0 ** 32, scale_factor=2.0, scale_window=1000, min_scale=1.0):
        if not init_scale > 0 or not scale_factor > 1 or scale_window < 1 or not min_scale > 0:
            raise UserError("dynamic loss scaler needs init_scale > 0, scale_factor > 1, "
                            "scale_window >= 1 and min_scale > 0")
        self.loss_scale = float(init_scale)
        self.scale_factor = float(scale_factor)
        self.scale_window = int(scale_window)
        self.min_scale = float(min_scale)
        self.clean_steps = 0
        self.skipped_steps = 0

    def update(self, overflow):
        """Lower the scale after an overflow; raise it after `scale_window` clean steps in a row."""
        if overflow:
            old_scale = self.loss_scale
            self.loss_scale = max(self.loss_scale / self.scale_factor, self.min_scale)
            self.clean_steps = 0
            self.skipped_steps += 1
            logger.info("gradient overflow: skipping step, loss scale %g -> %g", old_scale, self.loss_scale)
            return
        self.clean_steps += 1
        if self.clean_steps >= self.scale_window:
            self.loss_scale *= self.scale_factor
            self.clean_steps = 0

    _STATE_KEYS = ("loss_scale", "scale_factor", "scale_window", "min_scale", "clean_steps", "skipped_steps")

    def state_dict(self):
        return {key: getattr(self, key) for key in self._STATE_KEYS}

    def load_state_dict(self, state):
        for key in self._STATE_KEYS:
            if key in state:
                setattr(self, key, type(getattr(self, key))(state[key]))

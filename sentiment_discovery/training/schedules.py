"""Learning-rate schedules: `AnnealingLR`, the original codebase's warm-up + decay scheduler.

    scheduler = AnnealingLR(optimizer, start_lr=5e-4, num_iters=10000, warmup=100,
                            decay_style="cosine")
    for ...:
        ...; optimizer.step(); scheduler.step()

Iteration t counts completed optimizer steps (0 before the first). The LR used at iteration t is:

- warm-up (t <= warmup): linear from 0, `start_lr * t / warmup`.
- decay phase: progress p = min((t - warmup) / D, 1), where the decay horizon D is
  `constant_decay` when given, else `num_iters - warmup`. Then by `decay_style`:
    constant     start_lr
    linear       start_lr * (1 - p)
    cosine       start_lr * (1 + cos(pi * p)) / 2
    exponential  start_lr * exp_final_ratio ** p          (exp_final_ratio = LR fraction left at p = 1)
  and the result is floored at `min_lr` (default 0). After the horizon the LR stays at its end value.
- `constant_decay=N` keeps the original's meaning: decay over N iterations (after warm-up) instead of
  over the whole run ("number of iterations to decay LR over, None means decay to zero over training").
- `cos_cut_frac=c` is finetuning's cosine variant: warm-up over the first `int(c * num_iters)`
  iterations, then cosine decay to 0 at `num_iters` (it overrides `decay_style`; `warmup` must be 0).
  `stlr_cut_frac` likewise selects "stlr" whatever `decay_style` says.
- "stlr": ULMFiT's slanted triangular LR (Howard & Ruder 2018, arXiv 1801.06146) with
  cut = floor(num_iters * stlr_cut_frac): p = t / cut while t < cut, then
  p = 1 - (t - cut) / (num_iters - cut) (floored at 0); lr = start_lr * (1 + p * (ratio - 1)) / ratio.
  It has its own ramp, so `warmup` must be 0.

Differences from the original `AnnealingLR`: its decay progress was (t - warmup) / num_iters, so with a
warm-up the LR never reached zero at the end and a cosine past the horizon rose again; here the decay
ends exactly at `num_iters` (or `warmup + constant_decay`) and then holds. Its "exponential" was a
to-do that returned `start_lr`; here it is a real exponential decay.

With several parameter groups, each group's LR is its own base LR (its "lr" when the scheduler is
built, or `start_lr` for all groups when that is given) times the same schedule factor.
`state_dict()` holds only plain ints/floats/strings; `load_state_dict()` restores the schedule exactly
as saved (settings included) and re-applies the LR."""
import math

from ..errors import UserError

DECAY_STYLES = ("constant", "linear", "cosine", "exponential", "stlr")


def _check_decay_style(decay_style):
    style = "constant" if decay_style is None else str(decay_style).lower()
    if style == "none":
        style = "constant"
    if style not in DECAY_STYLES:
        raise UserError(f"unknown decay style {decay_style!r}; choose one of: {', '.join(DECAY_STYLES)}")
    return style


def _check_fraction(name, value):
    if not 0.0 < value < 1.0:
        raise UserError(f"{name} must be between 0 and 1 (exclusive), got {value}")


class AnnealingLR:
    """Warm-up then decay of the optimizer's learning rate; see the module docstring for the formulas."""

    def __init__(self, optimizer, num_iters, start_lr=None, warmup=0, decay_style="linear",
                 constant_decay=None, cos_cut_frac=None, stlr_cut_frac=None, stlr_ratio=32.0,
                 exp_final_ratio=0.01, min_lr=0.0, last_iter=0):
        self.optimizer = optimizer
        self.decay_style = _check_decay_style(decay_style)
        self.num_iters = int(num_iters)
        self.warmup = int(warmup)
        self.constant_decay = None if constant_decay in (None, 0) else int(constant_decay)
        self.stlr_cut_frac = stlr_cut_frac
        self.stlr_ratio = float(stlr_ratio)
        self.exp_final_ratio = float(exp_final_ratio)
        self.min_lr = float(min_lr)
        self._apply_cut_fracs(cos_cut_frac, stlr_cut_frac)
        self._check_settings()
        self.base_lrs = self._base_lrs(start_lr)
        self.iteration = int(last_iter)
        self._apply_lr()

    def _apply_cut_fracs(self, cos_cut_frac, stlr_cut_frac):
        if cos_cut_frac is not None and stlr_cut_frac is not None:
            raise UserError("use either --cos-cut-frac or --stlr-cut-frac, not both")
        if cos_cut_frac is not None:
            _check_fraction("--cos-cut-frac", cos_cut_frac)
            if self.warmup:
                raise UserError("--cos-cut-frac sets its own warm-up; do not combine it with --warmup or "
                                "--warmup-epochs")
            self.decay_style = "cosine"
            self.warmup = int(cos_cut_frac * self.num_iters)
        if stlr_cut_frac is not None:
            self.decay_style = "stlr"

    def _check_settings(self):
        if self.num_iters < 1:
            raise UserError(f"the number of training iterations must be >= 1, got {self.num_iters}")
        if self.warmup < 0:
            raise UserError(f"the warm-up (--warmup, --warmup-epochs) must be >= 0 iterations, got {self.warmup}")
        if self.constant_decay is not None and self.constant_decay < 0:
            raise UserError(f"--constant-decay must be >= 0 iterations, got {self.constant_decay}")
        if self.decay_style == "stlr":
            if self.stlr_cut_frac is None:
                raise UserError("--decay-style stlr needs --stlr-cut-frac (e.g. 0.1)")
            _check_fraction("--stlr-cut-frac", self.stlr_cut_frac)
            if self.warmup:
                raise UserError("--decay-style stlr has its own warm-up (--stlr-cut-frac); drop --warmup and "
                                "--warmup-epochs")
            if self.stlr_ratio < 1:
                raise UserError(f"stlr ratio must be >= 1, got {self.stlr_ratio}")
        if not 0.0 < self.exp_final_ratio <= 1.0:
            raise UserError(f"exp_final_ratio must be in (0, 1], got {self.exp_final_ratio}")

    def _base_lrs(self, start_lr):
        if start_lr is not None:
            return [float(start_lr)] * len(self.optimizer.param_groups)
        return [float(group.get("initial_lr", group["lr"])) for group in self.optimizer.param_groups]

    # --- the schedule -------------------------------------------------------------------------
    def lr_factor(self, iteration=None):
        """The schedule's multiplier of the base LR at `iteration` (default: the current one)."""
        t = self.iteration if iteration is None else iteration
        if self.decay_style == "stlr":
            return self._stlr_factor(t)
        if self.warmup > 0 and t <= self.warmup:
            return t / self.warmup
        return self._decay_factor(self._decay_progress(t))

    def _decay_progress(self, t):
        horizon = self.constant_decay if self.constant_decay is not None else self.num_iters - self.warmup
        if horizon <= 0:
            return 1.0
        return min(max(t - self.warmup, 0) / horizon, 1.0)

    def _decay_factor(self, p):
        if self.decay_style == "linear":
            return 1.0 - p
        if self.decay_style == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * p))
        if self.decay_style == "exponential":
            return self.exp_final_ratio ** p
        return 1.0

    def _stlr_factor(self, t):
        cut = max(math.floor(self.num_iters * self.stlr_cut_frac), 1)
        if t < cut:
            p = t / cut
        else:
            p = max(1.0 - (t - cut) / max(self.num_iters - cut, 1), 0.0)
        return (1.0 + p * (self.stlr_ratio - 1.0)) / self.stlr_ratio

    def get_lrs(self):
        """The LR of every parameter group at the current iteration."""
        factor = self.lr_factor()
        lrs = [base * factor for base in self.base_lrs]
        if self.decay_style != "stlr" and self.iteration > self.warmup:
            lrs = [max(lr, self.min_lr) for lr in lrs]
        return lrs

    def get_lr(self):
        """The LR of the first parameter group (the only one in the usual case)."""
        return self.get_lrs()[0]

    # --- driving it -----------------------------------------------------------------------------
    def step(self, iteration=None):
        """Advance one iteration (or jump to `iteration`), set the optimizer's LR and return it."""
        self.iteration = self.iteration + 1 if iteration is None else int(iteration)
        return self._apply_lr()

    def _apply_lr(self):
        for group, lr in zip(self.optimizer.param_groups, self.get_lrs()):
            group["lr"] = lr
        return self.get_lr()

    _STATE_KEYS = ("iteration", "num_iters", "warmup", "decay_style", "constant_decay", "stlr_cut_frac",
                   "stlr_ratio", "exp_final_ratio", "min_lr", "base_lrs")

    def state_dict(self):
        """Plain data: the iteration, the settings and the base LRs."""
        state = {key: getattr(self, key) for key in self._STATE_KEYS}
        state["base_lrs"] = list(self.base_lrs)
        return state

    def load_state_dict(self, state):
        """Restore a `state_dict()` (settings included) and set the optimizer's LR to match."""
        missing = [key for key in self._STATE_KEYS if key not in state]
        if missing:
            raise UserError(f"LR scheduler state is missing {', '.join(missing)}")
        if len(state["base_lrs"]) != len(self.optimizer.param_groups):
            raise UserError(f"LR scheduler state has {len(state['base_lrs'])} parameter groups, "
                            f"the optimizer has {len(self.optimizer.param_groups)}")
        for key in self._STATE_KEYS:
            setattr(self, key, state[key])
        self.base_lrs = [float(lr) for lr in state["base_lrs"]]
        self._apply_lr()

"""Learning-rate schedules on `torch.optim.lr_scheduler.LambdaLR`: the original codebase's warm-up + decay.

Iteration t counts completed optimizer steps (0 before the first, `schedule.last_epoch`). The LR of a
parameter group at iteration t is its base LR times `LRFactor(t)`:

- warm-up (t <= warmup): linear from 0, `t / warmup`.
- decay phase: progress p = min((t - warmup) / D, 1), where the decay horizon D is
  `constant_decay` when given, else `num_iters - warmup`. Then by `decay_style`:
    constant     1
    linear       1 - p
    cosine       (1 + cos(pi * p)) / 2
    exponential  exp_final_ratio ** p          (the LR fraction left at p = 1: 0.01)
  and the factor is floored at `floor` (0; an upgraded AnnealingLR state keeps its min_lr as a fraction).
  After the horizon the LR stays at its end value.
- `constant_decay=N` keeps the original's meaning: decay over N iterations (after warm-up) instead of
  over the whole run ("number of iterations to decay LR over, None means decay to zero over training").
- `cos_cut_frac=c` is finetuning's cosine variant: warm-up over the first `int(c * num_iters)`
  iterations, then cosine decay to 0 at `num_iters` (it overrides `decay_style`; `warmup` must be 0).
  `stlr_cut_frac` likewise selects "stlr" whatever `decay_style` says.
- "stlr": ULMFiT's slanted triangular LR (Howard & Ruder 2018, arXiv 1801.06146) with
  cut = floor(num_iters * stlr_cut_frac): p = t / cut while t < cut, then
  p = 1 - (t - cut) / (num_iters - cut) (floored at 0); factor = (1 + p * (ratio - 1)) / ratio, ratio 32.
  It has its own ramp, so `warmup` must be 0.

Differences from the original `AnnealingLR`: its decay progress was (t - warmup) / num_iters, so with a
warm-up the LR never reached zero at the end and a cosine past the horizon rose again; here the decay
ends exactly at `num_iters` (or `warmup + constant_decay`) and then holds. Its "exponential" was a
to-do that returned `start_lr`; here it is a real exponential decay.

Each parameter group's base LR is its own "lr" when the schedule is built, or `start_lr` for all groups
when that is given. The factors are `LRFactor` objects, so LambdaLR's `state_dict()` carries their
settings as plain data and `load_state_dict()` restores the schedule exactly as saved (checkpoint.py's
`upgrade` turns `AnnealingLR` states of version-1 checkpoints into this form)."""
import math
import warnings

from torch.optim.lr_scheduler import LambdaLR

from ..errors import UserError

DECAY_STYLES = ("constant", "linear", "cosine", "exponential", "stlr")
_ORDER_WARNING = r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"


def _check_decay_style(decay_style):
    style = str(decay_style).lower()
    if style not in DECAY_STYLES:
        raise UserError(f"unknown decay style {decay_style!r}; choose one of: {', '.join(DECAY_STYLES)}")
    return style


def _check_fraction(name, value):
    if not 0.0 < value < 1.0:
        raise UserError(f"{name} must be between 0 and 1 (exclusive), got {value}")


class LRFactor:
    """The schedule's multiplier of a group's base LR at iteration t; plain attributes only (they are the
    scheduler's saved state)."""

    def __init__(self, num_iters, warmup=0, decay_style="linear", constant_decay=None, stlr_cut_frac=None,
                 stlr_ratio=32.0, exp_final_ratio=0.01, floor=0.0):
        self.num_iters, self.warmup, self.decay_style = int(num_iters), int(warmup), decay_style
        self.constant_decay = None if constant_decay in (None, 0) else int(constant_decay)
        self.stlr_cut_frac, self.stlr_ratio = stlr_cut_frac, float(stlr_ratio)
        self.exp_final_ratio, self.floor = float(exp_final_ratio), float(floor)

    def __call__(self, t):
        if self.decay_style == "stlr":
            return self._stlr(t)
        if self.warmup > 0 and t <= self.warmup:
            return t / self.warmup
        return max(self._decay(self._progress(t)), self.floor)

    def _progress(self, t):
        horizon = self.constant_decay if self.constant_decay is not None else self.num_iters - self.warmup
        if horizon <= 0:
            return 1.0
        return min(max(t - self.warmup, 0) / horizon, 1.0)

    def _decay(self, p):
        if self.decay_style == "linear":
            return 1.0 - p
        if self.decay_style == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * p))
        if self.decay_style == "exponential":
            return self.exp_final_ratio ** p
        return 1.0

    def _stlr(self, t):
        cut = max(math.floor(self.num_iters * self.stlr_cut_frac), 1)
        if t < cut:
            p = t / cut
        else:
            p = max(1.0 - (t - cut) / max(self.num_iters - cut, 1), 0.0)
        return (1.0 + p * (self.stlr_ratio - 1.0)) / self.stlr_ratio


def _settings(num_iters, warmup, decay_style, constant_decay, cos_cut_frac, stlr_cut_frac):
    """Checked factor settings (cos_cut_frac/stlr_cut_frac resolved into style and warm-up)."""
    s = {"num_iters": int(num_iters), "warmup": int(warmup), "decay_style": _check_decay_style(decay_style),
         "constant_decay": None if constant_decay in (None, 0) else int(constant_decay), "stlr_cut_frac": stlr_cut_frac}
    if cos_cut_frac is not None and stlr_cut_frac is not None:
        raise UserError("use either --cos-cut-frac or --stlr-cut-frac, not both")
    if cos_cut_frac is not None:
        _check_fraction("--cos-cut-frac", cos_cut_frac)
        if s["warmup"]:
            raise UserError("--cos-cut-frac sets its own warm-up; do not combine it with --warmup or "
                            "--warmup-epochs")
        s.update(decay_style="cosine", warmup=int(cos_cut_frac * s["num_iters"]))
    if stlr_cut_frac is not None:
        s["decay_style"] = "stlr"
    _check_settings(s)
    return s


def _check_settings(s):
    if s["num_iters"] < 1:
        raise UserError(f"the number of training iterations must be >= 1, got {s['num_iters']}")
    if s["warmup"] < 0:
        raise UserError(f"the warm-up (--warmup, --warmup-epochs) must be >= 0 iterations, got {s['warmup']}")
    if s["constant_decay"] is not None and s["constant_decay"] < 0:
        raise UserError(f"--constant-decay must be >= 0 iterations, got {s['constant_decay']}")
    if s["decay_style"] == "stlr":
        if s["stlr_cut_frac"] is None:
            raise UserError("--decay-style stlr needs --stlr-cut-frac (e.g. 0.1)")
        _check_fraction("--stlr-cut-frac", s["stlr_cut_frac"])
        if s["warmup"]:
            raise UserError("--decay-style stlr has its own warm-up (--stlr-cut-frac); drop --warmup and "
                            "--warmup-epochs")


class WarmupDecayLR(LambdaLR):
    """LambdaLR with one `LRFactor` per parameter group."""

    @property
    def factor(self):
        """The first group's `LRFactor` (its settings: warmup, decay_style, ...)."""
        return self.lr_lambdas[0]

    @property
    def lr(self):
        """The LR of the first parameter group (the only one in the usual case)."""
        return self.get_last_lr()[0]

    def step(self, epoch=None):
        """Advance one iteration. Stepping after an optimizer step skipped on overflow is intended
        (the schedule counts iterations), so torch's call-order warning is silenced."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_ORDER_WARNING)
            super().step(epoch)

    def load_state_dict(self, state_dict):
        """Restore a `state_dict()` and set the optimizer's LRs."""
        if len(state_dict["base_lrs"]) != len(self.optimizer.param_groups):
            raise UserError(f"LR scheduler state has {len(state_dict['base_lrs'])} parameter groups, "
                            f"the optimizer has {len(self.optimizer.param_groups)}")
        super().load_state_dict(dict(state_dict))
        self._last_lr = [base * factor(self.last_epoch) for base, factor in zip(self.base_lrs, self.lr_lambdas)]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr


def build_schedule(optimizer, num_iters, start_lr=None, warmup=0, decay_style="linear", constant_decay=None,
                   cos_cut_frac=None, stlr_cut_frac=None):
    """A `WarmupDecayLR` on `optimizer`; see the module docstring."""
    settings = _settings(num_iters, warmup, decay_style, constant_decay, cos_cut_frac, stlr_cut_frac)
    for group in optimizer.param_groups:
        if start_lr is not None:
            group["lr"] = group["initial_lr"] = float(start_lr)
        group.setdefault("initial_lr", group["lr"])
    return WarmupDecayLR(optimizer, [LRFactor(**settings) for _ in optimizer.param_groups])

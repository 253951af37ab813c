"""`Precision`: one object that makes the training loop the same in fp32, `--fp16`, `--amp` and `--bf16`
(analysis/fp16.md describes each mode, its loss scale and how it steps).

In every mode the weights and the optimizer's state are fp32; only the forward pass computes in less.
`step` unscales the gradients and measures their global norm once: a non-finite norm is an overflow,
which GradScaler's step skips and `skipped_steps` counts; a finite one is clipped. `state_dict()` is plain
data; `load_state_dict` restores the scale only when the saved mode matches and the scale is dynamic (a
static one comes from `loss_scale`), so switching precision on resume keeps just the skipped count."""
import contextlib
import logging

import torch

from .. import capabilities
from ..errors import UserError

__all__ = ["MODES", "Precision"]

logger = logging.getLogger(__name__)

MODES = ("fp32", "fp16", "amp", "bf16")
FP16_DYNAMIC = {"init_scale": 2.0 ** 32, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 1000}
FP16_MIN_SCALE = 1.0


def _optimizer_params(optimizer):
    return [p for group in optimizer.param_groups for p in group["params"]]


class Precision:
    """Autocast, loss scaling, overflow skipping and clipping for one precision mode."""

    def __init__(self, mode="fp32", device="cpu", loss_scale=None, dynamic_loss_scale=False):
        if mode not in MODES:
            raise UserError(f"unknown precision mode {mode!r}; choose one of: {', '.join(MODES)}")
        if loss_scale is not None and not loss_scale > 0:
            raise UserError(f"--loss-scale must be > 0, got {loss_scale}")
        self.mode = mode
        self.device_type = torch.device(device).type
        # a static scale (fp16 without --dynamic-loss-scale) is put back after every update; None: dynamic
        static = mode == "fp16" and not dynamic_loss_scale
        self.static_scale = (1.0 if loss_scale is None else float(loss_scale)) if static else None
        self.scaler = self._make_scaler(loss_scale)
        self.skipped_steps = 0  # steps an overflow made this run skip
        self._check_device_support()
        self.compute_dtype = self._compute_dtype()
        capabilities.log_kernel_choice(self.device_type, self.compute_dtype,
                                       None if mode == "fp32" else f"--{mode}")

    @classmethod
    def from_flags(cls, fp16=False, amp=False, bf16=False, loss_scale=None, dynamic_loss_scale=False,
                   device="cpu"):
        """The precision chosen by the --fp16 / --amp / --bf16 flags (at most one of them)."""
        chosen = [name for name, on in (("fp16", fp16), ("amp", amp), ("bf16", bf16)) if on]
        if len(chosen) > 1:
            raise UserError(f"choose at most one of --fp16, --amp, --bf16 (got --{', --'.join(chosen)})")
        return cls(chosen[0] if chosen else "fp32", device, loss_scale, dynamic_loss_scale)

    def _make_scaler(self, loss_scale):
        if self.mode == "fp16":
            if self.static_scale is not None:
                return torch.amp.GradScaler(self.device_type, init_scale=self.static_scale)
            return torch.amp.GradScaler(self.device_type, **FP16_DYNAMIC)
        if self.mode == "amp":
            init_scale = loss_scale if loss_scale is not None and loss_scale > 1 else 2.0 ** 16
            return torch.amp.GradScaler(self.device_type, init_scale=init_scale)
        return None

    def _check_device_support(self):
        if self.mode == "bf16" and self.device_type == "cuda" and not torch.cuda.is_bf16_supported():
            raise UserError("--bf16 needs a GPU with bfloat16 support; use --fp16 or --amp on this one")
        if self.mode in ("fp16", "amp") and self.device_type == "cpu":
            logger.warning("--%s on CPU computes in float16 (autocast), which most CPUs compute slowly; "
                           "--bf16 is the fast choice on CPUs with AVX-512, plain float32 on others", self.mode)

    def _compute_dtype(self):
        if self.mode == "bf16":
            return capabilities.bf16_compute_dtype(self.device_type)
        return torch.float16 if self.mode in ("fp16", "amp") else torch.float32

    # --- what the loop calls ------------------------------------------------------------------------
    def autocast(self):
        """The forward pass's context: torch.autocast for fp16/amp/bf16 (bf16 only where native),
        nothing for fp32."""
        if self.mode in ("fp16", "amp"):
            return torch.autocast(self.device_type, dtype=torch.float16)
        if self.mode == "bf16" and self.compute_dtype == torch.bfloat16:
            return torch.autocast(self.device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def backward(self, loss):
        """Backward of `loss`, scaled where the mode scales it."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def step(self, optimizer, clip=None):
        """Unscale, clip and step; return False when an overflow made the step skip."""
        if self.scaler is None:
            if clip:
                torch.nn.utils.clip_grad_norm_(_optimizer_params(optimizer), clip)
            optimizer.step()
            return True
        self.scaler.unscale_(optimizer)
        params = [p for p in _optimizer_params(optimizer) if p.grad is not None]
        norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        stepped = bool(torch.isfinite(norm))
        if stepped and clip:
            torch.nn.utils.clip_grads_with_norm_(params, clip, norm)
        self.scaler.step(optimizer)          # skips optimizer.step() on the inf/nan unscale_ found
        self._update_scale(stepped)
        if not stepped:
            self.skipped_steps += 1
            logger.info("gradient overflow: step skipped, loss scale now %g", self.loss_scale)
        return stepped

    def _update_scale(self, stepped):
        """GradScaler's update; a static scale is put back, the fp16 dynamic scale kept at >= 1."""
        self.scaler.update(self.static_scale)
        if self.mode == "fp16" and not stepped and self.scaler.get_scale() < FP16_MIN_SCALE:
            self.scaler.update(FP16_MIN_SCALE)

    # --- what the loop logs and saves ---------------------------------------------------------------
    @property
    def loss_scale(self):
        """The current loss scale (1.0 in modes without one)."""
        return float(self.scaler.get_scale()) if self.scaler is not None else 1.0

    @property
    def dynamic(self):
        """True when the loss scale moves (amp; fp16 with --dynamic-loss-scale)."""
        return self.scaler is not None and self.static_scale is None

    def state_dict(self):
        """Plain data: the mode, GradScaler's state where the scale is dynamic, the skipped-step count."""
        scaler_state = self.scaler.state_dict() if self.dynamic else None
        return {"mode": self.mode, "scaler": scaler_state, "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state):
        """Restore a dynamic scale saved in this mode; always keep the skipped count."""
        if state["mode"] != self.mode:
            logger.info("resuming a %s run in %s mode: loss-scaler state not restored", state["mode"], self.mode)
        elif self.dynamic and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.skipped_steps = int(state["skipped_steps"])

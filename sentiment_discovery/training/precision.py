"""`Precision`: one object that makes the training loop the same in fp32, `--fp16`, `--amp` and `--bf16`.

    precision = Precision.from_flags(**config.precision.flags(), device=device)   # a config.PrecisionConfig
    optimizer = build_optimizer(...model.parameters()...)
    for batch in ...:
        with precision.autocast():
            logits, state = model(tokens)
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())  # loss/softmax in fp32
        precision.backward(loss)
        stepped = precision.step(optimizer, clip=config.training.clip)   # False: overflow, step skipped
        optimizer.zero_grad()
    log(loss_scale=precision.loss_scale, skipped=precision.skipped_steps)

In every mode the weights and the optimizer's state are fp32; only the forward pass computes in less.
The modes:
- "fp32": plain. `autocast()` does nothing; `step` clips and steps.
- "fp16" (the original's recipe, after Micikevicius et al. 2018, arXiv 1710.03740, on stock torch):
  `torch.autocast(device_type, float16)` computes the forward in fp16 while the fp32 weights play the
  original's "master" weights; `torch.amp.GradScaler` scales the loss. The scale is static
  (`loss_scale`, default 1: put back after every `update`) or, with `dynamic_loss_scale`, the original's
  dynamic scale: GradScaler starting at 2**32, halving on overflow, doubling after 1000 clean steps, and
  never below 1 (the floor GradScaler lacks is put back after an overflow).
- "amp": the same autocast and GradScaler with GradScaler's own policy (starts at `loss_scale` when one
  above 1 is given, else at 2**16; halves on overflow, doubles after 2000 clean steps; no floor).
- "bf16": `torch.autocast(device_type, bfloat16)`; no scaler (bf16 has fp32's range). On a CPU without
  native bfloat16 (AVX2 only: no AVX-512 or AVX-NE-CONVERT, as `capabilities.native_bf16` finds by trying)
  bfloat16 would compute tens of times slower than float32, so there the mode computes in float32
  (`autocast()` does nothing) after one warning line; the mode is still "bf16" in `state_dict`.
- "fp16" and "amp" on CPU run (slowly on most CPUs) after one warning line that suggests `--bf16`.

`compute_dtype` is the dtype the forward pass really computes in; it is logged once per process with the
kernel the recurrent products use (packed oneDNN or public torch.mm) when the run's Precision is made.

`step(optimizer, clip=None)`: `clip` is a max global grad norm (None/0: no clipping) over the optimizer's
params. In the scaled modes (fp16, amp) it unscales the gradients and measures their global norm (one
`torch.nn.utils.get_total_norm`, the one clipping uses): a non-finite norm is an overflow (an inf or nan
gradient), which GradScaler's step skips and `skipped_steps` counts, whatever the scale does.
`last_grad_norm` holds the norm measured by the last clipped step. `state_dict()` is plain data (mode,
GradScaler's state where the scale is dynamic, skipped count); `load_state_dict` restores the scale only
when the saved mode matches and the scale is dynamic (a static one comes from `loss_scale`); switching
precision on resume is allowed and keeps just the skipped count. The optimizer's state is the same in
every mode, so it loads across modes as it is."""
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


def _device_type(device):
    try:
        return torch.device(device).type
    except (RuntimeError, TypeError) as err:
        raise UserError(f"unknown device {device!r}: {err}") from None


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
        self.device_type = _device_type(device)
        # a static scale (fp16 without --dynamic-loss-scale) is put back after every update; None: dynamic
        static = mode == "fp16" and not dynamic_loss_scale
        self.static_scale = (1.0 if loss_scale is None else float(loss_scale)) if static else None
        self.scaler = self._make_scaler(loss_scale)
        self._skipped_steps = 0
        self.last_grad_norm = None
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
                self.last_grad_norm = float(torch.nn.utils.clip_grad_norm_(_optimizer_params(optimizer), clip))
            optimizer.step()
            return True
        self.scaler.unscale_(optimizer)
        params = [p for p in _optimizer_params(optimizer) if p.grad is not None]
        norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        stepped = bool(torch.isfinite(norm))
        if stepped and clip:
            torch.nn.utils.clip_grads_with_norm_(params, clip, norm)
            self.last_grad_norm = float(norm)
        self.scaler.step(optimizer)          # skips optimizer.step() on the inf/nan unscale_ found
        self._update_scale(stepped)
        if not stepped:
            self._skipped_steps += 1
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
    def skipped_steps(self):
        """How many steps an overflow made this run skip."""
        return self._skipped_steps

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
        self._skipped_steps = int(state["skipped_steps"])

"""`Precision`: one object that makes the training loop the same in fp32, `--fp16`, `--amp` and `--bf16`.

    precision = Precision.from_flags(**config.precision.flags(), device=device)   # a config.PrecisionConfig
    model = precision.prepare_model(model)            # before wrap_ddp
    optimizer = precision.wrap_optimizer(build_optimizer(...model.parameters()...))
    for batch in ...:
        with precision.autocast():
            logits, state = model(tokens)
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())  # loss/softmax in fp32
        precision.backward(loss)
        stepped = precision.step(optimizer, clip=config.training.clip)   # False: overflow, step skipped
        optimizer.zero_grad()
    log(loss_scale=precision.loss_scale, skipped=precision.skipped_steps)

The modes:
- "fp32": plain. `autocast()` does nothing; `step` clips and steps.
- "fp16" (the original's recipe): `prepare_model` converts the model to half; `wrap_optimizer` wraps
  the optimizer in `FP16Optimizer` (fp32 master weights). The loss is scaled by a `StaticLossScaler`
  (`loss_scale`, default 1) or, with `dynamic_loss_scale`, a `DynamicLossScaler` (starts at 2**32,
  halves on overflow, doubles after 1000 clean steps, never below 1). Gradients are unscaled into the
  masters, checked for inf/nan (an overflowed step is skipped and counted, with a static scale too),
  clipped over the masters, stepped and copied back. `autocast()` does nothing (the model is already half).
- "amp": `torch.autocast(device_type, float16)` plus `torch.amp.GradScaler` (always dynamic; it starts
  at `loss_scale` when one above 1 is given, else at GradScaler's 2**16). Clipping happens after
  `unscale_`. A step the GradScaler skipped (its scale went down) is counted. On CPU this really runs
  fp16 autocast (torch >= 2.4 supports it), which most CPUs compute slowly: a warning suggests `--bf16`.
- "bf16": `torch.autocast(device_type, bfloat16)`; no scaler (bf16 has fp32's range). On a CPU without
  native bfloat16 (AVX2 only: no AVX-512 or AVX-NE-CONVERT, as `capabilities.native_bf16` finds by trying)
  bfloat16 would compute tens of times slower than float32, so there the mode computes in float32
  (`autocast()` does nothing) after one warning line; the mode is still "bf16" in `state_dict`.
- "fp16" and "amp" on CPU run (slowly on most CPUs) after one warning line that suggests `--bf16`.

`compute_dtype` is the dtype the forward pass really computes in; it is logged once per process with the
kernel the recurrent products use (packed oneDNN or public torch.mm) when the run's Precision is made.

`step(optimizer, clip=None, params=None)`: `clip` is a max global grad norm (None/0: no clipping); the
norm is over `params`, default every param of the optimizer (in fp16 mode always the masters).
`last_grad_norm` holds the norm measured by the last clipped step. `state_dict()` is plain data (mode,
scaler state, skipped count); `load_state_dict` restores the scaler only when the saved mode matches
(switching precision on resume is allowed and keeps just the skipped count). To switch to or from
--fp16 on resume, load the optimizer with `fp16_optimizer.load_optimizer_state(optimizer, state)`
(re-exported here), which converts between the FP16Optimizer and plain optimizer states."""
import contextlib
import logging

import torch

from .. import capabilities
from ..errors import UserError
from .fp16_optimizer import FP16Optimizer, load_optimizer_state
from .loss_scaler import DynamicLossScaler, StaticLossScaler

__all__ = ["MODES", "Precision", "load_optimizer_state"]

logger = logging.getLogger(__name__)

MODES = ("fp32", "fp16", "amp", "bf16")


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
        self.mode = mode
        self.device_type = _device_type(device)
        self.scaler = self._make_scaler(loss_scale, dynamic_loss_scale)
        self._amp_skipped_steps = 0
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

    def _make_scaler(self, loss_scale, dynamic_loss_scale):
        if loss_scale is not None and not loss_scale > 0:
            raise UserError(f"--loss-scale must be > 0, got {loss_scale}")
        if self.mode == "fp16":
            if dynamic_loss_scale:
                return DynamicLossScaler()
            return StaticLossScaler(loss_scale if loss_scale is not None else 1.0)
        if self.mode == "amp":
            init_scale = loss_scale if loss_scale is not None and loss_scale > 1 else 2.0 ** 16
            return torch.amp.GradScaler(self.device_type, init_scale=init_scale)
        return None

    def _check_device_support(self):
        if self.mode == "bf16" and self.device_type == "cuda" and not torch.cuda.is_bf16_supported():
            raise UserError("--bf16 needs a GPU with bfloat16 support; use --fp16 or --amp on this one")
        if self.mode == "amp" and self.device_type == "cpu":
            logger.warning("--amp on CPU runs fp16 autocast, which most CPUs compute slowly; "
                           "--bf16 is the fast choice on CPUs with AVX-512, plain float32 on others")
        if self.mode == "fp16" and self.device_type == "cpu":
            logger.warning("--fp16 on CPU computes in float16, which most CPUs compute slowly; "
                           "--bf16 is the fast choice on CPUs with AVX-512, plain float32 on others")

    def _compute_dtype(self):
        if self.mode == "bf16":
            return capabilities.bf16_compute_dtype(self.device_type)
        return torch.float16 if self.mode in ("fp16", "amp") else torch.float32

    # --- what the loop calls ------------------------------------------------------------------------
    def prepare_model(self, model):
        """The model in this mode's storage precision: half for fp16, unchanged otherwise."""
        return model.half() if self.mode == "fp16" else model

    def wrap_optimizer(self, optimizer):
        """`FP16Optimizer` (fp32 masters) in fp16 mode; the optimizer itself otherwise."""
        if self.mode == "fp16" and not isinstance(optimizer, FP16Optimizer):
            return FP16Optimizer(optimizer, self.scaler)
        return optimizer

    def autocast(self):
        """The forward pass's context: torch.autocast for amp/bf16 (bf16 only where native), nothing for
        fp32/fp16."""
        if self.mode == "amp":
            return torch.autocast(self.device_type, dtype=torch.float16)
        if self.mode == "bf16" and self.compute_dtype == torch.bfloat16:
            return torch.autocast(self.device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def backward(self, loss):
        """Backward of `loss`, scaled where the mode scales it."""
        if self.mode == "fp16":
            (loss.float() * self.scaler.loss_scale).backward()
        elif self.mode == "amp":
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def step(self, optimizer, clip=None, params=None):
        """Unscale, clip and step; return False when an overflow made the step skip."""
        if self.mode == "fp16":
            if not isinstance(optimizer, FP16Optimizer):
                raise TypeError("in fp16 mode, step an optimizer returned by Precision.wrap_optimizer")
            stepped = optimizer.step(clip=clip)
            if stepped and clip:
                self.last_grad_norm = optimizer.last_grad_norm
            return stepped
        if self.mode == "amp":
            return self._amp_step(optimizer, clip, params)
        self._clip(optimizer, clip, params)
        optimizer.step()
        return True

    def _clip(self, optimizer, clip, params):
        if clip:
            params = _optimizer_params(optimizer) if params is None else list(params)
            self.last_grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))

    def _amp_step(self, optimizer, clip, params):
        self.scaler.unscale_(optimizer)
        self._clip(optimizer, clip, params)
        scale_before = self.scaler.get_scale()
        self.scaler.step(optimizer)
        self.scaler.update()
        stepped = self.scaler.get_scale() >= scale_before
        if not stepped:
            self._amp_skipped_steps += 1
            logger.info("gradient overflow: skipping step, loss scale %g -> %g",
                        scale_before, self.scaler.get_scale())
        return stepped

    # --- what the loop logs and saves ---------------------------------------------------------------
    @property
    def loss_scale(self):
        """The current loss scale (1.0 in modes without one)."""
        if self.mode == "fp16":
            return self.scaler.loss_scale
        if self.mode == "amp":
            return float(self.scaler.get_scale())
        return 1.0

    @property
    def skipped_steps(self):
        """How many steps an overflow made this run skip."""
        if self.mode == "fp16":
            return self.scaler.skipped_steps
        return self._amp_skipped_steps

    def state_dict(self):
        """Plain data: the mode, the scaler's state and the skipped-step count."""
        scaler_state = self.scaler.state_dict() if self.scaler is not None else None
        return {"mode": self.mode, "scaler": scaler_state, "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state):
        """Restore the scaler when the saved mode is this one; always keep the skipped count."""
        same_scaler = (state.get("mode") == self.mode and self.scaler is not None
                       and state.get("scaler") is not None)
        if self.mode == "fp16" and same_scaler:
            saved_dynamic = "scale_window" in state["scaler"]
            same_scaler = saved_dynamic == self.scaler.dynamic
        if same_scaler:
            self.scaler.load_state_dict(state["scaler"])
        elif state.get("mode") != self.mode:
            logger.info("resuming a %s run in %s mode: loss-scaler state not restored", state.get("mode"), self.mode)
        skipped = int(state.get("skipped_steps", 0))
        if self.mode == "fp16":
            self.scaler.skipped_steps = skipped
        else:
            self._amp_skipped_steps = skipped

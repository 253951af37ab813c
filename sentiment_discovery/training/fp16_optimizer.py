"""`FP16Optimizer`: fp32 master weights for a model whose parameters are fp16 (the original
codebase's `--fp16` recipe, after Micikevicius et al. 2018, "Mixed Precision Training", arXiv 1710.03740).

Build the torch optimizer over the (already `.half()`-ed) model's parameters, then wrap it:

    model.half()
    optimizer = FP16Optimizer(torch.optim.Adam(model.parameters(), lr=1e-3), DynamicLossScaler())
    optimizer.backward(loss)          # (loss.float() * loss_scale).backward()
    stepped = optimizer.step(clip=1)  # False when the gradients overflowed (the step is skipped)
    optimizer.zero_grad()

The wrapper swaps each parameter group's fp16 params for fp32 copies ("master" params), so the inner
optimizer's state and updates are fp32. `step`: copy the fp16 grads into the masters divided by the loss
scale; if any is inf/nan, tell the scaler (which lowers the scale) and skip; else clip the global grad
norm of the masters (`last_grad_norm` keeps it), step the inner optimizer and copy the masters back into
the fp16 model. It works the same on a model with fp32 params (only the copies are then redundant).

`param_groups` is the inner optimizer's, so LR schedulers drive it as usual. `state_dict()` holds the
inner optimizer's state and the master params; the loss scaler's state is saved by its owner
(`Precision.state_dict`). `load_state_dict` also accepts a plain torch optimizer state dict (from a
run without `--fp16`): the masters are then taken from the model's current params.
`load_optimizer_state(optimizer, state)` loads a state saved in either precision into either kind of
optimizer, so a resumed run may switch between --fp16 and the other modes."""
import torch

from ..errors import UserError


def _grads_finite(grads):
    """True when every gradient tensor is free of inf and nan (one device sync)."""
    if not grads:
        return True
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())


class FP16Optimizer:
    """A torch optimizer over fp32 master copies of a (half-precision) model's parameters."""

    def __init__(self, optimizer, loss_scaler):
        if len(optimizer.state) > 0:
            raise ValueError("wrap the optimizer in FP16Optimizer before its first step")
        self.optimizer = optimizer
        self.loss_scaler = loss_scaler
        self.model_params = []    # per group: the model's own (fp16) parameters
        self.master_params = []   # per group: fp32 copies that the inner optimizer updates
        for group in optimizer.param_groups:
            model_group = list(group["params"])
            master_group = [self._master_copy(p) for p in model_group]
            group["params"] = master_group
            self.model_params.append(model_group)
            self.master_params.append(master_group)
        self.last_grad_norm = None

    @staticmethod
    def _master_copy(param):
        return param.detach().to(torch.float32, copy=True).requires_grad_(param.requires_grad)

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    @property
    def loss_scale(self):
        return self.loss_scaler.loss_scale

    def _pairs(self):
        for model_group, master_group in zip(self.model_params, self.master_params):
            yield from zip(model_group, master_group)

    def backward(self, loss):
        """Backward of the loss (computed in fp32) times the loss scale."""
        (loss.float() * self.loss_scaler.loss_scale).backward()

    def zero_grad(self, set_to_none=True):
        """Clear the model's and the masters' gradients."""
        for model_param, master_param in self._pairs():
            master_param.grad = None
            if model_param.grad is None:
                continue
            if set_to_none:
                model_param.grad = None
            else:
                model_param.grad.detach_().zero_()

    def step(self, clip=None):
        """Unscale, check for overflow, clip, step and copy back; return whether the step was taken."""
        master_grads = self._unscale_grads_into_masters()
        overflow = not _grads_finite(master_grads)
        self.loss_scaler.update(overflow)
        if overflow:
            for _, master_param in self._pairs():
                master_param.grad = None
            return False
        if clip:
            masters = [m for _, m in self._pairs() if m.grad is not None]
            self.last_grad_norm = float(torch.nn.utils.clip_grad_norm_(masters, clip))
        self.optimizer.step()
        self._copy_masters_into_model()
        return True

    def _unscale_grads_into_masters(self):
        inv_scale = 1.0 / self.loss_scaler.loss_scale
        grads = []
        for model_param, master_param in self._pairs():
            if model_param.grad is None:
                master_param.grad = None
                continue
            master_param.grad = model_param.grad.detach().float() * inv_scale  # always a new fp32 tensor
            grads.append(master_param.grad)
        return grads

    @torch.no_grad()
    def _copy_masters_into_model(self):
        for model_param, master_param in self._pairs():
            model_param.copy_(master_param)

    @torch.no_grad()
    def _copy_model_into_masters(self):
        for model_param, master_param in self._pairs():
            master_param.copy_(model_param)

    def state_dict(self):
        """The inner optimizer's state and the fp32 master params (per group)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "master_params": [[m.detach() for m in group] for group in self.master_params],
        }

    def load_state_dict(self, state):
        """Restore a `state_dict()`, or a plain torch optimizer state (masters then come from the model)."""
        if "master_params" not in state:
            self.optimizer.load_state_dict(state)
            self._copy_model_into_masters()
            return
        saved = state["master_params"]
        if [len(g) for g in saved] != [len(g) for g in self.master_params]:
            raise UserError("fp16 optimizer state does not match the model: different parameter counts")
        for saved_group, master_group in zip(saved, self.master_params):
            for saved_param, master_param in zip(saved_group, master_group):
                if saved_param.shape != master_param.shape:
                    raise UserError(f"fp16 optimizer state does not match the model: a parameter of shape "
                                    f"{tuple(saved_param.shape)} where the model has {tuple(master_param.shape)}")
                with torch.no_grad():
                    master_param.copy_(saved_param)
        self.optimizer.load_state_dict(state["optimizer"])
        self._copy_masters_into_model()


def load_optimizer_state(optimizer, state):
    """Load an optimizer state saved in either precision into `optimizer` (plain or FP16Optimizer).

    Lets a run switch between --fp16 and another mode on resume: an FP16Optimizer takes a plain state
    (masters from the model), and a plain optimizer given an FP16Optimizer state loads the inner state
    and takes the fp32 master weights as its parameters (more exact than the saved fp16 model)."""
    if isinstance(optimizer, FP16Optimizer) or "master_params" not in state:
        optimizer.load_state_dict(state)
        return
    groups = [group["params"] for group in optimizer.param_groups]
    saved = state["master_params"]
    if [len(g) for g in saved] != [len(g) for g in groups] or any(
            s.shape != p.shape for sg, g in zip(saved, groups) for s, p in zip(sg, g)):
        raise UserError("fp16 optimizer state does not match the model: different parameters")
    optimizer.load_state_dict(state["optimizer"])
    with torch.no_grad():
        for saved_group, group in zip(saved, groups):
            for saved_param, param in zip(saved_group, group):
                param.copy_(saved_param)

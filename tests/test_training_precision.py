"""Loss scalers, the FP16Optimizer (fp32 master weights) and the Precision modes, all on CPU."""
import copy
import logging

import pytest
import torch
import torch.nn.functional as F

from sentiment_discovery.errors import UserError
from sentiment_discovery.training.fp16_optimizer import FP16Optimizer, load_optimizer_state
from sentiment_discovery.training.loss_scaler import DynamicLossScaler, StaticLossScaler
from sentiment_discovery.training.precision import Precision

MODES = ["fp32", "fp16", "amp", "bf16"]


class TinyLM(torch.nn.Module):
    """Embedding -> tanh Linear -> decoder: a stand-in for a language model."""

    def __init__(self, vocab=12, width=16):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, width)
        self.hidden = torch.nn.Linear(width, width)
        self.decoder = torch.nn.Linear(width, vocab)

    def forward(self, tokens):                     # tokens (B, T) -> logits (B, T, V)
        return self.decoder(torch.tanh(self.hidden(self.embedding(tokens))))


def _batch(seed=0, vocab=12):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab, (8, 6), generator=generator)   # (B, T)
    targets = (tokens + 1) % vocab                                   # learnable: next id
    return tokens, targets


def _setup(mode, lr=0.05, optimizer_name="Adam", device="cpu", **flags):
    torch.manual_seed(0)
    precision = Precision(mode, device=device, **flags)
    model = precision.prepare_model(TinyLM().to(device))
    optimizer_cls = getattr(torch.optim, optimizer_name)
    optimizer = precision.wrap_optimizer(optimizer_cls(model.parameters(), lr=lr))
    return precision, model, optimizer


def _loss(precision, model, tokens, targets):
    with precision.autocast():
        logits = model(tokens)                                       # (B, T, V)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def _train_step(precision, model, optimizer, batch, clip=None):
    loss = _loss(precision, model, *batch)
    precision.backward(loss)
    stepped = precision.step(optimizer, clip=clip)
    optimizer.zero_grad()
    return loss.item(), stepped


def _param_copies(model):
    return [p.detach().clone() for p in model.parameters()]


# --- loss scalers ---------------------------------------------------------------------------------
def test_dynamic_scaler_halves_on_overflow_and_never_goes_below_min():
    scaler = DynamicLossScaler(init_scale=4.0, min_scale=1.0)
    for expected in (2.0, 1.0, 1.0):
        scaler.update(overflow=True)
        assert scaler.loss_scale == expected
    assert scaler.skipped_steps == 3


def test_dynamic_scaler_doubles_after_a_clean_window():
    scaler = DynamicLossScaler(init_scale=8.0, scale_window=3)
    scaler.update(False)
    scaler.update(False)
    assert scaler.loss_scale == 8.0
    scaler.update(False)
    assert scaler.loss_scale == 16.0
    scaler.update(False)
    scaler.update(True)                              # an overflow restarts the clean count
    scaler.update(False)
    scaler.update(False)
    assert scaler.loss_scale == 8.0
    scaler.update(False)
    assert scaler.loss_scale == 16.0


def test_static_scaler_keeps_its_scale_and_counts_overflows():
    scaler = StaticLossScaler(128.0)
    scaler.update(True)
    scaler.update(False)
    assert scaler.loss_scale == 128.0 and scaler.skipped_steps == 1


def test_scaler_state_round_trip():
    scaler = DynamicLossScaler(init_scale=64.0, scale_window=5)
    for overflow in (False, True, False, False):
        scaler.update(overflow)
    restored = DynamicLossScaler()
    restored.load_state_dict(scaler.state_dict())
    assert restored.state_dict() == scaler.state_dict()
    assert restored.state_dict() == {"loss_scale": 32.0, "scale_factor": 2.0, "scale_window": 5,
                                     "min_scale": 1.0, "clean_steps": 2, "skipped_steps": 1}


# --- FP16Optimizer ----------------------------------------------------------------------------------
def _fp16_linear(scaler, lr=0.1):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3).half()
    optimizer = FP16Optimizer(torch.optim.SGD(model.parameters(), lr=lr), scaler)
    return model, optimizer


def _fp16_backward(model, optimizer):
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1)).half()
    loss = model(x).float().pow(2).mean()
    optimizer.backward(loss)


def test_master_weights_stay_fp32_while_model_params_are_fp16():
    model, optimizer = _fp16_linear(StaticLossScaler(64.0))
    _fp16_backward(model, optimizer)
    assert optimizer.step() is True
    for model_param, master_param in zip(model.parameters(), optimizer.param_groups[0]["params"]):
        assert model_param.dtype == torch.float16
        assert master_param.dtype == torch.float32
        assert torch.equal(model_param, master_param.half())        # copied back after the step
    assert all(v.dtype == torch.float32 for s in optimizer.state.values() for v in s.values()
               if torch.is_tensor(v) and v.is_floating_point())


def test_master_step_matches_fp32_sgd_on_the_unscaled_gradient():
    model, optimizer = _fp16_linear(StaticLossScaler(1024.0), lr=0.5)
    masters_before = [m.detach().clone() for m in optimizer.param_groups[0]["params"]]
    _fp16_backward(model, optimizer)
    unscaled = [p.grad.float() / 1024.0 for p in model.parameters()]
    optimizer.step()
    for before, grad, after in zip(masters_before, unscaled, optimizer.param_groups[0]["params"]):
        torch.testing.assert_close(after, before - 0.5 * grad)


def test_overflow_skips_the_step_and_halves_the_scale():
    scaler = DynamicLossScaler(init_scale=2.0 ** 10)
    model, optimizer = _fp16_linear(scaler)
    _fp16_backward(model, optimizer)
    model.weight.grad[0, 0] = float("inf")
    params_before = _param_copies(model)
    masters_before = [m.detach().clone() for m in optimizer.param_groups[0]["params"]]
    assert optimizer.step() is False
    assert all(torch.equal(a, b) for a, b in zip(params_before, model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(masters_before, optimizer.param_groups[0]["params"]))
    assert scaler.loss_scale == 2.0 ** 9 and scaler.skipped_steps == 1


def test_nan_gradient_is_an_overflow_too():
    model, optimizer = _fp16_linear(StaticLossScaler(8.0))
    _fp16_backward(model, optimizer)
    model.bias.grad[1] = float("nan")
    before = _param_copies(model)
    assert optimizer.step() is False
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert optimizer.loss_scaler.skipped_steps == 1 and optimizer.loss_scale == 8.0


def test_fp16_optimizer_works_with_an_fp32_model():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    reference = copy.deepcopy(model)
    optimizer = FP16Optimizer(torch.optim.SGD(model.parameters(), lr=0.1), StaticLossScaler(32.0))
    x = torch.randn(5, 4)
    optimizer.backward(model(x).pow(2).mean())
    optimizer.step()
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    reference(x).pow(2).mean().backward()
    reference_optimizer.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)


def test_fp16_optimizer_must_wrap_a_fresh_optimizer():
    model = torch.nn.Linear(2, 2)
    inner = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    inner.step()
    with pytest.raises(ValueError):
        FP16Optimizer(inner, StaticLossScaler())


def test_fp16_optimizer_loads_a_plain_optimizer_state_with_masters_from_the_model():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    plain = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    plain.step()
    state = plain.state_dict()
    half_model = copy.deepcopy(model).half()
    optimizer = FP16Optimizer(torch.optim.Adam(half_model.parameters(), lr=0.1), StaticLossScaler())
    with torch.no_grad():
        for p in half_model.parameters():
            p.add_(1.0)                                  # the masters must follow the model
    optimizer.load_state_dict(state)
    for model_param, master in zip(half_model.parameters(), optimizer.param_groups[0]["params"]):
        assert torch.equal(master, model_param.float())
    assert optimizer.state[optimizer.param_groups[0]["params"][0]]["step"] == 1


def test_fp16_optimizer_rejects_a_state_of_another_shape():
    _, optimizer = _fp16_linear(StaticLossScaler())
    _, other = _fp16_linear(StaticLossScaler())
    state = other.state_dict()
    state["master_params"][0][0] = torch.zeros(7, 7)
    with pytest.raises(UserError, match="shape"):
        optimizer.load_state_dict(state)


# --- Precision -------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_tiny_model_loss_falls_in_every_mode(mode):
    precision, model, optimizer = _setup(mode, loss_scale=128.0 if mode == "fp16" else None)
    batch = _batch()
    losses = [_train_step(precision, model, optimizer, batch)[0] for _ in range(25)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert precision.skipped_steps == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", MODES)
def test_tiny_model_loss_falls_in_every_mode_on_cuda(mode):
    precision, model, optimizer = _setup(mode, device="cuda", dynamic_loss_scale=True)
    batch = [t.cuda() for t in _batch()]
    losses = [_train_step(precision, model, optimizer, batch)[0] for _ in range(60)]
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("mode", MODES)
def test_gradients_are_unscaled_before_clipping(mode):
    precision, model, optimizer = _setup(mode, lr=1.0, optimizer_name="SGD",
                                         dynamic_loss_scale=(mode == "fp16"))
    if mode == "fp16":
        precision.scaler.loss_scale = 2.0 ** 12                     # clean start, large scale
    reference = copy.deepcopy(model).float()
    batch = _batch()
    _loss(Precision("fp32"), reference, *batch).backward()
    true_norm = torch.cat([p.grad.flatten() for p in reference.parameters()]).norm().item()
    clip = true_norm / 10
    before = [p.detach().float().clone() for p in _trained_params(optimizer)]
    _, stepped = _train_step(precision, model, optimizer, batch, clip=clip)
    assert stepped
    after = _trained_params(optimizer)
    update_norm = torch.cat([(a.float() - b).flatten() for a, b in zip(after, before)]).norm().item()
    tolerance = {"fp32": 1e-4, "fp16": 2e-2, "amp": 2e-2, "bf16": 5e-2}[mode]
    assert precision.last_grad_norm == pytest.approx(true_norm, rel=tolerance)
    assert update_norm == pytest.approx(clip, rel=1e-3)             # SGD lr 1: update = clipped grad


def _trained_params(optimizer):
    """The fp32 tensors the optimizer updates: the masters in fp16 mode, the params otherwise."""
    return [p for group in optimizer.param_groups for p in group["params"]]


def test_amp_overflow_skips_the_step_and_lowers_the_scale():
    precision, model, optimizer = _setup("amp")
    scale = precision.loss_scale
    loss = _loss(precision, model, *_batch())
    precision.backward(loss)
    model.decoder.weight.grad[0, 0] = float("inf")
    before = _param_copies(model)
    assert precision.step(optimizer) is False
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert precision.skipped_steps == 1 and precision.loss_scale == scale / 2


def test_fp16_mode_converts_the_model_and_wraps_the_optimizer():
    precision, model, optimizer = _setup("fp16", dynamic_loss_scale=True)
    assert all(p.dtype == torch.float16 for p in model.parameters())
    assert isinstance(optimizer, FP16Optimizer)
    assert precision.loss_scale == 2.0 ** 32
    _, stepped = _train_step(precision, model, optimizer, _batch())
    assert not stepped and precision.loss_scale == 2.0 ** 31   # 2**32 overflows fp16 at once
    assert precision.skipped_steps == 1


@pytest.mark.parametrize("mode, dtype", [("amp", torch.float16), ("fp32", torch.float32), ("fp16", torch.float16)])
def test_autocast_gives_the_mode_dtype(mode, dtype):
    precision, model, _ = _setup(mode)
    with precision.autocast():
        assert model(_batch()[0]).dtype == dtype


def test_bf16_autocasts_where_bfloat16_is_native(fresh_capabilities):
    if not fresh_capabilities.native_bf16("cpu"):
        pytest.skip("this CPU has no native bfloat16 (the fallback is tested below)")
    precision, model, _ = _setup("bf16")
    assert precision.compute_dtype == torch.bfloat16
    with precision.autocast():
        assert model(_batch()[0]).dtype == torch.bfloat16


def test_bf16_without_native_bfloat16_computes_in_float32_after_one_warning(cpu_without_bf16, caplog):
    with caplog.at_level("WARNING"):
        precision, model, optimizer = _setup("bf16")
        Precision("bf16")  # a second one does not warn again
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["--bf16: this CPU has no native bfloat16 support (needs AVX-512 or AVX-NE-CONVERT); "
                        "computing in float32"]
    assert precision.compute_dtype == torch.float32 and precision.state_dict()["mode"] == "bf16"
    with precision.autocast():
        assert model(_batch()[0]).dtype == torch.float32
    _, stepped = _train_step(precision, model, optimizer, _batch())
    assert stepped


def test_from_flags_picks_the_mode():
    assert Precision.from_flags().mode == "fp32"
    assert Precision.from_flags(fp16=True, dynamic_loss_scale=True).scaler.dynamic
    assert Precision.from_flags(fp16=True, loss_scale=256.0).loss_scale == 256.0
    assert Precision.from_flags(amp=True, loss_scale=1024.0).loss_scale == 1024.0
    assert Precision.from_flags(bf16=True).loss_scale == 1.0


@pytest.mark.parametrize("flags, words", [
    ({"fp16": True, "bf16": True}, "at most one"),
    ({"fp16": True, "loss_scale": 0.0}, "loss-scale"),
    ({"device": "potato"}, "device"),
])
def test_bad_flags_are_user_errors(flags, words):
    with pytest.raises(UserError, match=words):
        Precision.from_flags(**flags)


def test_amp_on_cpu_warns_that_bf16_is_faster(caplog):
    with caplog.at_level(logging.WARNING):
        Precision.from_flags(amp=True, device="cpu")
    assert "--bf16" in caplog.text


@pytest.mark.parametrize("mode", ["fp16", "amp"])
def test_state_dict_round_trip_resumes_identically(mode, tmp_path):
    precision, model, optimizer = _setup(mode, dynamic_loss_scale=True)
    for seed in range(3):
        _train_step(precision, model, optimizer, _batch(seed))
    saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "precision": precision.state_dict()}
    torch.save(saved, tmp_path / "ckpt.pt")
    scale_at_save, skipped_at_save = precision.loss_scale, precision.skipped_steps
    expected = [_train_step(precision, model, optimizer, _batch(10 + s))[0] for s in range(3)]

    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    resumed, resumed_model, resumed_optimizer = _setup(mode, dynamic_loss_scale=True)
    resumed_model.load_state_dict(loaded["model"])
    resumed_optimizer.load_state_dict(loaded["optimizer"])
    resumed.load_state_dict(loaded["precision"])
    assert (resumed.loss_scale, resumed.skipped_steps) == (scale_at_save, skipped_at_save)
    got = [_train_step(resumed, resumed_model, resumed_optimizer, _batch(10 + s))[0] for s in range(3)]
    assert got == expected
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), resumed_model.parameters()))


def test_loading_another_modes_state_keeps_only_the_skipped_count():
    fp16 = Precision("fp16", dynamic_loss_scale=True)
    fp16.scaler.update(True)
    bf16 = Precision("bf16")
    bf16.load_state_dict(fp16.state_dict())
    assert bf16.skipped_steps == 1 and bf16.loss_scale == 1.0
    static = Precision("fp16", loss_scale=8.0)
    static.load_state_dict(fp16.state_dict())                       # dynamic state, static flags
    assert static.loss_scale == 8.0 and static.skipped_steps == 1


def test_resuming_an_fp16_run_without_fp16_takes_the_fp32_masters():
    precision, model, optimizer = _setup("fp16", loss_scale=64.0)
    for seed in range(2):
        _train_step(precision, model, optimizer, _batch(seed))
    state = copy.deepcopy(optimizer.state_dict())
    masters = [m.detach().clone() for m in optimizer.param_groups[0]["params"]]
    fp32_model = TinyLM()
    fp32_optimizer = torch.optim.Adam(fp32_model.parameters(), lr=0.05)
    load_optimizer_state(fp32_optimizer, state)
    assert all(torch.equal(p, m) for p, m in zip(fp32_model.parameters(), masters))
    assert fp32_optimizer.state[next(fp32_model.parameters())]["step"] == 2
    _train_step(Precision("fp32"), fp32_model, fp32_optimizer, _batch(5))    # it keeps training


def test_resuming_a_plain_run_with_fp16_goes_through_the_same_helper():
    torch.manual_seed(0)
    plain_model = TinyLM()
    plain_optimizer = torch.optim.Adam(plain_model.parameters(), lr=0.05)
    _train_step(Precision("fp32"), plain_model, plain_optimizer, _batch())
    precision, model, optimizer = _setup("fp16", loss_scale=64.0)
    model.load_state_dict(plain_model.state_dict())                     # cast to half by load_state_dict
    load_optimizer_state(optimizer, plain_optimizer.state_dict())
    for master, param in zip(optimizer.param_groups[0]["params"], model.parameters()):
        assert master.dtype == torch.float32 and torch.equal(master, param.float())

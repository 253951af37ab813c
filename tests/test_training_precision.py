"""The Precision modes on CPU: autocast, GradScaler's static and dynamic loss scales (the original's
--fp16 recipe), overflow skipping and counting, clipping, state round trips."""
import copy
import logging

import pytest
import torch
import torch.nn.functional as F

from sentiment_discovery.errors import UserError
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
    model = TinyLM().to(device)
    optimizer = getattr(torch.optim, optimizer_name)(model.parameters(), lr=lr)
    return precision, model, optimizer


def _set_scale(precision, scale):
    """Start GradScaler at `scale` (through its public state)."""
    precision.scaler.load_state_dict(dict(precision.scaler.state_dict(), scale=scale))


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


# --- the --fp16 loss scale (GradScaler) -------------------------------------------------------------
def _overflowing_step(precision, model, optimizer):
    """A step whose gradient holds an inf: skipped. Returns whether it stepped."""
    precision.backward(_loss(precision, model, *_batch()))
    model.decoder.weight.grad[0, 0] = float("inf")
    stepped = precision.step(optimizer)
    optimizer.zero_grad()
    return stepped


def test_dynamic_scale_halves_on_overflow_and_never_goes_below_one():
    precision, model, optimizer = _setup("fp16", dynamic_loss_scale=True)
    _set_scale(precision, 4.0)
    before = _param_copies(model)
    for expected in (2.0, 1.0, 1.0):
        assert _overflowing_step(precision, model, optimizer) is False
        assert precision.loss_scale == expected
    assert precision.skipped_steps == 3
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_dynamic_scale_doubles_after_a_clean_window():
    precision, model, optimizer = _setup("fp16", dynamic_loss_scale=True)
    assert precision.scaler.get_growth_interval() == 1000        # the original's window
    precision.scaler.set_growth_interval(3)
    _set_scale(precision, 8.0)
    _train_step(precision, model, optimizer, _batch())
    _train_step(precision, model, optimizer, _batch())
    assert precision.loss_scale == 8.0
    _train_step(precision, model, optimizer, _batch())
    assert precision.loss_scale == 16.0
    _train_step(precision, model, optimizer, _batch())
    _overflowing_step(precision, model, optimizer)               # an overflow restarts the clean count
    _train_step(precision, model, optimizer, _batch())
    _train_step(precision, model, optimizer, _batch())
    assert precision.loss_scale == 8.0
    _train_step(precision, model, optimizer, _batch())
    assert precision.loss_scale == 16.0 and precision.skipped_steps == 1


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_static_scale_skips_and_counts_an_overflow_and_keeps_its_scale(bad):
    precision, model, optimizer = _setup("fp16", loss_scale=8.0)
    precision.backward(_loss(precision, model, *_batch()))
    model.hidden.bias.grad[1] = bad
    before = _param_copies(model)
    assert precision.step(optimizer) is False
    optimizer.zero_grad()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert precision.skipped_steps == 1 and precision.loss_scale == 8.0
    assert _train_step(precision, model, optimizer, _batch())[1] is True
    assert precision.skipped_steps == 1 and precision.loss_scale == 8.0


def test_fp16_keeps_fp32_weights_and_optimizer_state_and_computes_in_fp16():
    precision, model, optimizer = _setup("fp16", loss_scale=64.0)
    with precision.autocast():
        assert model(_batch()[0]).dtype == torch.float16
    _, stepped = _train_step(precision, model, optimizer, _batch())
    assert stepped
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(v.dtype == torch.float32 for s in optimizer.state.values() for v in s.values()
               if torch.is_tensor(v) and v.is_floating_point())


def test_a_scaled_step_matches_sgd_on_the_unscaled_gradient():
    precision, model, optimizer = _setup("fp16", lr=0.5, optimizer_name="SGD", loss_scale=1024.0)
    reference = copy.deepcopy(model)
    precision.backward(_loss(precision, model, *_batch()))
    with precision.autocast():
        logits = reference(_batch()[0])
    F.cross_entropy(logits.float().flatten(0, 1), _batch()[1].flatten()).backward()
    precision.step(optimizer)
    for after, before in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(after, before - 0.5 * before.grad, rtol=1e-3, atol=1e-5)


def test_switching_precision_on_resume_loads_the_same_optimizer_state():
    """Every mode steps a plain optimizer over fp32 weights: its state loads across modes as it is."""
    precision, model, optimizer = _setup("fp16", loss_scale=64.0)
    for seed in range(2):
        _train_step(precision, model, optimizer, _batch(seed))
    fp32_precision, fp32_model, fp32_optimizer = _setup("fp32")
    fp32_model.load_state_dict(model.state_dict())
    fp32_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    assert fp32_optimizer.state[next(fp32_model.parameters())]["step"] == 2
    _train_step(fp32_precision, fp32_model, fp32_optimizer, _batch(5))    # it keeps training


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
        _set_scale(precision, 2.0 ** 12)                            # clean start, large scale
    reference = copy.deepcopy(model)
    batch = _batch()
    _loss(Precision("fp32"), reference, *batch).backward()
    true_norm = torch.cat([p.grad.flatten() for p in reference.parameters()]).norm().item()
    clip = true_norm / 10
    before = _param_copies(model)
    _, stepped = _train_step(precision, model, optimizer, batch, clip=clip)
    assert stepped
    update_norm = torch.cat([(a - b).flatten() for a, b in zip(model.parameters(), before)]).norm().item()
    assert update_norm == pytest.approx(clip, rel=1e-3)             # SGD lr 1: update = clipped grad


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


def test_fp16_dynamic_scale_starts_at_2_to_the_32():
    precision, model, optimizer = _setup("fp16", dynamic_loss_scale=True)
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
    assert Precision.from_flags(fp16=True, dynamic_loss_scale=True).dynamic
    assert not Precision.from_flags(fp16=True).dynamic and Precision.from_flags(fp16=True).loss_scale == 1.0
    assert Precision.from_flags(fp16=True, loss_scale=256.0).loss_scale == 256.0
    assert Precision.from_flags(amp=True, loss_scale=1024.0).loss_scale == 1024.0
    assert Precision.from_flags(bf16=True).loss_scale == 1.0


@pytest.mark.parametrize("flags, words", [
    ({"fp16": True, "bf16": True}, "at most one"),
    ({"fp16": True, "loss_scale": 0.0}, "loss-scale"),
])
def test_bad_flags_are_user_errors(flags, words):
    with pytest.raises(UserError, match=words):
        Precision.from_flags(**flags)


@pytest.mark.parametrize("flag", ["amp", "fp16"])
def test_fp16_compute_on_cpu_warns_that_bf16_is_faster(caplog, flag):
    with caplog.at_level(logging.WARNING):
        Precision.from_flags(**{flag: True}, device="cpu")
    assert f"--{flag} on CPU" in caplog.text and "--bf16" in caplog.text


@pytest.mark.parametrize("mode, flags", [("fp16", {"dynamic_loss_scale": True}), ("fp16", {"loss_scale": 32.0}),
                                         ("amp", {})])
def test_state_dict_round_trip_resumes_identically(mode, flags, tmp_path):
    precision, model, optimizer = _setup(mode, **flags)
    for seed in range(3):
        _train_step(precision, model, optimizer, _batch(seed))
    saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "precision": precision.state_dict()}
    torch.save(saved, tmp_path / "ckpt.pt")
    scale_at_save, skipped_at_save = precision.loss_scale, precision.skipped_steps
    expected = [_train_step(precision, model, optimizer, _batch(10 + s))[0] for s in range(3)]

    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    resumed, resumed_model, resumed_optimizer = _setup(mode, **flags)
    resumed_model.load_state_dict(loaded["model"])
    resumed_optimizer.load_state_dict(loaded["optimizer"])
    resumed.load_state_dict(loaded["precision"])
    assert (resumed.loss_scale, resumed.skipped_steps) == (scale_at_save, skipped_at_save)
    got = [_train_step(resumed, resumed_model, resumed_optimizer, _batch(10 + s))[0] for s in range(3)]
    assert got == expected
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), resumed_model.parameters()))


def test_loading_another_modes_state_keeps_only_the_skipped_count():
    fp16, model, optimizer = _setup("fp16", dynamic_loss_scale=True)
    _train_step(fp16, model, optimizer, _batch())                   # 2**32 overflows: skipped
    bf16 = Precision("bf16")
    bf16.load_state_dict(fp16.state_dict())
    assert bf16.skipped_steps == 1 and bf16.loss_scale == 1.0
    static = Precision("fp16", loss_scale=8.0)
    static.load_state_dict(fp16.state_dict())                       # dynamic state, static flags
    assert static.loss_scale == 8.0 and static.skipped_steps == 1
    dynamic = Precision("fp16", dynamic_loss_scale=True)
    dynamic.load_state_dict(static.state_dict())                    # static state, dynamic flags
    assert dynamic.loss_scale == 2.0 ** 32 and dynamic.skipped_steps == 1

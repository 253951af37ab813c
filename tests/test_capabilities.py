"""capabilities.py: the probe decides by trying, the forcing variables give every machine an AVX2 CPU's
answers, packed and public products agree, and --bf16 without native bfloat16 computes in float32 after
one warning line (never a traceback). Tests of the packed / native side skip where the hardware lacks it."""
import json
import logging
import os

import pytest
import torch

import pretrain
from sentiment_discovery import capabilities
from sentiment_discovery.models.mlstm import MLSTMLayer
from sentiment_discovery.models.prepared_weight import PreparedWeight
from sentiment_discovery.transfer.featurize import inference_precision
from test_models_recurrent import batch_first

WARNING = capabilities.BF16_FALLBACK_WARNING


def needs_packed(dtype):
    if not capabilities.packed_product("cpu", dtype):
        pytest.skip(f"this CPU has no packed oneDNN {dtype} product")


# ---- the probe ------------------------------------------------------------------------------------------------
def test_probe_answers_are_memoised_booleans(fresh_capabilities):
    answers = [capabilities.packed_product("cpu", torch.float32), capabilities.packed_product("cpu", torch.bfloat16),
               capabilities.native_bf16("cpu")]
    assert all(isinstance(a, bool) for a in answers)
    capabilities.packed_product("cpu", torch.float32)
    assert capabilities._probe_packed.cache_info().hits >= 1
    assert capabilities.packed_product("cpu", torch.float64) is False  # only float32 / bfloat16 pack


def test_a_packed_op_that_raises_means_unsupported_not_a_traceback(fresh_capabilities, monkeypatch):
    def refuse(weight):
        raise RuntimeError("mkldnn_reorder_linear_weight: bf16 path needs the cpu support avx_ne_convert")

    monkeypatch.setattr(capabilities, "pack_weight", refuse)
    assert capabilities.packed_product("cpu", torch.bfloat16) is False
    assert capabilities.packed_product("cpu", torch.float32) is False
    assert PreparedWeight(torch.randn(6, 4).bfloat16()).packed is None


def test_no_packed_variable_turns_packing_off(cpu_without_packing):
    assert not capabilities.packed_product("cpu", torch.float32)
    assert PreparedWeight(torch.randn(6, 4)).packed is None


def test_no_bf16_variable_gives_an_avx2_cpus_answers(cpu_without_bf16):
    assert not capabilities.native_bf16("cpu")
    assert not capabilities.packed_product("cpu", torch.bfloat16)
    assert capabilities.compute_dtype("cpu", torch.bfloat16) == torch.float32
    assert capabilities.compute_dtype("cpu", torch.float16) == torch.float16


def test_the_kernel_line_is_logged_once(fresh_capabilities, caplog):
    with caplog.at_level(logging.INFO, logger="sentiment_discovery.capabilities"):
        capabilities.log_kernel_choice("cpu", torch.float32, "--bf16")
        capabilities.log_kernel_choice("cpu", torch.float32, "--bf16")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "products in float32 on cpu (--bf16)" in lines[0]
    assert capabilities.kernel_name("cpu", torch.float32) in lines[0]


# ---- packed vs public products --------------------------------------------------------------------------------
def public_weight(monkeypatch, weight, bias=None):
    """`weight` prepared for the public torch.mm (packing switched off while it is prepared)."""
    with monkeypatch.context() as patch:
        patch.setenv(capabilities.ENV_NO_PACKED, "1")
        return PreparedWeight(weight, bias)


def test_packed_fp32_product_matches_the_public_one(fresh_capabilities, monkeypatch):
    needs_packed(torch.float32)
    torch.manual_seed(0)
    weight, bias, x, add = torch.randn(12, 8), torch.randn(12), torch.randn(3, 8), torch.randn(3, 12)
    packed, public = PreparedWeight(weight, bias), public_weight(monkeypatch, weight, bias)
    assert packed.packed is not None and public.packed is None
    torch.testing.assert_close(packed(x), public(x))
    torch.testing.assert_close(PreparedWeight(weight)(x, add=add), public_weight(monkeypatch, weight)(x, add=add))


def test_packed_bf16_product_matches_the_public_one(fresh_capabilities, monkeypatch):
    needs_packed(torch.bfloat16)
    torch.manual_seed(0)
    weight, x, add = torch.randn(12, 8).bfloat16(), torch.randn(3, 8).bfloat16(), torch.randn(3, 12).bfloat16()
    torch.testing.assert_close(PreparedWeight(weight)(x, add=add).float(),
                               public_weight(monkeypatch, weight)(x, add=add).float(), atol=0.05, rtol=0.02)


def test_public_bf16_product_is_close_to_float32(monkeypatch):
    torch.manual_seed(0)
    weight, x = torch.randn(12, 8), torch.randn(3, 8)
    result = public_weight(monkeypatch, weight.bfloat16())(x.bfloat16())
    torch.testing.assert_close(result.float(), x @ weight.t(), atol=0.1, rtol=0.02)


def _mlstm_run(seed=0):
    """(outputs, input gradient, W_hh gradient) of a small mLSTM layer on fixed data."""
    torch.manual_seed(seed)
    layer = MLSTMLayer(6, 10)
    x = torch.randn(3, 5, 6, requires_grad=True)  # (B, T, I)
    out, _ = batch_first(layer, x)
    out.square().sum().backward()
    return out.detach(), x.grad, layer.w_hh.parametrizations.weight.original1.grad


def test_recurrent_layer_packed_and_public_paths_agree(fresh_capabilities, monkeypatch):
    needs_packed(torch.float32)
    packed = _mlstm_run()
    monkeypatch.setenv(capabilities.ENV_NO_PACKED, "1")
    public = _mlstm_run()
    for a, b in zip(packed, public):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_bf16_autocast_recurrence_runs_float32_without_native_bf16(cpu_without_bf16):
    torch.manual_seed(0)
    layer = MLSTMLayer(6, 10).eval()
    x = torch.randn(3, 5, 6)
    with torch.no_grad():
        plain, _ = batch_first(layer, x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            autocast, _ = batch_first(layer, x)
    assert autocast.dtype == torch.float32
    torch.testing.assert_close(autocast, plain, atol=2e-2, rtol=2e-2)  # only the input products ran in bf16


def test_bf16_autocast_recurrence_runs_bfloat16_where_native(fresh_capabilities):
    if not capabilities.native_bf16("cpu"):
        pytest.skip("this CPU has no native bfloat16")
    torch.manual_seed(0)
    layer = MLSTMLayer(6, 10).eval()
    assert layer.inference_compute_dtype(torch.device("cpu")) == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer.inference_compute_dtype(torch.device("cpu")) == torch.bfloat16


# ---- --bf16 end to end ------------------------------------------------------------------------------------------
def test_inference_bf16_without_native_bf16_is_float32(cpu_without_bf16, caplog):
    with caplog.at_level(logging.WARNING):
        dtype, context = inference_precision("bf16", "cpu")
        inference_precision("bf16", "cpu")
    assert dtype == torch.float32 and not isinstance(context, torch.autocast)
    assert [r.getMessage() for r in caplog.records] == [WARNING]


def _corpus(tmp_path):
    path = tmp_path / "corpus.json"
    path.write_text("".join(json.dumps({"text": f"review {i}: a fine film, well acted. "}) + "\n"
                            for i in range(40)))
    return str(path)


def _pretrain_flags(corpus, save, *extra):
    return ["--data", corpus, "--loose-json", "--text-key", "text", "--split", "10,1,1", "--nhid", "16",
            "--emsize", "8", "--batch-size", "2", "--seq-length", "8", "--train-iters", "3", "--log-interval", "1",
            "--save", str(save), "--num-workers", "1", "--eval-iters", "1", "--seed", "3", *extra]


@pytest.mark.slow
@pytest.mark.parametrize("world", ["cpu_without_bf16", "fresh_capabilities"])
def test_pretrain_bf16_runs_on_either_kind_of_cpu(world, request, tmp_path, caplog):
    request.getfixturevalue(world)
    native = capabilities.native_bf16("cpu")
    with caplog.at_level(logging.INFO):
        summary = pretrain.main(_pretrain_flags(_corpus(tmp_path), tmp_path / "lm.pt", "--bf16"))
    assert summary["outcome"] == "done"
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count(WARNING) == (0 if native else 1)
    dtype = "bfloat16" if native else "float32"
    assert any(m.startswith("compute: ") and f"products in {dtype} on cpu (--bf16)" in m for m in messages)
    assert os.path.exists(tmp_path / "lm.pt")

"""What this machine's kernels can really do, decided once per device and dtype by trying them.

CPUs differ: oneDNN's packed ("reordered") linear kernels run float32 everywhere it is built, but their
bfloat16 path needs AVX-512 (bw/vl/dq) or AVX-NE-CONVERT, and on a CPU without those torch computes
bfloat16 by converting element by element, tens of times slower than float32 (analysis/fp16.md).
So nothing here assumes: each capability is a tiny real operation, tried once, its answer memoised
(each public function below answers one question).

Environment variables force a probe to answer "unsupported" (the tests use them to run, on any machine,
what a less capable CPU runs):
    SENTIMENT_DISCOVERY_NO_PACKED=1   no packed oneDNN products: every product uses public torch.mm
    SENTIMENT_DISCOVERY_NO_BF16=1     no native bfloat16 (what an AVX2-only CPU reports): --bf16 computes
                                      in float32"""
import functools
import logging
import os
import time

import torch

logger = logging.getLogger(__name__)

ENV_NO_PACKED = "SENTIMENT_DISCOVERY_NO_PACKED"
ENV_NO_BF16 = "SENTIMENT_DISCOVERY_NO_BF16"
BF16_FALLBACK_WARNING = ("--bf16: this CPU has no native bfloat16 support (needs AVX-512 or AVX-NE-CONVERT); "
                         "computing in float32")
_announced = set()  # what has been logged or warned in this process


def env_flag(name):
    """True when the environment variable `name` is set to anything but "", "0", "false" or "no"."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _device_type(device):
    return torch.device(device).type


# ---- the private oneDNN ops: only here ------------------------------------------------------------------
def pack_weight(weight):
    """W (out, in) on CPU -> oneDNN's packed copy of it (only where `packed_product` says so)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight, None)


def packed_linear(x, packed, bias=None):
    """x (B, in) @ W.T (+ bias) -> (B, out) with a weight from `pack_weight`."""
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


def packed_linear_add(x, add, packed):
    """x (B, in) @ W.T + add (B, out), the addition fused into the product."""
    return torch.ops.mkldnn._linear_pointwise(x, add, packed, None, "add")


# ---- the trials ---------------------------------------------------------------------------------------------
def _packing_ops_exist():
    try:
        torch.ops.mkldnn._reorder_linear_weight  # noqa: B018 (attribute lookup loads the op)
        torch.ops.mkldnn._linear_pointwise  # noqa: B018
    except (AttributeError, RuntimeError):
        return False
    return torch.backends.mkldnn.is_available()


def _tiny_operands(dtype):
    weight = (torch.arange(48, dtype=torch.float32).reshape(6, 8) / 50 - 0.4).to(dtype)  # (out 6, in 8)
    x = torch.linspace(-1, 1, 16).reshape(2, 8).to(dtype)  # (B 2, in 8)
    expected = x.double() @ weight.double().t()  # (2, 6)
    return weight, x, expected


def _close(result, expected, dtype):
    tolerance = 0.05 if dtype in (torch.bfloat16, torch.float16) else 1e-4
    return torch.allclose(result.double(), expected, atol=tolerance, rtol=tolerance)


def _try_packed(dtype):
    """The packed product and its fused addition on a tiny CPU tensor: True when both run and are right."""
    if not _packing_ops_exist():
        return False
    weight, x, expected = _tiny_operands(dtype)
    try:
        packed = pack_weight(weight)
        plain = packed_linear(x, packed)
        fused = packed_linear_add(x, torch.ones(2, 6, dtype=dtype), packed)
    except Exception as err:  # noqa: BLE001 (any failure of the private op means: not here)
        logger.debug("packed %s product unavailable: %s", dtype, str(err).splitlines()[0] if str(err) else err)
        return False
    return _close(plain, expected, dtype) and _close(fused, expected + 1, dtype)


def _best_time(fn, repeats=3):
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _bf16_matmul_keeps_up():
    """Without oneDNN's ops to try: a 64×256 @ 256×256 product in bfloat16 runs, is right and takes at
    most twice float32's time (emulated bfloat16 is tens of times slower, so the margin is wide)."""
    a, b = torch.randn(64, 256), torch.randn(256, 256)
    a16, b16 = a.bfloat16(), b.bfloat16()
    try:
        if not torch.allclose(torch.mm(a16, b16).float(), a @ b, atol=1.0, rtol=0.05):
            return False
        return _best_time(lambda: torch.mm(a16, b16)) <= 2 * _best_time(lambda: torch.mm(a, b))
    except Exception:  # noqa: BLE001
        return False


@functools.lru_cache(maxsize=None)
def _probe_packed(device_type, dtype):
    return device_type == "cpu" and dtype in (torch.float32, torch.bfloat16) and _try_packed(dtype)


@functools.lru_cache(maxsize=None)
def _probe_native_bf16(device_type):
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return False
    if _packing_ops_exist():
        return _try_packed(torch.bfloat16)
    return _bf16_matmul_keeps_up()


# ---- the answers --------------------------------------------------------------------------------------------
def packed_product(device, dtype):
    """True when oneDNN's packed product works here for `dtype` (forced False by SENTIMENT_DISCOVERY_NO_PACKED,
    and for bfloat16 by SENTIMENT_DISCOVERY_NO_BF16)."""
    if env_flag(ENV_NO_PACKED) or (dtype == torch.bfloat16 and env_flag(ENV_NO_BF16)):
        return False
    return _probe_packed(_device_type(device), dtype)


def native_bf16(device):
    """True when bfloat16 compute is native (and so worth using) on `device`."""
    if env_flag(ENV_NO_BF16):
        return False
    return _probe_native_bf16(_device_type(device))


def compute_dtype(device, requested):
    """The dtype that work asked to run in `requested` (e.g. autocast's dtype) really computes in."""
    if requested == torch.bfloat16 and not native_bf16(device):
        return torch.float32
    return requested


def bf16_compute_dtype(device):
    """What --bf16 computes in on `device`: bfloat16 where native, else float32 with one warning line."""
    dtype = compute_dtype(device, torch.bfloat16)
    if dtype != torch.bfloat16 and "bf16 fallback" not in _announced:
        _announced.add("bf16 fallback")
        logger.warning(BF16_FALLBACK_WARNING)
    return dtype


def kernel_name(device, dtype):
    """Which kernel the recurrent products use for `dtype` on `device`."""
    if packed_product(device, dtype):
        return "packed oneDNN"
    return "public torch.mm"


def log_kernel_choice(device, dtype, flag=None):
    """The start-of-run line: which kernel and compute dtype the model's products use (once per process
    for each device, dtype and flag)."""
    key = (_device_type(device), dtype, flag)
    if key in _announced:
        return
    _announced.add(key)
    dtype_name = str(dtype).removeprefix("torch.")
    suffix = f" ({flag})" if flag else ""
    logger.info("compute: %s products in %s on %s%s", kernel_name(device, dtype), dtype_name,
                _device_type(device), suffix)

"""Frozen language models over many texts: the precision a run uses at inference (`precision_mode`,
`inference_precision`, `prepare_for_inference`) and transfer.py's featurizing loop (`featurize_texts`),
built on the length-ordered run in sentiment_discovery/inference.py; under torchrun the ranks share its
batches and sum their rows, so the features are one process's.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from .. import capabilities
from ..errors import UserError
from ..inference import RunStats, encode_texts, progress_bar, run_length_ordered
from ..training.distributed import all_reduce_sum, sum_over_ranks


# ---------------------------------------------------------------- precision

def inference_precision(mode: str, device) -> tuple[torch.dtype, contextlib.AbstractContextManager]:
    """(parameter dtype, context) for inference: fp32 plain; fp16 a half model (the original's
    --fp16); amp / bf16 torch.autocast (weights stay fp32); bf16 computes in fp32, after one warning
    line, where bfloat16 is not native (see capabilities.py)."""
    device_type = torch.device(device).type
    if mode == "fp32":
        return torch.float32, contextlib.nullcontext()
    if mode == "fp16":
        return torch.float16, contextlib.nullcontext()
    if mode == "amp":
        return torch.float32, torch.autocast(device_type, dtype=torch.float16)
    if mode == "bf16":
        if device_type == "cuda" and not torch.cuda.is_bf16_supported():
            raise UserError("--bf16 needs a GPU with bfloat16 support; use --fp16 on this one")
        if capabilities.bf16_compute_dtype(device_type) != torch.bfloat16:  # no native bf16: float32
            return torch.float32, contextlib.nullcontext()
        return torch.float32, torch.autocast(device_type, dtype=torch.bfloat16)
    raise UserError(f"unknown precision {mode!r}; choose fp32, fp16, amp or bf16")


def precision_mode(fp16=False, amp=False, bf16=False) -> str:
    """The mode the --fp16 / --amp / --bf16 flags choose (at most one)."""
    chosen = [name for name, on in (("fp16", fp16), ("amp", amp), ("bf16", bf16)) if on]
    if len(chosen) > 1:
        raise UserError(f"choose at most one of --fp16, --amp, --bf16 (got --{', --'.join(chosen)})")
    return chosen[0] if chosen else "fp32"


def prepare_for_inference(model: torch.nn.Module, mode: str, device):
    """The model moved to `device` (in place), in eval mode and in the mode's storage dtype; and the
    autocast context. fp16 halves a language model, or a classifier's encoder only (its head reads the
    float32 features the featurizer returns); keep a copy of the fp32 weights first if still needed."""
    dtype, context = inference_precision(mode, device)
    capabilities.log_kernel_choice(device, getattr(context, "fast_dtype", dtype),
                                   None if mode == "fp32" else f"--{mode}")
    model = model.to(device=device).eval()
    encoder = getattr(model, "encoder", None)
    (encoder if isinstance(encoder, torch.nn.Module) else model).to(dtype=dtype)
    return model, context


# ---------------------------------------------------------------- the loop

def featurize_texts(model, tokenizer, texts, feature_options: dict, feature_width: int,
                    batch_size: int = 64, max_seq_len=None, device="cpu", context=None,
                    desc: str = "featurize", progress: bool = True,
                    process=None, share=(0, 1)) -> tuple[np.ndarray, RunStats]:
    """Features (N, F) float32 of a frozen language model for every text (see the module docstring),
    read after the last token of the processed text (`process`: a process function name or None).

    The model must already be prepared (`prepare_for_inference`); `context` is its autocast context.
    Texts without tokens get zero features. With `share=(rank, world_size)` in a torchrun job every rank
    calls it: each featurizes every world_size-th length-ordered batch, and every rank gets all the
    features and the counts of the whole run, the same numbers as one process."""
    from ..models.featurizer import featurize

    token_lists, n_truncated, n_chars = encode_texts(texts, tokenizer, max_seq_len, process)
    features = np.zeros((len(token_lists), feature_width), dtype=np.float32)  # (N, F)

    def compute(tokens, lengths):
        return featurize(model, tokens, lengths, **feature_options)  # (B, F)

    with progress_bar(len(token_lists), desc, progress and share[0] == 0) as bar:
        stats = run_length_ordered(token_lists, compute, features, batch_size, device, context, bar,
                                   empty_rows=lambda n: np.zeros((n, feature_width), np.float32), share=share)
    if share[1] > 1:
        features = sum_over_ranks(features)
        stats.n_texts, stats.n_tokens, stats.n_empty = map(int, all_reduce_sum(
            [stats.n_texts, stats.n_tokens, stats.n_empty]))
    stats.n_truncated, stats.n_chars = n_truncated, n_chars
    return features, stats

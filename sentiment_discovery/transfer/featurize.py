"""Running a frozen model over many texts in length order: the featurizing loop of transfer.py and the
classifying loop of run_classifier.py.

Texts go through the model's process function (`process`, a data/preprocess.py name; the caller
resolves it from --process-fn and the checkpoint), are tokenized (and cut to `max_seq_len` tokens,
counted), sorted by length (longest first) so a
batch holds texts of similar length and little padding, run through `compute(tokens (B, T), lengths (B,))`
with no grad under the chosen precision, and the rows of each result are written back at the texts'
original positions, so row i of the output is text i. A tqdm bar counts texts (its rate is texts/s).

A text with no tokens (an empty string) is not given to the model: its row is computed from zero
features by `empty_rows` (for the recurrent models this is the state before any token, whose c and h
are zero); callers say what an empty row becomes.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from .. import capabilities
from ..data.batches.classification import pad_batch
from ..data.preprocess import get_process_fn
from ..errors import UserError


@dataclass
class RunStats:
    """What a length-ordered run saw: texts, tokens, characters, cut and empty texts, seconds."""
    n_texts: int = 0
    n_tokens: int = 0
    n_chars: int = 0
    n_truncated: int = 0
    n_empty: int = 0
    seconds: float = 0.0

    def add(self, other: "RunStats") -> None:
        for name in ("n_texts", "n_tokens", "n_chars", "n_truncated", "n_empty", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict:
        return {"n_texts": self.n_texts, "n_tokens": self.n_tokens, "n_chars": self.n_chars,
                "n_truncated": self.n_truncated, "n_empty": self.n_empty,
                "seconds": round(self.seconds, 3),
                "chars_per_s": round(self.n_chars / self.seconds, 1) if self.seconds > 0 else None}


# ---------------------------------------------------------------- tokens and batches

def encode_texts(texts, tokenizer, max_seq_len=None, process=None) -> tuple[list[np.ndarray], int, int]:
    """Token ids of each text (int64 arrays) after the process function `process` (a name or None),
    cut to `max_seq_len`; how many texts were cut; and how many characters the processed texts hold."""
    if max_seq_len is not None and max_seq_len < 1:
        raise UserError(f"--max-seq-len must be at least 1, got {max_seq_len}")
    clean = get_process_fn(process)
    encode = getattr(tokenizer, "encode_array", None) or (lambda text: np.asarray(tokenizer.encode(text)))
    cut = getattr(tokenizer, "truncate", None) or (lambda ids, n: ids[:n])  # an hf tokenizer keeps its [SEP]
    token_lists, n_truncated, n_chars = [], 0, 0
    for text in texts:
        text = clean(text) if clean is not None else text
        n_chars += len(text)
        ids = np.asarray(encode(text), dtype=np.int64)
        if max_seq_len is not None and ids.size > max_seq_len:
            ids = cut(ids, max_seq_len)
            n_truncated += 1
        token_lists.append(ids)
    return token_lists, n_truncated, n_chars


def length_ordered_batches(lengths, batch_size: int) -> list[np.ndarray]:
    """Row indices sorted by length (longest first, stable), cut into batches of `batch_size`."""
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {batch_size}")
    lengths = np.asarray(lengths, dtype=np.int64)  # (N,)
    order = np.argsort(-lengths, kind="stable")
    return [order[start:start + batch_size] for start in range(0, order.size, batch_size)]


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

def run_length_ordered(token_lists, compute, out, batch_size: int, device, context=None,
                       bar: tqdm | None = None, empty_rows=None) -> RunStats:
    """Fill `out[i]` (an (N, ...) array, e.g. a memmap) with `compute` of text i's tokens.

    compute(tokens (B, T) int64 on device, lengths (B,)) -> (B, ...) tensor or array.
    empty_rows(n) -> (n, ...) rows for texts without tokens (required when there are any)."""
    started = time.perf_counter()
    lengths = np.array([ids.size for ids in token_lists], dtype=np.int64)  # (N,)
    stats = RunStats(n_texts=len(token_lists), n_tokens=int(lengths.sum()))
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        if empty_rows is None:
            raise UserError(f"{empty.size} text(s) have no tokens; drop empty texts first")
        out[empty] = empty_rows(int(empty.size))
        stats.n_empty = int(empty.size)
        if bar is not None:
            bar.update(int(empty.size))
    filled = np.flatnonzero(lengths > 0)
    with torch.no_grad(), (context or contextlib.nullcontext()):
        for batch in length_ordered_batches(lengths[filled], batch_size):
            rows = filled[batch]
            tokens, batch_lengths = pad_batch([token_lists[i] for i in rows])  # (B, T), (B,)
            result = compute(tokens.to(device), batch_lengths.to(device))
            out[rows] = result.float().cpu().numpy() if isinstance(result, torch.Tensor) else result
            if bar is not None:
                bar.update(rows.size)
    stats.seconds = time.perf_counter() - started
    return stats


def progress_bar(total: int, desc: str, enabled: bool = True) -> tqdm:
    """The tqdm bar of a featurizing/classifying loop (unit: texts)."""
    return tqdm(total=total, desc=desc, unit="text", dynamic_ncols=True, disable=not enabled,
                mininterval=0.5)


def featurize_texts(model, tokenizer, texts, feature_options: dict, feature_width: int,
                    batch_size: int = 64, max_seq_len=None, device="cpu", context=None,
                    desc: str = "featurize", progress: bool = True,
                    process=None) -> tuple[np.ndarray, RunStats]:
    """Features (N, F) float32 of a frozen language model for every text (see the module docstring),
    read after the last token of the processed text (`process`: a process function name or None).

    The model must already be prepared (`prepare_for_inference`); `context` is its autocast context.
    Texts without tokens get zero features."""
    from ..models.featurizer import featurize

    token_lists, n_truncated, n_chars = encode_texts(texts, tokenizer, max_seq_len, process)
    features = np.zeros((len(token_lists), feature_width), dtype=np.float32)  # (N, F)

    def compute(tokens, lengths):
        return featurize(model, tokens, lengths, **feature_options)  # (B, F)

    with progress_bar(len(token_lists), desc, progress) as bar:
        stats = run_length_ordered(token_lists, compute, features, batch_size, device, context, bar,
                                   empty_rows=lambda n: np.zeros((n, feature_width), np.float32))
    stats.n_truncated, stats.n_chars = n_truncated, n_chars
    return features, stats

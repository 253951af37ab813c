"""Running a trained model over many texts, shared by transfer/ and finetune/ (and run_classifier): each
text through the model's process function and tokenizer, cut to --max-seq-len (`encode_texts`); the texts
run longest first, so that a batch holds texts of similar length and little padding, each result written
back at its text's row (`run_length_ordered`; under torchrun the ranks take turns at the batches); a
classifier's outputs (`classify_batch`, and `empty_text_outputs` for a text without tokens).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, fields

import numpy as np
import torch
from tqdm import tqdm

from .data.batches.padded import pad_batch
from .data.preprocess import get_process_fn
from .errors import UserError
from .models.kinds import feature_width


@dataclass
class RunStats:
    """What a length-ordered run saw: texts, tokens, characters, cut texts, texts without tokens (empty),
    blank texts (empty or whitespace only, yet given tokens by the process function's padding), seconds."""
    n_texts: int = 0
    n_tokens: int = 0
    n_chars: int = 0
    n_truncated: int = 0
    n_empty: int = 0
    n_blank: int = 0
    seconds: float = 0.0

    def add(self, other: "RunStats") -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def to_dict(self) -> dict:
        counts = {field.name: getattr(self, field.name) for field in fields(self)}
        return dict(counts, seconds=round(self.seconds, 3),
                    chars_per_s=round(self.n_chars / self.seconds, 1) if self.seconds > 0 else None)

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

def run_length_ordered(token_lists, compute, out, batch_size: int, device, context=None,
                       bar: tqdm | None = None, empty_rows=None, share=(0, 1)) -> RunStats:
    """Fill `out[i]` (an (N, ...) array) with `compute` of text i's tokens: all rows, or with
    `share=(rank, world_size)` the rows of every world_size-th batch from the rank-th (rank 0 also fills
    the empty texts' rows), so that the ranks' arrays summed are one process's; the stats count the rows
    filled here.

    compute(tokens (B, T) int64 on device, lengths (B,)) -> (B, ...) tensor or array.
    empty_rows(n) -> (n, ...) rows for texts without tokens (required when there are any)."""
    started = time.perf_counter()
    rank, world_size = share
    lengths = np.array([ids.size for ids in token_lists], dtype=np.int64)  # (N,)
    empty = np.flatnonzero(lengths == 0) if rank == 0 else np.zeros(0, np.int64)
    filled = np.flatnonzero(lengths > 0)
    batches = length_ordered_batches(lengths[filled], batch_size)[rank::world_size]
    mine = np.concatenate([empty, *(filled[batch] for batch in batches)])
    stats = RunStats(n_texts=mine.size, n_tokens=int(lengths[mine].sum()))
    if empty.size:
        if empty_rows is None:
            raise UserError(f"{empty.size} text(s) have no tokens; drop empty texts first")
        out[empty] = empty_rows(int(empty.size))
        stats.n_empty = int(empty.size)
        if bar is not None:
            bar.update(int(empty.size))
    with torch.no_grad(), (context or contextlib.nullcontext()):
        for batch in batches:
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


# ---------------------------------------------------------------- classifier outputs

def effective_max_len(requested, model_max):
    """--max-seq-len, capped by what the model can read (a transformer's positions)."""
    if requested is None:
        return model_max
    return requested if model_max is None else min(requested, model_max)

def outputs_from_logits(model, logits) -> torch.Tensor:
    """Logits (B, C) | (B, C, K) -> (B, C, 2): mean probability and std over heads (0 for one head)."""
    mean, std = model.probabilities(logits.float())
    return torch.stack([mean, torch.zeros_like(mean) if std is None else std], dim=-1)

def classify_batch(model, tokens, lengths) -> torch.Tensor:
    """tokens (B, T), lengths (B,) -> (B, C, 2) probabilities and head std."""
    return outputs_from_logits(model, model(tokens, lengths))

def empty_text_outputs(model, n: int) -> np.ndarray:
    """(n, C, 2) outputs for texts without tokens: the head applied to zero features."""
    head_param = next(model.head.parameters())
    with torch.no_grad():
        width = feature_width(model.encoder.config, **model.features)  # what the head reads
        features = torch.zeros(n, width, dtype=head_param.dtype, device=head_param.device)
        logits = model.head(features)
        if model.heads_per_class > 1:
            logits = logits.view(n, -1, model.heads_per_class)  # (n, C, K)
        return outputs_from_logits(model, logits).cpu().numpy()


def output_names(task: str, label_names, class_names, n_columns: int) -> list[str]:
    """Names of the classifier's output columns: the label column(s), or one per class."""
    if task == "multiclass":
        if class_names and len(class_names) == n_columns:
            return [str(name) for name in class_names]
        return [f"{label_names[0]}={k}" for k in range(n_columns)]
    return [str(name) for name in label_names]

"""Choosing the next token from a language model's logits: greedy, temperature, top-k and nucleus (top-p).

Order of operations for one step (logits (B, V)):
    temperature 0           -> argmax (greedy; top-k / top-p do not matter)
    else logits / T         -> keep the k largest (top-k)
                            -> keep the smallest set of tokens whose probability mass is >= p (top-p,
                               Holtzman et al. 2019, "The Curious Case of Neural Text Degeneration")
                            -> draw from the renormalised distribution with a seeded torch.Generator.
Removed tokens get logit -inf, so they are never drawn.
"""
from dataclasses import dataclass

import torch

from ..errors import UserError


@dataclass(frozen=True)
class SamplingOptions:
    """How a token is chosen: temperature 0 is greedy; top_k 0 and top_p 1 switch those filters off."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self):
        if not self.temperature >= 0:
            raise UserError(f"--temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k < 0:
            raise UserError(f"--top-k must be >= 0 (0 = off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"--top-p must be in (0, 1] (1 = off), got {self.top_p}")

    @property
    def greedy(self):
        return self.temperature == 0


def top_k_filter(logits, k):
    """logits (B, V) -> the same with all but the k largest of each row set to -inf (k 0 = unchanged)."""
    if k <= 0 or k >= logits.size(-1):
        return logits
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits, p):
    """logits (B, V) -> the same with -inf outside each row's nucleus: the smallest set of most likely
    tokens whose probability mass is >= p (the most likely token is always kept; p 1 = unchanged)."""
    if p >= 1:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
    sorted_probs = torch.softmax(sorted_logits.float(), dim=-1)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # mass of the more likely tokens
    drop_sorted = mass_before >= p  # (B, V): the set is already complete without this token
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def next_token_distribution(logits, options):
    """The probabilities (B, V) float32 a sampled (not greedy) next token is drawn from: softmax of the
    logits after temperature, top-k and top-p."""
    scaled = logits.float() / options.temperature
    return torch.softmax(top_p_filter(top_k_filter(scaled, options.top_k), options.top_p), dim=-1)


def sample_next(logits, options, generator=None):
    """logits (B, V) -> next token ids (B,) int64, drawn with `generator` (or argmax when greedy)."""
    if options.greedy:
        return logits.argmax(dim=-1)
    probs = next_token_distribution(logits, options)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

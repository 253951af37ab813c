"""The input check every language model runs: tokens are a (B, T) integer tensor of in-vocabulary ids."""
import torch

from ..errors import UserError


def check_token_ids(tokens, vocab_size):
    """UserError unless `tokens` is a (batch, time) integer tensor with ids in [0, vocab_size)."""
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise UserError(f"tokens must be a (batch, time) tensor, got {shape}")
    if tokens.dtype not in (torch.int64, torch.int32):
        raise UserError(f"tokens must be integer ids, got {tokens.dtype}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
        bad = int(tokens.max()) if int(tokens.max()) >= vocab_size else int(tokens.min())
        raise UserError(f"token id {bad} is outside the model's vocabulary of {vocab_size}")

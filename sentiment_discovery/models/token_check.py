"""The input check every language model runs: tokens are a (B, T) integer tensor of in-vocabulary ids.

Shape and dtype are checked always (free: no tensor values are read). The ids' range needs their values:
on CPU that is one min/max pass over the batch and costs no synchronisation, so it always runs; on an
accelerator reading a value back forces the host to wait for the device on every forward, so there it runs
only in debug mode: set the environment variable `SENTIMENT_DISCOVERY_DEBUG=1` (read at each check, so it
can be switched on for one run). Without it an out-of-range id on CUDA fails inside the embedding, with
torch's own (asynchronous) device-side assertion."""
import torch

from ..capabilities import env_flag
from ..errors import UserError

DEBUG_ENV = "SENTIMENT_DISCOVERY_DEBUG"


def values_checked(tokens):
    """Whether the ids' range is checked for `tokens`: always on CPU, elsewhere only in debug mode."""
    return tokens.device.type == "cpu" or env_flag(DEBUG_ENV)


def check_token_ids(tokens, vocab_size):
    """UserError unless `tokens` is a (batch, time) integer tensor with ids in [0, vocab_size)
    (the range on an accelerator only in debug mode, see the module docstring)."""
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise UserError(f"tokens must be a (batch, time) tensor, got {shape}")
    if tokens.dtype not in (torch.int64, torch.int32):
        raise UserError(f"tokens must be integer ids, got {tokens.dtype}")
    if tokens.numel() and values_checked(tokens):
        check_id_range(tokens, vocab_size)


def check_id_range(tokens, vocab_size):
    """UserError naming an out-of-range id (the largest if any is too large, else the smallest)."""
    low, high = torch.stack(torch.aminmax(tokens)).tolist()  # (2,) read back once
    if low < 0 or high >= vocab_size:
        bad = high if high >= vocab_size else low
        raise UserError(f"token id {bad} is outside the model's vocabulary of {vocab_size}")

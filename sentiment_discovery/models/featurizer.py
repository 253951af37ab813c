"""Text features from a language model for transfer (Radford et al. 2017, arXiv 1704.01444): the last
layer's cell state c (or hidden h) at each text's last real token, optionally every layer's, followed by
max / min / mean pools over the real tokens. "Last real token" is the last token of the text as the model's
process function made it, padding included (process_str's trailing space): the state after the whole text,
as OpenAI's encoder reads it. (The original's transfer.py read one token earlier; analysis/textpipe.md.)

Feature layout for B texts: [last-token state of each chosen layer] [max pool] [min pool] [mean pool]
(pools present only when asked for, each over the same layers). Padding after a text's end never
leaks in: the recurrence is causal and the pools mask it out. A transformer contributes `trace()`'s last
hidden state; it has no cell, so `get_hidden` is moot. A pretrained hf encoder (models/hf_encoder.py) gives
its own pooled vector ([CLS] or mean) and takes none of these options. The width of the features is
`kinds.feature_width(config, **options)`; what differs between kinds is asked of `kinds.model_kind`.

`featurize` neither switches off grad nor changes the module's train/eval mode: the caller decides
(transfer wraps it in torch.no_grad() with model.eval(); finetuning backpropagates through it)."""
import torch

from ..errors import UserError
from .kinds import model_kind


def check_lengths(tokens, lengths):
    """lengths as an int64 tensor on tokens' device; UserError unless 1 <= length <= T for each row."""
    if tokens.dim() != 2:
        raise UserError(f"tokens must be a (batch, time) tensor, got shape {tuple(tokens.shape)}")
    lengths = torch.as_tensor(lengths, device=tokens.device).long()
    if tuple(lengths.shape) != (tokens.shape[0],):
        raise UserError(f"lengths has shape {tuple(lengths.shape)}, expected ({tokens.shape[0]},)")
    if len(lengths) and int(lengths.min()) < 1:
        raise UserError("a text has no tokens (length 0); drop empty texts before featurizing")
    if len(lengths) and int(lengths.max()) > tokens.shape[1]:
        raise UserError(f"a length of {int(lengths.max())} exceeds the {tokens.shape[1]} token columns")
    return lengths


def _chosen_states(states, get_hidden, all_layers):
    """List of (B, T, D) per-step states to take features from."""
    key = "h" if get_hidden or "c" not in states else "c"
    per_layer = states[key]
    return list(per_layer) if all_layers else [per_layer[-1]]


def _max_pool(state, real, lengths):
    return state.masked_fill(~real, float("-inf")).amax(dim=1)


def _min_pool(state, real, lengths):
    return state.masked_fill(~real, float("inf")).amin(dim=1)


def _mean_pool(state, real, lengths):
    return state.masked_fill(~real, 0.0).sum(dim=1) / lengths.unsqueeze(1).to(state.dtype)


def featurize(model, tokens, lengths, get_hidden=False, all_layers=False, concat_max=False,
              concat_min=False, concat_mean=False):
    """tokens (B, T) padded with 0 after each text, lengths (B,) -> features (B, F) float32."""
    lengths = check_lengths(tokens, lengths)
    tokens = tokens[:, : int(lengths.max())]  # nothing past the longest text matters
    options = dict(get_hidden=get_hidden, all_layers=all_layers, concat_max=concat_max, concat_min=concat_min,
                   concat_mean=concat_mean)
    return encoder_features(model, tokens, lengths, options)[1]


def encoder_features(model, tokens, lengths, options):
    """tokens (B, T) already cut to the longest text, lengths (B,) -> (trace() states or None for a pooled
    encoder, features (B, F) float32)."""
    if model_kind(model).pooled:
        return None, model.pooled(tokens, lengths).float()  # (B, H)
    states, _ = model.trace(tokens)
    return states, features_from_states(states, lengths, **options)


def features_from_states(states, lengths, get_hidden=False, all_layers=False, concat_max=False,
                         concat_min=False, concat_mean=False):
    """`trace()` output ({"h": [(B, T, D)], "c": [...]}) and lengths (B,) -> features (B, F) float32."""
    chosen = _chosen_states(states, get_hidden, all_layers)
    batch_size, steps = chosen[0].shape[0], chosen[0].shape[1]
    device = chosen[0].device
    lengths = lengths.to(device)
    rows = torch.arange(batch_size, device=device)
    features = [state[rows, lengths - 1] for state in chosen]  # each (B, D)
    pools = [pool for pool, wanted in ((_max_pool, concat_max), (_min_pool, concat_min),
                                       (_mean_pool, concat_mean)) if wanted]
    if pools:
        real = torch.arange(steps, device=device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
        real = real.unsqueeze(-1)  # (B, T, 1)
        for pool in pools:
            features += [pool(state, real, lengths) for state in chosen]  # each (B, D)
    return torch.cat(features, dim=1).float()

"""The generation loop: prime a language model with a prompt, then sample one token at a time.

Recurrent models carry their explicit state (a list over layers of (h, c)); the transformer carries
its key/value cache. The prompt is read in one forward pass, except when steering
must touch the state after every prompt token (`overwrite_prefix`), which reads it token by token.

Neuron values (optional) are the raw value of one unit after every token, as the model computed it:
with steering, the value recorded at a step is the one before the overwrite, so the heatmap shows how
the model reacts to the forced state (as the original sentiment-discovery's visualisation did).
Recurrent values are read from the state during the loop (the prompt's from `trace()`); a transformer's
come from one `trace()` over the finished sequence, which is the same thing for a causal model.
"""
from dataclasses import dataclass

import torch
from tqdm import tqdm

from ..data.tokenizers.builtin import PAD_ID
from ..errors import UserError
from ..models.kinds import model_kind
from .neuron import neuron_from_trace, overwrite_neuron, read_neuron
from .sampling import sample_next


@dataclass
class Generation:
    """tokens (B, P + G) int64: the prompt then the generated tokens; values (B, P + G) float32 raw
    neuron values after each token, or None when not recorded."""

    tokens: torch.Tensor
    values: torch.Tensor | None = None


@dataclass(frozen=True)
class Steering:
    """Set the neuron to `value` × polarity after every generated step (and every prompt step with
    `prefix`). `value` None = no steering."""

    value: float | None = None
    prefix: bool = False

    @property
    def active(self):
        return self.value is not None


def _check_request(model, prime_length, gen_length, num_samples, neuron, steering, record):
    if prime_length < 1:
        raise UserError("the prompt has no tokens; give a non-empty --text")
    if gen_length < 0:
        raise UserError(f"--gen-length must be >= 0, got {gen_length}")
    if num_samples < 1:
        raise UserError(f"--num-samples must be >= 1, got {num_samples}")
    kind = model_kind(model)
    if (record or steering.active) and neuron is None:
        raise ValueError("recording or steering a neuron needs a NeuronSpec")
    if steering.active and not kind.steerable:
        raise UserError(f"--overwrite steers a recurrent model's state; a {kind.label} cannot be steered")
    limit = kind.max_positions(model.config)
    if limit is not None and prime_length + gen_length > limit:
        raise UserError(f"prompt ({prime_length} tokens) + --gen-length {gen_length} exceed the "
                        f"{kind.label}'s max_positions {limit}")


def _read_prompt(model, prime, neuron, steering, record):
    """prime (B, P) -> (next-token logits (B, V), state, list of per-token neuron values (B,))."""
    values = []
    if steering.active and steering.prefix:
        state = None
        for column in prime.unbind(1):
            logits, state = model(column[:, None], state)  # (B, 1, V)
            if record:
                values.append(read_neuron(state, neuron))
            state = overwrite_neuron(state, neuron, steering.value)
        return logits[:, -1], state, values
    if not record or not model_kind(model).recurrent:
        logits, state = model(prime)  # (B, P, V)
        return logits[:, -1], state, values
    state = None
    if prime.size(1) > 1:
        states, state = model.trace(prime[:, :-1])
        values = list(neuron_from_trace(states, neuron).unbind(1))
    logits, state = model(prime[:, -1:], state)
    values.append(read_neuron(state, neuron))
    return logits[:, -1], state, values


def _no_padding(logits):
    """logits (B, V) with the padding id made impossible (it is not text)."""
    return logits.index_fill(-1, torch.tensor([PAD_ID], device=logits.device), float("-inf"))


@torch.no_grad()
def generate(model, prime_ids, gen_length, sampling, generator=None, num_samples=1, neuron=None,
             steering=Steering(), record=False, progress=False):
    """Prompt `prime_ids` (list of ints), then `gen_length` sampled tokens for each of `num_samples`
    rows. `neuron` (NeuronSpec) is what `record` records and `steering` overwrites."""
    _check_request(model, len(prime_ids), gen_length, num_samples, neuron, steering, record)
    device = next(model.parameters()).device
    prime = torch.tensor([prime_ids] * num_samples, dtype=torch.long, device=device)  # (B, P)
    recurrent = model_kind(model).recurrent
    logits, state, values = _read_prompt(model, prime, neuron, steering, record)
    generated = []
    bar = progress and gen_length > 0  # nothing to sample, no bar
    for step in tqdm(range(gen_length), desc="generate", unit="tok", disable=not bar, leave=False):
        token = sample_next(_no_padding(logits), sampling, generator)  # (B,)
        generated.append(token)
        if step == gen_length - 1 and not (record and recurrent):
            break  # the last token's own outputs are needed only for its neuron value
        logits, state = model(token[:, None], state)  # (B, 1, V)
        logits = logits[:, -1]
        if record and recurrent:
            values.append(read_neuron(state, neuron))
        if steering.active:
            state = overwrite_neuron(state, neuron, steering.value)
    tokens = torch.cat([prime, *(t[:, None] for t in generated)], 1)  # (B, P + G)
    if record and not recurrent:
        states, _ = model.trace(tokens)
        return Generation(tokens, neuron_from_trace(states, neuron).float())
    return Generation(tokens, torch.stack(values, 1).float() if record else None)

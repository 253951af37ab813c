"""Tests of the generation loop itself (sentiment_discovery.generation.decoding): neuron values against
trace(), steering of the prompt, the transformer's key/value cache, and per-character values."""
import pytest
import torch

from sentiment_discovery.data.tokenizers.builtin import PAD_ID, CharTokenizer
from sentiment_discovery.generation.alignment import token_text
from sentiment_discovery.generation.decoding import Steering
from sentiment_discovery.generation.decoding import generate as generate_tokens
from sentiment_discovery.generation.neuron import NeuronSpec, resolve_neuron
from sentiment_discovery.generation.sampling import SamplingOptions, sample_next
from sentiment_discovery.models.language_model import recurrent_config
from sentiment_discovery.models.kinds import build_language_model

PROMPT = "Good film"
TINY_TRANSFORMER = {"model": "transformer", "vocab_size": 257, "decoder_layers": 2, "decoder_embed_dim": 16,
                    "decoder_ffn_embed_dim": 32, "decoder_attention_heads": 2, "dropout": 0.0,
                    "attention_dropout": 0.0, "relu_dropout": 0.0, "max_positions": 64}


def tiny_recurrent(kind="mLSTM", nlayers=1, seed=0):
    torch.manual_seed(seed)
    model = build_language_model(recurrent_config(model=kind, emsize=8, nhid=32, nlayers=nlayers)).eval()
    with torch.no_grad():  # larger weights make the untrained model's choices and states less uniform
        for param in model.parameters():
            param.mul_(3.0)
    return model


def tiny_transformer(seed=0):
    torch.manual_seed(seed)
    return build_language_model(TINY_TRANSFORMER).eval()


def char_ids(text):
    return CharTokenizer().encode(text)


def generate_without_cache(model, ids, gen_length, options, generator, num_samples):
    """The reference the key/value cache is checked against: the whole sequence re-read at every step."""
    tokens = torch.tensor([ids] * num_samples)  # (B, P)
    with torch.no_grad():
        for _ in range(gen_length):
            logits = model(tokens)[0][:, -1]  # (B, V)
            logits[:, PAD_ID] = float("-inf")
            tokens = torch.cat([tokens, sample_next(logits, options, generator)[:, None]], 1)
    return tokens


def trace_values(model, ids, key, layer):
    """Per-step states (T, H) of one layer from trace() for one sequence."""
    with torch.no_grad():
        states, _ = model.trace(torch.tensor([ids]))
    return states[key][layer][0]


@pytest.mark.parametrize("options", [SamplingOptions(temperature=0.0),
                                     SamplingOptions(temperature=1.0, top_k=30, top_p=0.9)])
def test_transformer_generation_with_cache_equals_generation_without_it(options):
    model = tiny_transformer()
    ids = char_ids(PROMPT)
    cached = generate_tokens(model, ids, 15, options, torch.Generator().manual_seed(3), num_samples=2).tokens
    assert cached.shape == (2, len(ids) + 15)
    assert torch.equal(cached, generate_without_cache(model, ids, 15, options, torch.Generator().manual_seed(3), 2))


@pytest.mark.parametrize("kind, nlayers, layer, key", [("mLSTM", 1, 0, "c"), ("mLSTM", 2, 0, "h"),
                                                       ("LSTM", 2, 1, "c"), ("GRU", 1, 0, "c")])
def test_recorded_neuron_values_equal_the_per_step_states_of_trace(kind, nlayers, layer, key):
    model = tiny_recurrent(kind, nlayers)
    neuron = NeuronSpec(index=7, layer=layer, state_key=key, polarity=1.0, model=kind)
    result = generate_tokens(model, char_ids(PROMPT), 10, SamplingOptions(temperature=1.0),
                             torch.Generator().manual_seed(0), num_samples=2, neuron=neuron, record=True)
    assert result.values.shape == result.tokens.shape
    for row in range(2):
        expected = trace_values(model, result.tokens[row].tolist(), key, layer)[:, 7]
        torch.testing.assert_close(result.values[row], expected, rtol=1e-4, atol=1e-5)


def test_transformer_neuron_values_equal_its_trace():
    model = tiny_transformer()
    neuron = NeuronSpec(index=3, layer=1, state_key="h", model="transformer")
    result = generate_tokens(model, char_ids(PROMPT), 10, SamplingOptions(temperature=0.0), neuron=neuron,
                             record=True)
    expected = trace_values(model, result.tokens[0].tolist(), "h", -1)[:, 3]
    torch.testing.assert_close(result.values[0], expected)


def test_overwrite_prefix_steers_while_reading_the_prompt():
    model = tiny_recurrent()
    neuron = NeuronSpec(index=4, layer=0, state_key="c", model="mLSTM")
    ids = char_ids(PROMPT)
    options = SamplingOptions(temperature=0.0)
    plain = generate_tokens(model, ids, 5, options, neuron=neuron, record=True,
                            steering=Steering(value=3.0, prefix=False))
    prefixed = generate_tokens(model, ids, 5, options, neuron=neuron, record=True,
                               steering=Steering(value=3.0, prefix=True))
    assert plain.values[0, 0] == pytest.approx(prefixed.values[0, 0])  # the first token sees the same state
    assert not torch.allclose(plain.values[0, 1:len(ids)], prefixed.values[0, 1:len(ids)])
    # by hand: step the prompt forcing c[4] = 3 after every token; the recorded value is the one before
    # forcing, and the first generated token is the argmax after the last prompt token
    with torch.no_grad():
        state, by_hand = None, []
        for token in ids:
            logits, state = model(torch.tensor([[token]]), state)
            h, c = state[0]
            by_hand.append(float(c[0, 4]))
            c = c.clone()
            c[:, 4] = 3.0
            state = [(h, c)]
    assert prefixed.values[0, :len(ids)].tolist() == pytest.approx(by_hand, rel=1e-4, abs=1e-5)
    assert int(prefixed.tokens[0, len(ids)]) == int(logits[0, -1, 1:].argmax()) + 1


def test_overwrite_steers_from_the_first_generated_step_on():
    model = tiny_recurrent()
    neuron = NeuronSpec(index=4, layer=0, state_key="c", model="mLSTM")
    ids = char_ids(PROMPT)
    options = SamplingOptions(temperature=1.0)
    free, pushed = (generate_tokens(model, ids, 20, options, torch.Generator().manual_seed(1), neuron=neuron,
                                    record=True, steering=Steering(value=value)) for value in (None, 3.0))
    first = len(ids)  # the first generated token is drawn before any overwrite and read from a free state
    assert torch.equal(free.tokens[:, :first + 1], pushed.tokens[:, :first + 1])
    torch.testing.assert_close(free.values[:, :first + 1], pushed.values[:, :first + 1])
    assert not torch.equal(free.tokens, pushed.tokens)
    # after the first overwrite (c[4] = 3), the next value starts from the forced state and differs
    assert abs(float(free.values[0, first + 1] - pushed.values[0, first + 1])) > 1e-3


def test_multibyte_and_invalid_bytes_get_one_value_per_character():
    ids = char_ids("aé") + [0xFF + 1] + char_ids("b")  # é is two bytes; 0xFF is not UTF-8
    text, values = token_text(CharTokenizer(), ids, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert text == "aé\ufffdb"
    assert values == [1.0, 3.0, 4.0, 5.0]  # é shows the value after its last byte


def test_the_classifiers_top_feature_names_unit_layer_state_and_sign():
    config = recurrent_config(emsize=8, nhid=32, nlayers=2)
    neurons = {"indices": [40, 3], "signs": [-1.0, 1.0]}
    spec = resolve_neuron(config, checkpoint_neurons=neurons, feature_options={"all_layers": True, "get_hidden": True})
    assert (spec.index, spec.layer, spec.state_key, spec.polarity) == (8, 1, "h", -1.0)
    spec = resolve_neuron(config, checkpoint_neurons=neurons, negate=True, feature_options={"concat_max": True})
    assert (spec.index, spec.layer, spec.state_key, spec.polarity) == (8, 1, "c", 1.0)  # 40 = max pool of unit 8
    spec = resolve_neuron(config, neuron=5, layer=0, checkpoint_neurons=neurons)
    assert (spec.index, spec.layer, spec.state_key, spec.polarity) == (5, 0, "c", 1.0)  # explicit: polarity +1

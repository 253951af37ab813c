"""Featurizer: last-token state, layer choice, masked pools, padding invariance, sizes and bad lengths."""
import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.models.featurizer import featurize
from sentiment_discovery.models.kinds import feature_width
from sentiment_discovery.models.language_model import recurrent_config
from sentiment_discovery.models.kinds import build_language_model

CONFIG = recurrent_config(model="mLSTM", vocab_size=257, emsize=8, nhid=10, nlayers=2)
ALL_OPTIONS = dict(all_layers=True, concat_max=True, concat_min=True, concat_mean=True)


def tiny_lm(config=CONFIG):
    torch.manual_seed(0)
    return build_language_model(config).eval()


def padded(texts):
    lengths = torch.tensor([len(t) for t in texts])
    batch = torch.zeros(len(texts), int(lengths.max()) + 3, dtype=torch.long)  # extra padding columns too
    for row, text in enumerate(texts):
        batch[row, : len(text)] = torch.tensor(text)
    return batch, lengths


TEXTS = [[5, 80, 33, 12, 100, 7, 9], [44, 3], [200, 201, 202, 203, 15]]


@pytest.mark.parametrize("options", [{}, {"get_hidden": True}, ALL_OPTIONS, dict(ALL_OPTIONS, get_hidden=True)])
def test_mixed_length_batch_equals_each_text_alone(options):
    lm = tiny_lm()
    batch, lengths = padded(TEXTS)
    batch[1, 2:] = 77  # garbage after the end must not leak in either
    with torch.no_grad():
        together = featurize(lm, batch, lengths, **options)
        alone = [featurize(lm, torch.tensor([text]), torch.tensor([len(text)]), **options) for text in TEXTS]
    torch.testing.assert_close(together, torch.cat(alone), atol=1e-6, rtol=0)


def test_last_token_feature_is_the_last_layer_cell_state():
    lm = tiny_lm()
    text = torch.tensor([TEXTS[0]])
    with torch.no_grad():
        _, state = lm(text)
        cell = featurize(lm, text, torch.tensor([7]))
        hidden = featurize(lm, text, torch.tensor([7]), get_hidden=True)
        layers = featurize(lm, text, torch.tensor([7]), all_layers=True)
    torch.testing.assert_close(cell, state[-1][1])
    torch.testing.assert_close(hidden, state[-1][0])
    torch.testing.assert_close(layers, torch.cat([state[0][1], state[1][1]], 1))


def test_pools_cover_real_tokens_only_and_follow_the_last_token_feature():
    lm = tiny_lm()
    batch, lengths = padded(TEXTS)
    with torch.no_grad():
        features = featurize(lm, batch, lengths, concat_max=True, concat_min=True, concat_mean=True)
        states, _ = lm.trace(batch)
    cells = states["c"][-1]  # (B, T, H)
    for row, length in enumerate(lengths.tolist()):
        real = cells[row, :length]
        expected = torch.cat([real[-1], real.max(0).values, real.min(0).values, real.mean(0)])
        torch.testing.assert_close(features[row], expected, atol=1e-6, rtol=1e-5)


def test_feature_size_matches_output():
    lm = tiny_lm()
    batch, lengths = padded(TEXTS)
    for options, pools in [({}, 0), ({"all_layers": True}, 0), (ALL_OPTIONS, 3), ({"concat_mean": True}, 1)]:
        with torch.no_grad():
            width = featurize(lm, batch, lengths, **options).shape[1]
        assert width == feature_width(CONFIG, **options)
        assert width == CONFIG["nhid"] * (CONFIG["nlayers"] if options.get("all_layers") else 1) * (1 + pools)
    transformer_config = {"model": "transformer", "decoder_embed_dim": 16}
    assert feature_width(transformer_config, all_layers=True, concat_max=True, concat_mean=True) == 48


class TracingTransformer(torch.nn.Module):
    """A causal stand-in with the transformer's interface: trace() gives {"h": [(B, T, D)]}."""

    config = {"model": "transformer", "decoder_embed_dim": 4}

    def trace(self, tokens, state=None, reset_mask=None):
        values = tokens.float().unsqueeze(-1) * torch.tensor([1.0, -1.0, 0.5, 2.0])
        return {"h": [values.cumsum(1)]}, None


def test_transformer_uses_last_hidden_state_at_the_last_real_token():
    batch, lengths = padded(TEXTS)
    features = featurize(TracingTransformer(), batch, lengths, concat_mean=True)
    assert features.shape == (3, 8)
    torch.testing.assert_close(features[1, :4], (44 + 3) * torch.tensor([1.0, -1.0, 0.5, 2.0]))


def test_featurize_passes_gradients_for_finetuning():
    lm = tiny_lm().train()
    batch, lengths = padded(TEXTS)
    featurize(lm, batch, lengths, concat_mean=True).sum().backward()
    assert lm.rnn.layers[1].w_hh.bias.grad.abs().sum() > 0


def test_bad_lengths_are_user_errors():
    lm = tiny_lm()
    batch, lengths = padded(TEXTS)
    with pytest.raises(UserError, match="length 0"):
        featurize(lm, batch, torch.tensor([3, 0, 2]))
    with pytest.raises(UserError, match="exceeds"):
        featurize(lm, batch, torch.tensor([3, 99, 2]))
    with pytest.raises(UserError, match="lengths has shape"):
        featurize(lm, batch, torch.tensor([3, 2]))

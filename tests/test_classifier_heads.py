"""Classifier heads and the end-to-end ClassifierModel: shapes, neuron selection, heads per class,
the head-variance loss and its gradient, config round trip, auxiliary LM logits."""
import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.models.classifier import (
    LinearHead,
    MLPHead,
    build_classifier,
    classifier_config,
    combine_heads,
)
from sentiment_discovery.finetune.losses import head_variance
from sentiment_discovery.models.featurizer import featurize
from sentiment_discovery.models.language_model import recurrent_config

ENCODER = recurrent_config(model="mLSTM", vocab_size=257, emsize=8, nhid=10, nlayers=1)


def batch():
    tokens = torch.tensor([[5, 80, 33, 12, 9], [44, 3, 0, 0, 0]])
    return tokens, torch.tensor([5, 2])


def test_linear_head_shapes_and_neuron_selection_keeps_selected_weights():
    torch.manual_seed(0)
    head = LinearHead(10, 3)
    features = torch.randn(4, 10)
    full = head(features)
    assert full.shape == (4, 3)
    weight = head.linear.weight.detach().clone()
    head.select_neurons([7, 2])
    assert head.linear.weight.shape == (3, 2)
    torch.testing.assert_close(head.linear.weight, weight[:, [7, 2]])
    expected = features[:, [7, 2]] @ weight[:, [7, 2]].t() + head.linear.bias
    torch.testing.assert_close(head(features), expected)
    features_changed = features.clone()
    features_changed[:, 0] += 100.0  # unselected neurons do not matter
    torch.testing.assert_close(head(features_changed), head(features))
    head.select_neurons([2])  # a subset of the current selection keeps its weight
    torch.testing.assert_close(head.linear.weight, weight[:, [2]])
    with pytest.raises(UserError, match="must lie in"):
        head.select_neurons([10])


def test_mlp_head_layers_and_shapes():
    head = MLPHead(10, [6, 4, 2], dropout=0.1)
    kinds = [type(layer).__name__ for layer in head.layers]
    assert kinds == ["Linear", "PReLU", "Dropout", "Linear", "PReLU", "Dropout", "Linear"]
    assert head(torch.randn(5, 10)).shape == (5, 2)
    assert MLPHead(10, [3])(torch.randn(5, 10)).shape == (5, 3)


def test_combine_heads_mean_and_std():
    logits = torch.tensor([[[0.0, 2.0], [1.0, 1.0]]])  # (B=1, C=2, K=2)
    mean, std = combine_heads(logits)
    probabilities = torch.sigmoid(logits)
    torch.testing.assert_close(mean, probabilities.mean(2))
    torch.testing.assert_close(std, probabilities.std(2, unbiased=False))
    assert std[0, 1] == 0
    softmax_mean, _ = combine_heads(logits, use_softmax=True)
    torch.testing.assert_close(softmax_mean.sum(1), torch.ones(1))
    single, no_std = combine_heads(torch.zeros(3, 2))
    assert no_std is None and torch.all(single == 0.5)


@pytest.mark.parametrize("use_softmax", [False, True])
def test_head_variance_loss_value_and_gradient(use_softmax):
    same = torch.randn(3, 4, 1).expand(3, 4, 5).clone().requires_grad_()
    loss = head_variance(same, 3, use_softmax)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    assert same.grad.abs().max() < 1e-7  # heads agree: nothing to push
    spread = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert head_variance(spread, 3, use_softmax).item() > 0
    assert torch.autograd.gradcheck(lambda x: head_variance(x, 3, use_softmax), (spread,))
    # a gradient step on the loss pulls the heads together
    with torch.no_grad():
        spread.grad = None
    head_variance(spread, 3, use_softmax).backward()
    with torch.no_grad():
        closer = spread - 1.0 * spread.grad
    assert head_variance(closer, 3, use_softmax) < head_variance(spread, 3, use_softmax)


def test_classifier_model_logits_probabilities_and_heads_per_class():
    torch.manual_seed(0)
    model = build_classifier(classifier_config(ENCODER, n_outputs=3, heads_per_class=4, concat_mean=True))
    tokens, lengths = batch()
    logits = model(tokens, lengths)
    assert logits.shape == (2, 3, 4)
    probabilities = model.predict_proba(tokens, lengths)
    assert probabilities.shape == (2, 3) and torch.all((probabilities > 0) & (probabilities < 1))
    mean, std = model.probabilities(logits)
    assert std.shape == (2, 3)
    softmax_model = build_classifier(classifier_config(ENCODER, n_outputs=5, use_softmax=True))
    torch.testing.assert_close(softmax_model.predict_proba(tokens, lengths).sum(1), torch.ones(2))


def test_classifier_features_are_the_featurizer_features():
    torch.manual_seed(0)
    model = build_classifier(classifier_config(ENCODER, n_outputs=1, concat_max=True)).eval()
    tokens, lengths = batch()
    with torch.no_grad():
        features = featurize(model.encoder, tokens, lengths, concat_max=True)
        torch.testing.assert_close(model(tokens, lengths), model.head(features))


def test_config_round_trip_with_neurons_and_mlp():
    torch.manual_seed(0)
    tokens, lengths = batch()
    for config in (classifier_config(ENCODER, n_outputs=2, neurons=[1, 4, 7]),
                   classifier_config(ENCODER, n_outputs=2, head="mlp", hidden_layers=[6], dropout=0.2,
                                     all_layers=True, concat_min=True)):
        model = build_classifier(config).eval()
        rebuilt = build_classifier(config).eval()
        rebuilt.load_state_dict(model.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(rebuilt(tokens, lengths), model(tokens, lengths))
        assert rebuilt.config == config


def test_aux_lm_returns_language_model_logits():
    torch.manual_seed(0)
    model = build_classifier(classifier_config(ENCODER, n_outputs=1)).eval()
    tokens, lengths = batch()
    with torch.no_grad():
        logits, lm_logits = model(tokens, lengths, lm_logits=True)
        expected, _ = model.encoder(tokens)
    assert logits.shape == (2, 1)
    torch.testing.assert_close(lm_logits, expected, atol=1e-6, rtol=1e-5)


def test_finetuning_gradients_reach_the_encoder():
    torch.manual_seed(0)
    model = build_classifier(classifier_config(ENCODER, n_outputs=1, heads_per_class=2))
    tokens, lengths = batch()
    logits = model(tokens, lengths)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    (loss + head_variance(logits, 2)).backward()
    assert model.encoder.embedding.weight.grad.abs().sum() > 0


def test_bad_classifier_configs_are_user_errors():
    with pytest.raises(UserError, match="unknown classifier head"):
        build_classifier(classifier_config(ENCODER, n_outputs=1, head="svm"))
    with pytest.raises(UserError, match="linear head only"):
        build_classifier(classifier_config(ENCODER, n_outputs=1, head="mlp", neurons=[1]))
    with pytest.raises(UserError, match="unknown feature options"):
        classifier_config(ENCODER, n_outputs=1, concat_median=True)
    with pytest.raises(UserError, match="lacks"):
        build_classifier({"encoder": ENCODER})

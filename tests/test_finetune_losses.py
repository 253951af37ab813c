"""Finetuning's pieces without the CLI: losses (BCE / softmax, class weights, heads per class, the head
variance and its gradient, the auxiliary LM loss over real tokens only), thresholds tuned past 0.5, the
task checks and the epoch's batch order."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sentiment_discovery.data.formats.readers import TextDataset
from sentiment_discovery.errors import UserError
from sentiment_discovery.finetune.classifier_task import epoch_steps, rank_rows
from sentiment_discovery.drivers.finetune import set_output_bias
from sentiment_discovery.finetune.losses import (
    aux_lm_loss,
    balanced_class_weights,
    classification_loss,
    head_variance,
    next_token_mask,
    prior_logits,
)
from sentiment_discovery.finetune.outputs import output_spec
from sentiment_discovery.finetune.validation import ThresholdOptions, tune_thresholds
from sentiment_discovery.models.classifier import build_classifier, classifier_config
from sentiment_discovery.models.language_model import recurrent_config
from sentiment_discovery.evaluation.threshold_search import evaluate_thresholds, second_pass

ENCODER = recurrent_config(model="mLSTM", vocab_size=257, emsize=8, nhid=12, nlayers=1)


def padded_batch():
    tokens = torch.tensor([[5, 80, 33, 12, 9], [44, 3, 7, 0, 0], [61, 0, 0, 0, 0]])  # (3, 5)
    return tokens, torch.tensor([5, 3, 1])


# ---------------------------------------------------------------- classification losses

def test_bce_loss_matches_torch_mean_and_heads_share_targets():
    torch.manual_seed(0)
    logits = torch.randn(4, 3)
    targets = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=torch.float32)
    expected = F.binary_cross_entropy_with_logits(logits, targets)
    torch.testing.assert_close(classification_loss(logits, targets, n_rows=4), expected)
    heads = logits.unsqueeze(-1).repeat(1, 1, 2)  # (4, 3, 2) two identical heads
    torch.testing.assert_close(classification_loss(heads, targets, n_rows=4), expected)


def test_softmax_loss_with_heads_and_balanced_weights():
    torch.manual_seed(1)
    logits = torch.randn(6, 4, 3)  # (B, C, K)
    targets = torch.tensor([0, 1, 3, 3, 2, 3])
    expected = torch.stack([F.cross_entropy(logits[:, :, k], targets) for k in range(3)]).mean()
    torch.testing.assert_close(classification_loss(logits, targets, n_rows=6, use_softmax=True), expected)
    weights = balanced_class_weights(targets.numpy(), use_softmax=True, n_classes=5)
    np.testing.assert_allclose(weights, [6 / 5, 6 / 5, 6 / 5, 6 / 15, 1.0])  # class 4 is absent: weight 1
    weighted = classification_loss(logits[:, :, 0], targets, 6, True, torch.tensor(weights[:4]))
    per_row = F.cross_entropy(logits[:, :, 0], targets, reduction="none") * torch.tensor(weights)[targets].float()
    torch.testing.assert_close(weighted, per_row.mean())


def test_balanced_sigmoid_weights_equalise_positives_and_negatives():
    targets = np.array([[1, 0], [0, 0], [0, 0], [0, 1]], dtype=np.float32)
    weights = balanced_class_weights(targets, use_softmax=False)  # (2, C): negatives, positives
    np.testing.assert_allclose(weights, [[4 / 6, 4 / 6], [2.0, 2.0]])
    total_positive = weights[1] * targets.sum(0)
    total_negative = weights[0] * (1 - targets).sum(0)
    np.testing.assert_allclose(total_positive, total_negative)


def test_heads_per_class_shapes_and_variance_gradient_pushes_heads_apart():
    torch.manual_seed(2)
    config = classifier_config(ENCODER, n_outputs=3, head="mlp", hidden_layers=[6], heads_per_class=4)
    model = build_classifier(config)
    tokens, lengths = padded_batch()
    logits = model(tokens, lengths)
    assert logits.shape == (3, 3, 4)
    mean, std = model.probabilities(logits)
    assert mean.shape == (3, 3) and std.shape == (3, 3)
    head = model.head.layers[-1]
    before = float(head_variance(logits, n_rows=3).detach())
    (-head_variance(logits, n_rows=3)).backward()  # finetuning subtracts the variance
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    with torch.no_grad():
        for param in model.head.parameters():
            param -= 0.5 * param.grad
        after = float(head_variance(model(tokens, lengths), n_rows=3))
    assert after > before


def test_a_new_head_starts_at_the_label_frequencies():
    targets = np.array([[1, 0], [0, 0], [0, 0], [0, 1]] * 5, dtype=np.float32)  # 5 of 20 positive per column
    torch.manual_seed(5)
    model = build_classifier(classifier_config(ENCODER, n_outputs=2, head="mlp", hidden_layers=[4], heads_per_class=3))
    torch.nn.init.zeros_(model.head.layers[-1].weight)
    set_output_bias(model, prior_logits(targets, use_softmax=False, n_outputs=2))
    tokens, lengths = padded_batch()
    mean, _ = model.probabilities(model(tokens, lengths))
    torch.testing.assert_close(mean, torch.full((3, 2), 6 / 22))  # smoothed: (5 + 1) / (20 + 2)
    softmax = np.exp(prior_logits(np.array([0, 0, 0, 1, 2, 2]), use_softmax=True, n_outputs=4))
    np.testing.assert_allclose(softmax, np.array([4, 2, 3, 1]) / 10)


def test_head_variance_is_zero_for_identical_heads():
    logits = torch.randn(5, 2).unsqueeze(-1).repeat(1, 1, 3)
    assert float(head_variance(logits, n_rows=5)) == pytest.approx(0.0, abs=1e-7)


# ---------------------------------------------------------------- auxiliary LM loss

def test_aux_lm_loss_reads_only_real_next_tokens():
    tokens, lengths = padded_batch()
    torch.manual_seed(3)
    logits = torch.randn(3, 5, 257, requires_grad=True)
    loss = aux_lm_loss(logits, tokens, lengths, n_tokens=4 + 2 + 0)
    # by hand: row 0 positions 0..3 predict tokens 1..4, row 1 positions 0..1 predict tokens 1..2
    pairs = [(0, t) for t in range(4)] + [(1, t) for t in range(2)]
    expected = sum(F.cross_entropy(logits[r, t][None], tokens[r, t + 1][None]) for r, t in pairs) / 6
    torch.testing.assert_close(loss, expected)
    loss.backward()
    touched = logits.grad.abs().sum(-1) > 0  # (3, 5)
    assert touched.tolist() == [[True] * 4 + [False], [True, True, False, False, False], [False] * 5]
    mask = next_token_mask(lengths, 5)
    assert mask.tolist() == touched[:, :4].tolist()


def test_aux_lm_loss_of_a_model_ignores_what_the_padding_holds():
    torch.manual_seed(4)
    model = build_classifier(classifier_config(ENCODER, n_outputs=1))
    tokens, lengths = padded_batch()
    other = tokens.clone()
    other[tokens == 0] = 200  # different ids in the padding
    losses = []
    for batch in (tokens, other):
        _, lm_logits = model(batch, lengths, lm_logits=True)
        losses.append(aux_lm_loss(lm_logits, batch, lengths, n_tokens=6))
    torch.testing.assert_close(losses[0], losses[1])


# ---------------------------------------------------------------- thresholds

def skewed_probabilities(seed=0):
    """Positives score 0.3-0.45 and negatives 0-0.28: at 0.5 nothing is predicted positive."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=(200, 2))
    probs = np.where(labels == 1, rng.uniform(0.3, 0.45, labels.shape), rng.uniform(0.0, 0.28, labels.shape))
    return probs, labels


def test_tuned_thresholds_beat_one_half():
    probs, labels = skewed_probabilities()
    default, _ = tune_thresholds(probs, labels, ThresholdOptions())
    tuned, info = tune_thresholds(probs, labels, ThresholdOptions(automatic=True, metric="f1", global_tweaks=50))
    assert default.tolist() == [0.5, 0.5]
    assert all(0.28 <= t < 0.3 for t in tuned)
    assert evaluate_thresholds(probs, labels, default, "f1") == 0.0
    assert evaluate_thresholds(probs, labels, tuned, "f1") == 1.0 == info["averaged_metric"]


def test_second_pass_never_lowers_the_micro_metric():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, size=(300, 4))
    probs = np.clip(labels * 0.25 + rng.normal(0.4, 0.2, labels.shape), 0, 1)
    first, _ = tune_thresholds(probs, labels, ThresholdOptions(automatic=True, metric="f1"))
    second = second_pass(probs, labels, first, "f1", micro=True)
    assert evaluate_thresholds(probs, labels, second, "f1", micro=True) >= \
        evaluate_thresholds(probs, labels, first, "f1", micro=True)


def test_dual_thresholds_replace_the_first_pair():
    probs, labels = skewed_probabilities(6)
    tuned, info = tune_thresholds(probs, labels, ThresholdOptions(automatic=True, dual=True))
    assert 0.0 <= info["dual_accuracy"] <= 1.0 and info["dual_accuracy"] == 1.0
    assert len(tuned) == 2


# ---------------------------------------------------------------- task checks and batches

def dataset(labels, names=("label",)):
    labels = np.asarray(labels)
    return TextDataset(["x"] * len(labels), labels, list(names), "mem.csv")


def test_task_kinds_and_their_errors():
    binary = output_spec([dataset(np.array([0, 1, 1], np.float32))])
    assert binary.kind == "binary" and binary.names == ("label",)
    softmax = output_spec([dataset(np.array([0, 4, 2]))], use_softmax=True)
    assert softmax.kind == "multiclass" and softmax.n_outputs == 5
    joint = output_spec([dataset(np.array([0, 2, 1]))], joint_binary=True, class_names=["neg", "neu", "pos"])
    assert joint.kind == "multilabel" and joint.names == ("neg", "neu", "pos")
    np.testing.assert_array_equal(joint.targets(dataset(np.array([2, 0]))), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(UserError, match="label 'label' is 2 in row 2; a binary task needs 0/1"):
        output_spec([dataset(np.array([0, 2, 1]))])
    with pytest.raises(UserError, match="--class-names lists 5 classes but --classifier-hidden-layers ends in 4"):
        output_spec([dataset(np.array([0, 4]))], use_softmax=True, class_names=list("abcde"), hidden_layers=[8, 4])
    with pytest.raises(UserError, match="does not fit 3 classes"):
        output_spec([dataset(np.array([0, 3]))], use_softmax=True, hidden_layers=[3])
    multi = dataset(np.eye(3, dtype=np.float32)[[0, 1]], names=("a", "b", "c"))
    with pytest.raises(UserError, match="ends in 2 outputs, but the task has 3"):
        output_spec([multi], hidden_layers=[16, 2])
    with pytest.raises(UserError, match="--dual-thresh needs"):
        output_spec([dataset(np.array([0, 1], np.float32))], dual_thresh=True)


def test_epoch_order_is_seeded_stratified_and_sliced_per_rank():
    token_lists = [np.arange(1, 2 + i % 7) for i in range(50)]
    targets = (np.arange(50) % 5 == 0).astype(np.float32)[:, None]
    steps = epoch_steps(token_lists, targets, 8, epoch=1, seed=3, stratified=True, grad_accum=2, world_size=2)
    again = epoch_steps(token_lists, targets, 8, epoch=1, seed=3, stratified=True, grad_accum=2, world_size=2)
    other = epoch_steps(token_lists, targets, 8, epoch=2, seed=3, stratified=True, grad_accum=2, world_size=2)
    assert steps == again and steps != other
    batches = [batch for step in steps for batch in step]
    assert sorted(row for batch in batches for row in batch) == list(range(50))
    assert len(steps) == 4 and all(len(step) == 2 for step in steps[:3])
    halves = [rank_rows(batches[0], rank, 2).tolist() for rank in (0, 1)]
    assert halves[0] + halves[1] == batches[0]

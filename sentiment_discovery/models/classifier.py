"""Classifier heads on language-model features and the end-to-end classifier, after NVIDIA's
sentiment-discovery finetuning (Kant et al. 2018, "Practical Text Classification With Large Pre-Trained
Language Models", arXiv 1812.01207).

With heads_per_class = K a head emits C·K outputs viewed as (B, C, K): the prediction is the mean of the K
heads' probabilities (sigmoid per output, or softmax over classes with `use_softmax`), their standard
deviation is reported. `classifier_config` / `build_classifier` rebuild a `ClassifierModel` from plain data."""
import torch
from torch import nn

from ..errors import UserError
from .featurizer import check_lengths, encoder_features
from .kinds import feature_width, model_kind
from .kinds import build_language_model

FEATURE_OPTIONS = ("get_hidden", "all_layers", "concat_max", "concat_min", "concat_mean")
HEAD_KINDS = ("linear", "mlp")


class LinearHead(nn.Module):
    """Linear(in_features -> n_outputs), optionally on a chosen subset of the features."""

    def __init__(self, in_features, n_outputs):
        super().__init__()
        self.in_features = in_features
        self.linear = nn.Linear(in_features, n_outputs)
        self.register_buffer("neurons", torch.zeros(0, dtype=torch.long))  # empty: all features

    def select_neurons(self, indices):
        """Use only features `indices` (e.g. the top-k neurons), keeping their current weights."""
        indices = torch.as_tensor(list(indices), dtype=torch.long)
        if indices.numel() == 0:
            raise UserError("select_neurons needs at least one neuron index")
        if int(indices.min()) < 0 or int(indices.max()) >= self.in_features:
            raise UserError(f"neuron indices must lie in [0, {self.in_features}), got "
                            f"{int(indices.min())}..{int(indices.max())}")
        old = self.linear
        full_weight = self._full_width_weight()  # (C, in_features)
        self.linear = nn.Linear(len(indices), old.out_features, device=old.weight.device, dtype=old.weight.dtype)
        with torch.no_grad():
            self.linear.weight.copy_(full_weight[:, indices.to(full_weight.device)])
            self.linear.bias.copy_(old.bias)
        self.neurons = indices.to(old.weight.device)
        return self

    def _full_width_weight(self):
        """The weight as if over all in_features (zeros for features not currently selected)."""
        weight = self.linear.weight.detach()
        if not self.neurons.numel():
            return weight
        full = weight.new_zeros(weight.shape[0], self.in_features)
        full[:, self.neurons] = weight
        return full

    def forward(self, features):
        """features (B, in_features) -> (B, n_outputs)."""
        if self.neurons.numel():
            features = features.index_select(1, self.neurons)
        return self.linear(features)


class MLPHead(nn.Module):
    """[Linear -> PReLU -> Dropout] per hidden size, then Linear to hidden_layers[-1] outputs."""

    def __init__(self, in_features, hidden_layers, dropout=0.0):
        super().__init__()
        if not hidden_layers:
            raise UserError("an MLP head needs at least its output size in hidden_layers")
        sizes = [in_features, *hidden_layers]
        blocks = []
        for width_in, width_out in zip(sizes[:-2], sizes[1:-1]):
            blocks += [nn.Linear(width_in, width_out), nn.PReLU(), nn.Dropout(dropout)]
        blocks.append(nn.Linear(sizes[-2], sizes[-1]))
        self.layers = nn.Sequential(*blocks)

    def forward(self, features):
        """features (B, in_features) -> (B, hidden_layers[-1])."""
        return self.layers(features)


def output_probabilities(logits, use_softmax=False):
    """Logits (B, C) or (B, C, K) -> probabilities of the same shape (softmax over the class axis 1)."""
    return torch.softmax(logits, dim=1) if use_softmax else torch.sigmoid(logits)


def combine_heads(logits, use_softmax=False):
    """Logits (B, C) or (B, C, K) -> (mean probability (B, C), std over heads (B, C) or None)."""
    probabilities = output_probabilities(logits, use_softmax)
    if probabilities.dim() == 2:
        return probabilities, None
    return probabilities.mean(dim=2), probabilities.std(dim=2, unbiased=False)


class ClassifierModel(nn.Module):
    """A language model encoder, its features (see featurizer.py) and a head, built from
    `classifier_config`'s plain data (with a new encoder unless one is given)."""

    def __init__(self, config, encoder=None):
        super().__init__()
        if not isinstance(config, dict):
            raise UserError(f"classifier config must be a dict, got {type(config).__name__}")
        _check_classifier_config(config)
        self.config = config
        self.encoder = encoder if encoder is not None else build_language_model(config["encoder"])
        self.features = config["features"]
        self.n_outputs = config["n_outputs"]
        self.heads_per_class = config.get("heads_per_class", 1)
        self.use_softmax = config.get("use_softmax", False)
        self.head = _head(config, feature_width(self.encoder.config, **self.features),
                          self.n_outputs * self.heads_per_class)

    def forward(self, tokens, lengths, lm_logits=False):
        """tokens (B, T), lengths (B,) -> logits (B, C) | (B, C, K); with `lm_logits` also the language
        model's logits (B, T', V) over the first T' = max(lengths) columns."""
        lengths = check_lengths(tokens, lengths)
        tokens = tokens[:, : int(lengths.max())]
        states, features = encoder_features(self.encoder, tokens, lengths, self.features)  # features (B, F)
        logits = self.head(features)
        if self.heads_per_class > 1:
            logits = logits.view(logits.shape[0], -1, self.heads_per_class)  # (B, C, K)
        if not lm_logits:
            return logits
        return logits, model_kind(self.encoder).lm_logits(self.encoder, tokens, states)  # (B, T', V)

    def probabilities(self, logits):
        """(mean probability (B, C), std over heads (B, C) or None)."""
        return combine_heads(logits, self.use_softmax)

    @torch.no_grad()
    def predict_proba(self, tokens, lengths):
        """Class probabilities (B, C), averaged over heads; no grad, train/eval mode left as is."""
        return self.probabilities(self.forward(tokens, lengths))[0]


def classifier_config(encoder_config, n_outputs, head="linear", hidden_layers=None, dropout=0.0,
                      heads_per_class=1, use_softmax=False, neurons=None, **features):
    """Plain-data config of a classifier. `hidden_layers` are the MLP's hidden sizes (the output layer of
    n_outputs·heads_per_class units is added); `neurons` restricts a linear head to those features;
    `features` are featurize()'s options (get_hidden, all_layers, concat_max, concat_min, concat_mean)."""
    unknown = set(features) - set(FEATURE_OPTIONS)
    if unknown:
        raise UserError(f"unknown feature options {sorted(unknown)}; known: {', '.join(FEATURE_OPTIONS)}")
    return {
        "encoder": dict(encoder_config), "n_outputs": int(n_outputs), "head": head,
        "hidden_layers": [int(size) for size in (hidden_layers or [])], "dropout": float(dropout),
        "heads_per_class": int(heads_per_class), "use_softmax": bool(use_softmax),
        "neurons": None if neurons is None else [int(n) for n in neurons],
        "features": {key: bool(features.get(key, False)) for key in FEATURE_OPTIONS},
    }


def _check_classifier_config(config):
    required = ("encoder", "n_outputs", "head", "features")
    missing = [key for key in required if key not in config]
    if missing:
        raise UserError(f"classifier config lacks {', '.join(missing)} (it has {', '.join(sorted(config))})")
    if config["head"] not in HEAD_KINDS:
        raise UserError(f"unknown classifier head {config['head']!r}; choose one of {', '.join(HEAD_KINDS)}")
    if config["n_outputs"] < 1 or config.get("heads_per_class", 1) < 1:
        raise UserError("a classifier needs n_outputs >= 1 and heads_per_class >= 1")
    if config.get("neurons") and config["head"] != "linear":
        raise UserError("neuron selection works with the linear head only")
    if not model_kind(config["encoder"]).takes_feature_options and any(config["features"].values()):
        raise UserError("the feature options (--get-hidden, --all-layers, --concat-*) are for the project's own "
                        "language models; with --model hf choose --hf-pooling cls|mean")


def _head(config, in_features, outputs):
    if config["head"] == "mlp":
        return MLPHead(in_features, [*config.get("hidden_layers", []), outputs], config.get("dropout", 0.0))
    head = LinearHead(in_features, outputs)
    if config.get("neurons"):
        head.select_neurons(config["neurons"])
    return head


def build_classifier(config, encoder=None):
    """A ClassifierModel from `classifier_config`'s dict (a new encoder unless one is given)."""
    return ClassifierModel(config, encoder)

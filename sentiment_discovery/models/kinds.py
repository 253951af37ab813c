"""Model kinds as objects: what the rest of the library asks about a text encoder, answered once per kind.

Three kinds of encoder read text: `RecurrentKind` (mLSTM, LSTM, GRU; one object per cell type),
`TransformerKind` and `HFKind` (a pretrained HuggingFace encoder). `model_kind(x)` looks the kind up from
a model config dict, a model (its `.config`), a typed `config.ModelConfig` (its `.model` flag) or the
kind's name. Code outside models/ asks the kind (`kind.generates`, `kind.max_positions(config)`,
`feature_width(config, **options)`, ...) and never compares the name itself.
"""
from ..errors import UserError
from .recurrent import LAYER_TYPES


class ModelKind:
    """The questions every kind answers; subclasses set the flags and implement the methods."""

    name = ""                 # the config's "model" value
    label = ""                # how messages name the kind
    generates = False         # a language model: samples text, has an LM head (aux loss), shows neurons
    recurrent = False         # carries explicit state from window to window / token to token
    steerable = False         # a neuron of its state can be overwritten while generating
    hidden_is_cell = False    # its state is (h, h): no separate cell (GRU)
    takes_feature_options = True   # --get-hidden, --all-layers, --concat-* apply
    layered_features = False  # --all-layers gives one feature block per layer
    pooled = False            # gives one pooled vector per text (`model.pooled`) instead of per-step states
    pretrained_only = False   # built from --hf-model, never from the architecture flags

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"

    def build(self, config):
        """A fresh module from the plain-data `config`."""
        raise NotImplementedError

    def max_positions(self, config):
        """The longest input (tokens) the model reads, or None for any length."""
        return None

    def state_width_and_layers(self, config):
        """(units per layer, number of layers whose per-step states `trace()` gives)."""
        raise NotImplementedError

    def feature_width(self, config, get_hidden=False, all_layers=False, n_pools=0):
        """Width F of the features (B, F) of one text (see featurizer.py)."""
        width, layers = self.state_width_and_layers(config)
        return width * (layers if all_layers else 1) * (1 + n_pools)

    def shown_state_key(self, get_hidden):
        """Which per-step state ("c" | "h") a neuron is read from."""
        return "h" if get_hidden else "c"

    def check_shown_layer(self, layer, n_layers):
        """UserError when `layer` (non-negative) cannot be shown."""

    def traced_layer(self, states, state_key, layer):
        """`trace()` states -> the per-step states (B, T, H) of one layer."""
        return states[state_key][layer]

    def source(self, model_config):
        """The path or package a typed `config.ModelConfig` loads this encoder from."""
        return model_config.load

    def lm_logits(self, model, tokens, states):
        """Next-token logits (B, T, V) of `tokens` (B, T), given `trace(tokens)`'s states."""
        raise UserError(f"a {self.label} is not a language model: it has no LM head")


class RecurrentKind(ModelKind):
    """Embedding -> stacked mLSTM / LSTM / GRU -> decoder."""

    label = "recurrent"
    generates = recurrent = steerable = layered_features = True

    def __init__(self, cell_type):
        self.name = cell_type
        self.hidden_is_cell = cell_type == "GRU"

    def build(self, config):
        from .language_model import RecurrentLM

        return RecurrentLM(config)

    def state_width_and_layers(self, config):
        return config["nhid"], config["nlayers"]

    def lm_logits(self, model, tokens, states):
        return model.decoder(model.drop(states["h"][-1]))  # last layer's h (B, T, H) -> (B, T, V)


class TransformerKind(ModelKind):
    """Decoder-only transformer LM: one attention context, a key/value cache instead of a state."""

    name = label = "transformer"
    generates = True

    def build(self, config):
        from .transformer import TransformerLM

        return TransformerLM(config)

    def max_positions(self, config):
        return config.get("max_positions")

    def state_width_and_layers(self, config):
        return config["decoder_embed_dim"], config.get("decoder_layers", 1)

    def feature_width(self, config, get_hidden=False, all_layers=False, n_pools=0):
        return config["decoder_embed_dim"] * (1 + n_pools)  # its features come from the last layer only

    def shown_state_key(self, get_hidden):
        return "h"  # no cell

    def lm_logits(self, model, tokens, states):
        return model(tokens)[0]  # a forward pass of its own (trace() gives hidden states, not logits)

    def check_shown_layer(self, layer, n_layers):
        if layer != n_layers - 1:
            raise UserError(f"--layer {layer}: a transformer's heatmap can show only its last layer ({n_layers - 1})")

    def traced_layer(self, states, state_key, layer):
        return states["h"][-1]  # trace() holds the last layer only


class HFKind(ModelKind):
    """A pretrained HuggingFace encoder: one pooled vector per text, nothing to generate."""

    name = "hf"
    label = "hf encoder"
    takes_feature_options = False
    pooled = pretrained_only = True

    def build(self, config):
        from .hf_encoder import HFEncoder

        return HFEncoder(config)

    def max_positions(self, config):
        return config.get("max_positions")

    def state_width_and_layers(self, config):
        return config["hidden_size"], 1

    def feature_width(self, config, get_hidden=False, all_layers=False, n_pools=0):
        return config["hidden_size"]

    def source(self, model_config):
        return model_config.hf_model


KINDS = {kind.name: kind for kind in (*(RecurrentKind(cell) for cell in LAYER_TYPES), TransformerKind(), HFKind())}


def kind_name(thing):
    """The kind's name of a model, a model config dict, a typed ModelConfig, a NeuronSpec or a name."""
    if isinstance(thing, str):
        return thing
    if isinstance(thing, dict):
        return thing.get("model")
    config = getattr(thing, "config", None)
    if isinstance(config, dict):
        return config.get("model")
    return getattr(thing, "model", None)


def model_kind(thing):
    """The ModelKind of `thing` (see kind_name); UserError naming the known kinds otherwise."""
    name = kind_name(thing)
    if name not in KINDS:
        raise UserError(f"unknown model {name!r}; choose one of {', '.join(KINDS)}")
    return KINDS[name]


def feature_width(config, get_hidden=False, all_layers=False, concat_max=False, concat_min=False,
                  concat_mean=False):
    """Width F of `featurize`'s output (B, F) for a model with this config and these feature options."""
    n_pools = sum(bool(wanted) for wanted in (concat_max, concat_min, concat_mean))
    return model_kind(config).feature_width(config, bool(get_hidden), bool(all_layers), n_pools)


def max_positions(model_or_config):
    """The longest input the model reads (transformer LM, hf encoder), or None (recurrent: any length)."""
    config = getattr(model_or_config, "config", model_or_config)
    return model_kind(config).max_positions(config)


def build_language_model(config):
    """A language model (or hf encoder) built from its config dict alone, by its kind."""
    if not isinstance(config, dict):
        raise UserError(f"model config must be a dict, got {type(config).__name__}")
    return model_kind(config).build(config)

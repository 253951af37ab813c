"""Which neuron a heatmap shows and steering overwrites, and how it is read from / written to a state.

A `NeuronSpec` names one unit of one layer's cell state c (or hidden state h) and a polarity (+1 / -1):
shown values are raw value × polarity, and steering to V writes V × polarity. By default the neuron is
the top neuron of the classifier stored in a checkpoint (its sign is the polarity), as in Radford et al.
2017 (arXiv 1704.01444), where the "sentiment neuron" is one unit of the mLSTM's cell state.

Recurrent state layout: a list over layers of (h, c), each (B, H); a GRU
has no cell and its state is (h, h). A transformer's per-step states come only from `trace()` (its last
layer's output), so it can be shown but not steered.
"""
from dataclasses import dataclass

from ..errors import UserError
from ..models.kinds import model_kind


@dataclass(frozen=True)
class NeuronSpec:
    """Unit `index` of layer `layer` (non-negative), in state "c" or "h", shown × `polarity`, of a
    model of type `model` ("mLSTM" | "LSTM" | "GRU" | "transformer")."""

    index: int
    layer: int
    state_key: str = "c"
    polarity: float = 1.0
    model: str = "mLSTM"


def checked_layer(config, layer):
    """--layer (negative counts from the end) as a non-negative index; UserError when out of range."""
    width, n_layers = model_kind(config).state_width_and_layers(config)
    if not -n_layers <= layer < n_layers:
        raise UserError(f"--layer {layer} is out of range: the model has {n_layers} layer(s) "
                        f"(use 0..{n_layers - 1} or -1 for the last)")
    layer = layer % n_layers
    model_kind(config).check_shown_layer(layer, n_layers)
    return layer


def classifier_neuron(checkpoint_neurons, feature_options, config):
    """(unit, layer or None, sign) of the classifier's top neuron, from a feature index of its features.

    Features are [last state of each chosen layer] [pools of the same]; with all_layers the block of
    the index names the layer, otherwise the layer is the last one (None here)."""
    indices, signs = checkpoint_neurons.get("indices") or [], checkpoint_neurons.get("signs") or []
    if not indices:
        return None
    width, n_layers = model_kind(config).state_width_and_layers(config)
    feature = int(indices[0])
    sign = float(signs[0]) if signs else 1.0
    if feature_options.get("all_layers") and model_kind(config).layered_features:
        return feature % width, (feature // width) % n_layers, sign
    return feature % width, None, sign


def resolve_neuron(config, neuron=None, layer=-1, get_hidden=False, negate=False,
                   checkpoint_neurons=None, feature_options=None):
    """The NeuronSpec the flags and the checkpoint describe.

    `neuron` None takes the classifier's top neuron (and its sign, layer and state kind); an LM
    checkpoint without a classifier then needs an explicit neuron."""
    feature_options = feature_options or {}
    width, _ = model_kind(config).state_width_and_layers(config)
    sign = 1.0
    from_classifier = None
    if neuron is None:
        from_classifier = classifier_neuron(checkpoint_neurons or {}, feature_options, config)
        if from_classifier is None:
            raise UserError("no --neuron given and the checkpoint holds no classifier neurons "
                            "(pass --neuron N, or --load a classifier checkpoint from transfer.py)")
        neuron, classifier_layer, sign = from_classifier
        if classifier_layer is not None:
            layer = classifier_layer
    if not 0 <= neuron < width:
        raise UserError(f"--neuron {neuron} is out of range: the layer has {width} units (0..{width - 1})")
    layer = checked_layer(config, layer)
    use_hidden = get_hidden or bool(from_classifier and feature_options.get("get_hidden"))
    state_key = model_kind(config).shown_state_key(use_hidden)
    polarity = -sign if negate else sign
    return NeuronSpec(index=int(neuron), layer=layer, state_key=state_key,
                      polarity=1.0 if polarity >= 0 else -1.0, model=config["model"])


def neuron_from_trace(states, spec):
    """`trace()` states -> the neuron's raw values (B, T) (the transformer's one layer is its last)."""
    layer_states = model_kind(spec.model).traced_layer(states, spec.state_key, spec.layer)  # (B, T, H)
    return layer_states[:, :, spec.index]


def read_neuron(state, spec):
    """Recurrent state -> the neuron's raw value (B,) (a copy, safe from later in-place updates)."""
    h, c = state[spec.layer]
    return (h if spec.state_key == "h" else c)[:, spec.index].clone()


def overwrite_neuron(state, spec, value):
    """A new recurrent state with the neuron set to `value` × polarity (the input state is untouched).
    For a GRU (state (h, h)) the one state is written whichever of c / h was asked for."""
    target = value * spec.polarity
    new_state = list(state)
    h, c = state[spec.layer]
    if model_kind(spec.model).hidden_is_cell:
        h = c = _with_unit(h, spec.index, target)
    elif spec.state_key == "h":
        h = _with_unit(h, spec.index, target)
    else:
        c = _with_unit(c, spec.index, target)
    new_state[spec.layer] = (h, c)
    return new_state


def _with_unit(tensor, index, value):
    """A copy of (B, H) `tensor` with column `index` set to `value`."""
    copy = tensor.clone()
    copy[:, index] = value
    return copy

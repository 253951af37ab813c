"""generation subpackage: sampling from a language model, neuron heatmaps, steering by a neuron."""

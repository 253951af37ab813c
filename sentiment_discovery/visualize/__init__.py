"""Figures: the sentiment-neuron heatmap (heatmap.py) and transfer / training plots (plots.py)."""

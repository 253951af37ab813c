"""Scoring predictions, shared by transfer/ and finetune/: label checks and predictions from probabilities
(labels.py), metrics on scikit-learn (metrics.py), the metric names (names.py), metrics of tp/fp/fn/tn counts
over threshold grids (counts.py) and the decision-threshold searches (thresholds.py)."""

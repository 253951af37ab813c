"""Scoring predictions, shared by transfer/ and finetune/: metrics on scikit-learn (metrics.py), metrics
of tp/fp/fn/tn counts over threshold grids (counts.py) and decision-threshold searches (thresholds.py)."""

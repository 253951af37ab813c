"""Transfer: frozen language-model features, L1 logistic regression and the sentiment neurons, feature caches,
and classifying a file with a saved classifier (classify.py)."""

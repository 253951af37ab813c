"""Transfer: frozen language-model features, L1 logistic regression and the sentiment neurons, feature caches,
and the results folder a run writes (its classifier.pt is what classification.py runs)."""

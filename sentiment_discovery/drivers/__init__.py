"""The drivers: one module per script, each the run behind it (config in, summary out).

- pretrain.py   pretrain.py              data, tokenizer, LM, then training/loop.py's loop
- transfer.py   transfer.py              featurize, L1 logistic regression, the sentiment neurons
- finetune.py   finetune_classifier.py   LM + classifier head trained end to end, thresholds, report
- classify.py   run_classifier.py        a saved classifier over a file (classification.py)
- generate.py   generate.py              sampling, neuron heatmaps, steering
- threshold.py  threshold.py             the offline threshold tool on saved predictions

Drivers import the library; nothing in the library imports a driver (tests/test_layering.py).
"""

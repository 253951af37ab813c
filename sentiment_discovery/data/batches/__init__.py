"""Batches for the models.

- `lm_stream.py`       language-model batches: one token stream per row, reset masks, resumable position;
- `classification.py`  classification batches: padding, truncation, bucketing by length, stratified order.
"""

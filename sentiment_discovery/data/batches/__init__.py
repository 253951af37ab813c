"""Batches for the models: language-model streams (`lm_stream.py`) and padded classification batches (`padded.py`)."""

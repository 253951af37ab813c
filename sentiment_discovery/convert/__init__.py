"""Importers for language models trained by other programs, into this project's modules.

- `openai.import_openai(directory)`: OpenAI's released mLSTM ("Learning to Generate Reviews and
  Discovering Sentiment", Radford et al. 2017): a directory of `0.npy` ... `14.npy` (or 12 files).
- `original.import_original(path)`: checkpoints of NVIDIA's original sentiment-discovery (recurrent
  models: mLSTM, LSTM, GRU; language models and classifiers).

Both return `(model, info)`: a `LanguageModel` over the 257-token character vocabulary (pad 0,
byte b -> b + 1) and a dict describing what was imported, including `process_fn`: the text clean-up the
imported model was trained with (the original's process_str, '\n ' + text + ' '; data/preprocess.py).
"""
from .openai import import_openai, is_openai_directory
from .original import import_original

__all__ = ["import_openai", "import_original", "is_openai_directory"]

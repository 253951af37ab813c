"""Load any language model the tools accept, whatever produced it.

`load_language_model(path)` takes
- one of our checkpoints of kind "lm", or of kind "classifier" (its encoder is returned, so generating
  and transfer can start from either);
- a directory holding OpenAI's released mLSTM (`0.npy` ... `14.npy`, see convert/openai.py);
- a checkpoint of the original sentiment-discovery (see convert/original.py).
and returns (model in eval mode, tokenizer, info dict). Imported character models get `CharTokenizer()`.

info["process_fn"] names the text clean-up the model was trained with (data/preprocess.py): what our
checkpoint records; for imported original and OpenAI models the original's (process_str, or what an
original checkpoint's pickled args name).
`load_text_encoder(model_config, process_flag)` resolves it against --process-fn for transfer and finetuning.
"""
import logging
import os

from ..convert.openai import import_openai, is_openai_directory
from ..convert.original import import_original, import_original_contents
from ..data.preprocess import default_process_fn, recorded_process_fn, resolve_process_fn
from ..data.tokenizers.builtin import CharTokenizer, tokenizer_from_dict
from ..errors import UserError
from ..checkpoint import check_checkpoint, is_checkpoint_payload, read_torch_file
from .classifier import build_classifier
from .kinds import model_kind
from .kinds import build_language_model

ENCODER_PREFIX = "encoder."
log = logging.getLogger(__name__)


def load_language_model(path, map_location="cpu"):
    """(model, tokenizer, info) from a checkpoint, an OpenAI directory or an original checkpoint.

    info: {"source": "checkpoint" | "openai" | "original", "path", "kind": "lm" | "classifier",
    "model_config", ...}; for a classifier, the model is its language-model encoder."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"model {path} does not exist")
    if os.path.isdir(path):
        if not is_openai_directory(path):
            raise UserError(f"{path} is a directory but not an OpenAI mLSTM release (no 0.npy in it)")
        model, info = import_openai(path)
        return finish(model, CharTokenizer(), info, map_location)
    try:
        contents = read_torch_file(path)
    except UserError:
        # Not plain data (e.g. the original's pickled argparse.Namespace): the original importer reads such
        # files with its own data-only allow-list, or says in one line why it cannot.
        model, info = import_original(path)
        return finish(model, CharTokenizer(), info, map_location)
    if not is_checkpoint_payload(contents):
        model, info = import_original_contents(contents, path)
        return finish(model, CharTokenizer(), info, map_location)
    payload = check_checkpoint(contents, path, expect_kind=("lm", "classifier"))
    model, tokenizer, info = model_from_checkpoint(payload, path)
    return finish(model, tokenizer, info, map_location)


def model_from_checkpoint(payload, path):
    """Rebuild the language model (a classifier's encoder) and tokenizer of one of our checkpoints."""
    kind = payload["kind"]
    config_key = "classifier_config" if kind == "classifier" else "model_config"
    for key in (config_key, "model_state", "tokenizer"):
        if key not in payload:
            raise UserError(f"checkpoint {path} lacks {key!r} (it has {', '.join(sorted(map(str, payload)))})")
    config, state = payload[config_key], payload["model_state"]
    if kind == "classifier":
        config = config.get("encoder") if isinstance(config, dict) else None
        if not isinstance(config, dict) or "model" not in config:
            raise UserError(f"classifier checkpoint {path} has no encoder config")
        state = {key[len(ENCODER_PREFIX):]: value for key, value in state.items() if key.startswith(ENCODER_PREFIX)}
    model = build_language_model(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first_line = str(err).strip().splitlines()[0]
        raise UserError(f"checkpoint {path}: weights do not fit its model config ({first_line})") from None
    tokenizer = checkpoint_tokenizer(payload, model, path)
    info = {"source": "checkpoint", "path": path, "kind": kind, "model_config": model.config,
            "process_fn": recorded_process_fn(payload)}
    if "step" in payload:
        info["step"] = payload["step"]
    return model, tokenizer, info


def classifier_from_checkpoint(ckpt, path):
    """(classifier model, tokenizer, recorded process function) rebuilt from a classifier checkpoint's
    dict (`classifier_config`, `model_state`, `tokenizer`, `process_fn`); `path` names it in errors."""
    config = ckpt["classifier_config"]
    model = build_classifier(config)
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise UserError(f"{path}: the stored weights do not fit its classifier config ({first})") from None
    return model, tokenizer_from_dict(ckpt["tokenizer"]), recorded_process_fn(ckpt)


def checkpoint_tokenizer(payload, model, path):
    """The checkpoint's tokenizer, checked against the model's vocabulary size."""
    vocab_size = model.config.get("vocab_size") or model.vocab_size  # an hf encoder keeps it in its hf_config
    tokenizer = tokenizer_from_dict(payload["tokenizer"])
    if tokenizer.vocab_size != vocab_size:
        raise UserError(f"checkpoint {path}: tokenizer has {tokenizer.vocab_size} tokens but the model's "
                        f"vocabulary is {vocab_size}")
    return tokenizer


def finish(model, tokenizer, info, map_location):
    """Move to the requested device, switch to eval mode, complete `info`."""
    model = model.to(map_location)
    info.setdefault("model_config", model.config)
    return model.eval(), tokenizer, info


def load_pretrained_hf(hf_model, pooling="cls"):
    """(HFEncoder in eval mode, its HFTokenizer) from a local folder or installed package (--model hf)."""
    from ..data.tokenizers.hf import HFTokenizer
    from .hf_encoder import HFEncoder, resolve_model_path

    encoder = HFEncoder.from_pretrained(hf_model, pooling)
    tokenizer = HFTokenizer.from_folder(resolve_model_path(hf_model), encoder.config["max_positions"])
    return encoder.eval(), tokenizer


def load_text_encoder(model_config, process_flag=None):
    """(encoder, tokenizer, process function name) a `config.ModelConfig` names: --model hf with --hf-model,
    else the language model of --load; the process function is `process_flag` (--process-fn) when given,
    else the model's own (an hf encoder's: none, its tokenizer keeps its own conventions). Typed
    architecture flags (--nhid, ...) the loaded model overrides are logged, one line each."""
    if model_kind(model_config).pretrained_only:
        if model_config.load:
            raise UserError("--load and --model hf exclude each other: the hf encoder comes from --hf-model")
        model, tokenizer = load_pretrained_hf(model_config.hf_model, model_config.hf_pooling)
        source, recorded = model_config.hf_model, default_process_fn(tokenizer.kind)
    else:
        if not model_config.load:
            raise UserError("no language model given: pass --load MODEL (or --model hf --hf-model PATH)")
        model, tokenizer, info = load_language_model(model_config.load)
        source, recorded = model_config.load, info["process_fn"]
        if info.get("kind") == "classifier":
            log.info("%s is a classifier checkpoint: its language-model encoder is used", source)
    for line in model_config.ignored_by(model.config, source):
        log.warning(line)
    process_fn = resolve_process_fn(process_flag, recorded)
    log.info("text clean-up: %s (%s)", process_fn,
             "--process-fn" if process_flag is not None else f"recorded by {source}")
    return model, tokenizer, process_fn

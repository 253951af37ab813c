"""Flags defined once in the typed configs: every script's parser builds from them, every flag has help,
defaults behave, and the command line with no flags is the config built in code."""
import argparse
import re
from pathlib import Path

import pytest

from sentiment_discovery import config
from sentiment_discovery.arguments import build_parser, script_flags
from sentiment_discovery.config import (
    BUNDLED_SST, SCRIPT_CONFIGS, ClassifyConfig, ClassifyOptions, FinetuneConfig, GenerateConfig, GenerateOptions,
    PretrainConfig, ThresholdConfig, TransferConfig)

REQUIRED = {"run_classifier.py": ["--load", "c.pt"], "generate.py": ["--load", "m.pt"],
            "threshold.py": ["--preds-file", "p.npy", "--labels-file", "l.npy"]}
BUILT_IN_CODE = {
    "pretrain.py": lambda: PretrainConfig(),
    "transfer.py": lambda: TransferConfig(),
    "finetune_classifier.py": lambda: FinetuneConfig(),
    "run_classifier.py": lambda: ClassifyConfig(classify=ClassifyOptions(load="c.pt")),
    "generate.py": lambda: GenerateConfig(generate=GenerateOptions(load="m.pt")),
    "threshold.py": lambda: ThresholdConfig(preds_file="p.npy", labels_file="l.npy"),
}


def test_every_script_has_a_config_built_in_code():
    assert set(BUILT_IN_CODE) == set(SCRIPT_CONFIGS)


@pytest.mark.parametrize("script", sorted(BUILT_IN_CODE))
def test_the_command_line_with_only_required_flags_is_the_config_built_in_code(script):
    assert config.parse(script, REQUIRED.get(script, [])) == BUILT_IN_CODE[script]()


def test_each_script_keeps_its_own_defaults():
    """The values each script ran with before its flags and its config were one definition."""
    pretrain, transfer, finetune = PretrainConfig(), TransferConfig(), FinetuneConfig()
    assert (pretrain.training.lr, pretrain.training.epochs, pretrain.training.decay_style) == (5e-4, 1, "linear")
    assert (pretrain.training.save, pretrain.data.batch_size) == ("lang_model.pt", 128)
    assert pretrain.data.files() == (["data/lm_corpus/opinions.json"], None, None)
    assert (pretrain.data.text_key, pretrain.data.loose_json, pretrain.data.split) == ("text", True, "1000,1,1")
    training = finetune.training
    assert (training.lr, training.epochs, training.decay_style, training.save) == (1e-5, 5, "constant", "classifier.pt")
    assert (finetune.data.batch_size, finetune.classifier.neurons) == (32, 0)
    assert (transfer.classifier.neurons, transfer.data.batch_size) == (1, 64)
    assert transfer.data.default_data == finetune.data.default_data == BUNDLED_SST
    assert ClassifyConfig().data.batch_size == 64
    assert (pretrain.data.split, transfer.data.split, transfer.data.text_key) == ("1000,1,1", "1.", "sentence")


def test_no_private_argparse_api_in_the_package():
    package = Path(config.__file__).parent
    for path in package.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"argparse\._|\._actions\b|\._action_groups\b|\._get_formatter\b", source), path


@pytest.mark.parametrize("name", sorted(SCRIPT_CONFIGS))
def test_every_flag_has_help(name):
    for flag in script_flags(SCRIPT_CONFIGS[name]):
        assert flag.option.help, f"{name}: {flag.names} has no help text"


@pytest.mark.parametrize("script", ["transfer.py", "finetune_classifier.py"])
def test_bundled_sst_is_the_default_only_as_a_whole(script):
    default = config.parse(script, []).data.files()
    assert default == (["data/binary_sst/train.csv"], ["data/binary_sst/val.csv"], ["data/binary_sst/test.csv"])
    own = config.parse(script, ["--data", "mine.csv"]).data.files()
    assert own == (["mine.csv"], None, None)
    partial = config.parse(script, ["--test", "t.csv"]).data.files()
    assert partial == (["data/binary_sst/train.csv"], ["data/binary_sst/val.csv"], ["t.csv"])


def test_precision_flags_are_exclusive(capsys):
    with pytest.raises(SystemExit):
        config.parse("pretrain.py", ["--fp16", "--bf16"])
    assert "not allowed with" in capsys.readouterr().err


def test_model_config_from_flags():
    model = config.parse("pretrain.py", ["--nhid", "32", "--emsize", "8", "--no-weight-norm"]).model
    assert model.architecture(257) == {"model": "mLSTM", "vocab_size": 257, "emsize": 8, "nhid": 32, "nlayers": 1,
                      "dropout": 0.0, "weight_norm": False, "tied": False}


@pytest.mark.parametrize("name", sorted(SCRIPT_CONFIGS))
def test_help_shows_each_default_once(name):
    for flag in script_flags(SCRIPT_CONFIGS[name]):
        text = flag.help_text().lower()
        assert len(re.findall(r"\(default[: ]", text)) <= 1, f"{name}: {flag.names} shows its default twice"
    help_text = build_parser(SCRIPT_CONFIGS[name]).format_help()
    assert "==SUPPRESS==" not in help_text


def test_help_shows_a_default_only_where_it_tells_something():
    flags = {flag.name: flag for flag in script_flags(FinetuneConfig)}
    assert flags["lr"].help_text() == "peak learning rate (default: 1e-05)"
    assert flags["eval_batch_size"].help_text() == "batch size for evaluation (default: --batch-size)"
    assert flags["tied"].help_text() == flags["tied"].option.help
    assert flags["max_seq_len"].help_text() == flags["max_seq_len"].option.help


def test_booleans_that_default_on_can_be_turned_off():
    for name, script_config in SCRIPT_CONFIGS.items():
        base = REQUIRED.get(name, [])
        for flag in script_flags(script_config):
            if flag.default is True:
                assert flag.option.kwargs.get("action") is argparse.BooleanOptionalAction, (name, flag.names)
                off = config.parse(name, [*base, "--no-" + flag.names[0][2:]])
                assert off != config.parse(name, base), (name, flag.names)
    assert config.parse("pretrain.py", []).data.loose_json is True
    assert config.parse("pretrain.py", ["--no-loose-json"]).data.loose_json is False


def test_threads_has_the_old_name_as_an_alias():
    assert config.parse("generate.py", ["--load", "x", "--num-workers", "3"]).run.threads == 3
    assert config.parse("generate.py", ["--load", "x", "--threads", "2"]).run.threads == 2


@pytest.mark.parametrize("script, argv", [
    ("transfer.py", ["--loss-scale", "128"]), ("transfer.py", ["--dynamic-loss-scale"]),
    ("transfer.py", ["--compile"]), ("finetune_classifier.py", ["--compile"]),
    ("generate.py", ["--load", "x", "--rnn-impl", "fast"]),
    ("run_classifier.py", ["--load", "x", "--valid", "v.csv"]),
    ("run_classifier.py", ["--load", "x", "--split", ".9,.1"]),
    ("run_classifier.py", ["--load", "x", "--class-names", "a", "b"]),
    ("run_classifier.py", ["--load", "x", "--binarize-sent"]),
    ("pretrain.py", ["--label-key", "y"]),
])
def test_flags_that_never_apply_are_refused(script, argv, capsys):
    with pytest.raises(SystemExit):
        config.parse(script, argv)
    assert "unrecognized arguments" in capsys.readouterr().err


def test_run_classifier_data_help_names_the_files_to_classify():
    help_text = build_parser(ClassifyConfig).format_help()
    assert "training file" not in help_text and "file(s) to classify" in help_text


def test_architecture_flags_a_loaded_model_overrides_are_explained():
    model = config.parse("transfer.py", ["--nhid", "999", "--emsize", "64", "--no-weight-norm"]).model
    loaded = {"model": "mLSTM", "vocab_size": 257, "emsize": 64, "nhid": 64, "nlayers": 1, "dropout": 0.0,
              "weight_norm": True, "tied": False}
    lines = model.ignored_by(loaded, "lm.pt")
    assert len(lines) == 2                                   # --emsize agrees with the checkpoint: accepted
    assert lines[0].startswith("--nhid 999 ignored: lm.pt was built with nhid=64")
    assert lines[1].startswith("--no-weight-norm True ignored: lm.pt was built with weight_norm=True")
    assert config.parse("transfer.py", []).model.ignored_by(loaded, "lm.pt") == []

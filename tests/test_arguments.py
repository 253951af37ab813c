"""The one argument module: every script's parser builds, every flag has help, defaults behave."""
import re

import pytest

from sentiment_discovery import arguments, config


@pytest.mark.parametrize("name", sorted(arguments.ALL_PARSERS))
def test_every_flag_has_help(name):
    parser = arguments.ALL_PARSERS[name]()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{name}: {action.option_strings} has no help text"


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
        arguments.pretrain_parser().parse_args(["--fp16", "--bf16"])
    assert "not allowed with" in capsys.readouterr().err


def test_model_config_from_flags():
    model = config.parse("pretrain.py", ["--nhid", "32", "--emsize", "8", "--no-weight-norm"]).model
    assert model.architecture(257) == {"model": "mLSTM", "vocab_size": 257, "emsize": 8, "nhid": 32, "nlayers": 1,
                      "dropout": 0.0, "weight_norm": False, "tied": False}


@pytest.mark.parametrize("name", sorted(arguments.ALL_PARSERS))
def test_help_shows_each_default_once(name):
    parser = arguments.ALL_PARSERS[name]()
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.option_strings and action.help:
            text = formatter._get_help_string(action).lower()
            assert len(re.findall(r"\(default[: ]", text)) <= 1, f"{name}: {action.option_strings} shows its default twice"


def test_booleans_that_default_on_can_be_turned_off():
    for name, make in arguments.ALL_PARSERS.items():
        parser = make()
        for action in parser._actions:
            if action.option_strings and action.nargs == 0 and parser.get_default(action.dest) is True:
                assert any(o.startswith("--no-") for o in action.option_strings), (name, action.option_strings)
    assert config.parse("pretrain.py", []).data.loose_json is True
    assert config.parse("pretrain.py", ["--no-loose-json"]).data.loose_json is False


def test_threads_has_the_old_name_as_an_alias():
    assert config.parse("generate.py", ["--load", "x", "--num-workers", "3"]).run.threads == 3
    assert config.parse("generate.py", ["--load", "x", "--threads", "2"]).run.threads == 2


@pytest.mark.parametrize("script, argv", [
    ("transfer.py", ["--loss-scale", "128"]), ("transfer.py", ["--dynamic-loss-scale"]),
    ("transfer.py", ["--compile"]), ("finetune_classifier.py", ["--compile"]), ("generate.py", ["--load", "x", "--rnn-impl", "fast"]),
    ("run_classifier.py", ["--load", "x", "--valid", "v.csv"]), ("run_classifier.py", ["--load", "x", "--split", ".9,.1"]),
    ("run_classifier.py", ["--load", "x", "--class-names", "a", "b"]), ("run_classifier.py", ["--load", "x", "--binarize-sent"]),
    ("pretrain.py", ["--label-key", "y"]),
])
def test_flags_that_never_apply_are_refused(script, argv, capsys):
    with pytest.raises(SystemExit):
        config.parse(script, argv)
    assert "unrecognized arguments" in capsys.readouterr().err


def test_run_classifier_data_help_names_the_files_to_classify():
    help_text = arguments.run_classifier_parser().format_help()
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

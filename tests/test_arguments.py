"""The one argument module: every script's parser builds, every flag has help, defaults behave."""
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

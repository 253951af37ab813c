"""script_docs/arguments.md is generated from the argument module, and says what the parsers say."""
import argparse
from pathlib import Path

import pytest

from sentiment_discovery import argdocs
from sentiment_discovery.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMITTED = REPO_ROOT / argdocs.DEFAULT_OUTPUT


def tiny_parser():
    parser = argparse.ArgumentParser(description="A tiny | script.")
    group = parser.add_argument_group("alpha", "the first group")
    group.add_argument("--rate", type=float, default=0.5, help="a rate | with <bar> in it")
    group.add_argument("--mode", default="fast", choices=["fast", "slow"], help="how")
    group.add_argument("--files", nargs="+", default=["a.txt", "b.txt"], help="inputs")
    group.add_argument("--quiet", action="store_true", help="say less")
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument("--red", action="store_true", help="red")
    exclusive.add_argument("--blue", action="store_true", help="blue")
    parser.add_argument("--must", required=True, metavar="PATH", help="needed")
    return parser


def test_committed_reference_is_current():
    expected = argdocs.render_all()
    current = COMMITTED.read_text(encoding="utf-8") if COMMITTED.is_file() else ""
    assert current == expected, (f"{argdocs.DEFAULT_OUTPUT} is out of date: run "
                                 f"`python -m sentiment_discovery.argdocs` from the repository root")


def test_every_script_and_group_has_a_section():
    text = argdocs.render_all()
    for script, build in argdocs.ALL_PARSERS.items():
        assert f"\n## {script}\n" in text
        for group in build()._action_groups:
            if group.description:
                assert f"\n{argdocs.escape(group.description)}\n" in text


def test_tiny_parser_table():
    text = argdocs.render_parser("tiny.py", tiny_parser())
    assert text.startswith("## tiny.py\n\nA tiny \\| script.\n")
    assert "### alpha\n\nthe first group\n\n| flag | value | default | description |\n|---|---|---|---|\n" in text
    assert "| `--rate` | `RATE` (float) | `0.5` | a rate \\| with \\<bar> in it |" in text
    assert "| `--mode` | `{fast, slow}` | `fast` | how |" in text
    assert "| `--files` | `FILES [FILES ...]` | `a.txt b.txt` | inputs |" in text
    assert "| `--quiet` |  | off | say less |" in text
    assert "| `--red` |  | off | red (not with --blue) |" in text
    assert "### options\n\nflags of this script alone\n" in text
    assert "| `--must` | `PATH` | required | needed |" in text
    assert "`-h`" not in text


def test_output_is_deterministic():
    assert argdocs.render_all() == argdocs.render_all()


def test_check_reports_a_stale_file(tmp_path, capsys):
    output = tmp_path / "arguments.md"
    assert argdocs.main(["--output", str(output), "--check"]) == 1
    assert "is missing: run `python -m sentiment_discovery.argdocs`" in capsys.readouterr().err
    assert argdocs.main(["--output", str(output)]) == 0
    assert argdocs.main(["--output", str(output), "--check"]) == 0
    output.write_text(output.read_text() + "edited\n")
    assert argdocs.main(["--output", str(output), "--check"]) == 1
    assert "is out of date" in capsys.readouterr().err


def test_writing_into_a_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        argdocs.main(["--output", str(tmp_path / "no" / "arguments.md")])

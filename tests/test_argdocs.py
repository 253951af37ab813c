"""script_docs/arguments.md is generated from the configs' flag definitions, and says what the parsers say."""
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sentiment_discovery import argdocs
from sentiment_discovery.arguments import build_parser, option, script_flags
from sentiment_discovery.config import SCRIPT_CONFIGS
from sentiment_discovery.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMITTED = REPO_ROOT / argdocs.DEFAULT_OUTPUT


@dataclass(frozen=True)
class Alpha:
    GROUP = ("alpha", "the first group")
    rate: float = option(0.5, "a rate | with <bar> in it")
    mode: str = option("fast", "how", choices=["fast", "slow"])
    files: list[str] | None = option(None, "inputs")
    quiet: bool = option(False, "say less")
    red: bool = option(False, "red", exclusive="colour")
    blue: bool = option(False, "blue", exclusive="colour")
    must: str = option("", "needed", required=True, metavar="PATH", group=("beta", "the second group"))


@dataclass(frozen=True)
class Tiny:
    """A tiny | script."""
    alpha: Alpha = field(default_factory=lambda: Alpha(files=["a.txt", "b.txt"]))


def test_committed_reference_is_current():
    expected = argdocs.render_all()
    current = COMMITTED.read_text(encoding="utf-8") if COMMITTED.is_file() else ""
    assert current == expected, (f"{argdocs.DEFAULT_OUTPUT} is out of date: run "
                                 f"`python -m sentiment_discovery.argdocs` from the repository root")


def test_every_script_and_group_has_a_section():
    text = argdocs.render_all()
    for script, script_config in SCRIPT_CONFIGS.items():
        assert f"\n## {script}\n" in text
        for title, description in {flag.group for flag in script_flags(script_config)}:
            assert f"\n### {title}\n\n{argdocs.escape(description)}\n" in text


def test_tiny_parser_table():
    text = argdocs.render_script("tiny.py", Tiny)
    assert text.startswith("## tiny.py\n\nA tiny \\| script.\n")
    assert "### alpha\n\nthe first group\n\n| flag | value | default | description |\n|---|---|---|---|\n" in text
    assert "| `--rate` | `RATE` (float) | `0.5` | a rate \\| with \\<bar> in it |" in text
    assert "| `--mode` | `{fast, slow}` | `fast` | how |" in text
    assert "| `--files` | `FILES [FILES ...]` | `a.txt b.txt` | inputs |" in text
    assert "| `--quiet` |  | off | say less |" in text
    assert "| `--red` |  | off | red (not with --blue) |" in text
    assert "| `--version` |  | - | show program's version number and exit |" in text
    assert "### beta\n\nthe second group\n" in text
    assert "| `--must` | `PATH` | required | needed |" in text
    assert "`-h`" not in text


def test_the_tiny_parser_says_what_its_table_says(capsys):
    parser = build_parser(Tiny)
    assert parser.parse_args(["--must", "x", "--red"]).red is True
    with pytest.raises(SystemExit):
        parser.parse_args(["--must", "x", "--red", "--blue"])
    assert "not allowed with" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args([])
    assert "--must" in capsys.readouterr().err
    help_text = " ".join(parser.format_help().split())
    assert "a rate | with <bar> in it (default: 0.5)" in help_text
    assert "inputs (default: ['a.txt', 'b.txt'])" in help_text


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

"""The flag reference of every script, as Markdown generated from `arguments.ALL_PARSERS`.

    python -m sentiment_discovery.argdocs            # (re)write script_docs/arguments.md
    python -m sentiment_discovery.argdocs --check    # exit 1 if script_docs/arguments.md is out of date

Run it from the repository root. One section per script, one table per argument group (in the parser's
order, with the group's title and description); each flag with its value (choices or metavar), default
and help. The output depends only on the parsers, so it is the same on every run.
"""
import argparse
import sys
from pathlib import Path

from .arguments import ALL_PARSERS
from .cli import run_cli
from .errors import UserError

DEFAULT_OUTPUT = "script_docs/arguments.md"
REGENERATE = "python -m sentiment_discovery.argdocs"
SKIPPED_ACTIONS = (argparse._HelpAction,)
ARGPARSE_DEFAULT_GROUPS = ("options", "optional arguments")   # the latter before Python 3.10
NO_VALUE_ACTIONS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._VersionAction,
                    argparse._CountAction, argparse._StoreConstAction, argparse.BooleanOptionalAction)
DEFAULT_SUFFIX = " (default: %(default)s)"   # what BooleanOptionalAction appends to its help


def escape(text) -> str:
    """Text safe inside a Markdown table cell: one line, `|` and `<` escaped."""
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "\\<")


def flag_names(action) -> str:
    names = action.option_strings or [action.dest]
    return ", ".join(f"`{name}`" for name in names)


def value_text(action) -> str:
    """What follows the flag: its choices, or its metavar shaped by nargs; empty for a switch."""
    if isinstance(action, NO_VALUE_ACTIONS):
        return ""
    if action.choices is not None:
        value = "{" + ", ".join(str(choice) for choice in action.choices) + "}"
    else:
        value = action.metavar or action.dest.upper()
    shaped = {"?": f"[{value}]", "+": f"{value} [{value} ...]", "*": f"[{value} ...]"}.get(action.nargs, value)
    type_name = getattr(action.type, "__name__", None)
    hint = f" ({type_name})" if type_name in ("int", "float") else ""
    return f"`{shaped}`{hint}"


def default_text(action) -> str:
    """The default as a user would type it; 'required' / 'off' / '-' where there is none to type."""
    if action.required:
        return "required"
    if isinstance(action, argparse._VersionAction):
        return "-"
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if isinstance(action, argparse.BooleanOptionalAction):
        return "on" if action.default else "off"
    if action.default is None or action.default is argparse.SUPPRESS:
        return "-"
    if isinstance(action.default, (list, tuple)):
        return "`" + " ".join(str(item) for item in action.default) + "`"
    if action.default == "":
        return '`""`'
    return f"`{action.default}`"


def help_text(action, exclusive_with) -> str:
    text = (action.help or "").replace(DEFAULT_SUFFIX, "")
    if exclusive_with:
        text += f" (not with {', '.join(exclusive_with)})"
    return escape(text)


def exclusive_partners(parser) -> dict:
    """action -> the option strings it is mutually exclusive with."""
    partners = {}
    for group in parser._mutually_exclusive_groups:
        for action in group._group_actions:
            partners[action] = [other.option_strings[0] for other in group._group_actions if other is not action]
    return partners


def render_group(group, partners) -> str:
    """One argument group: heading, description and a table of its flags ('' when it has none to show)."""
    actions = [action for action in group._group_actions
               if not isinstance(action, SKIPPED_ACTIONS) and action.help is not argparse.SUPPRESS]
    if not actions:
        return ""
    title, description = group.title, group.description
    if title in ARGPARSE_DEFAULT_GROUPS and not description:
        title, description = "options", "flags of this script alone"
    lines = [f"### {title}", ""]
    if description:
        lines += [escape(description), ""]
    lines += ["| flag | value | default | description |", "|---|---|---|---|"]
    for action in actions:
        cells = (flag_names(action), value_text(action), default_text(action),
                 help_text(action, partners.get(action)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_parser(script, parser) -> str:
    """One script's section: its description and one table per argument group."""
    partners = exclusive_partners(parser)
    groups = [render_group(group, partners) for group in parser._action_groups]
    head = [f"## {script}", "", escape(parser.description or ""), "",
            f"`python {script} --help` prints the same flags.", "", ""]
    return "\n".join(head) + "\n".join(group for group in groups if group)


def render_all(parsers=None) -> str:
    """The whole reference: a title, a table of contents, and one section per script."""
    parsers = ALL_PARSERS if parsers is None else parsers
    lines = [f"<!-- generated by `{REGENERATE}` from sentiment_discovery/arguments.py; do not edit -->",
             "# Command-line flags", "",
             "Every flag of every script, grouped as in `--help`. Defaults are the script's own.", ""]
    lines += [f"- [{script}](#{script.replace('.', '')})" for script in parsers]
    sections = [render_parser(script, build()) for script, build in parsers.items()]
    return "\n".join(lines) + "\n\n" + "\n".join(sections)


def check(path, text) -> int:
    """0 when `path` holds exactly `text`, else 1 with a message saying how to regenerate it."""
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if current == text:
        print(f"{path} is up to date")
        return 0
    state = "missing" if current is None else "out of date"
    print(f"{path} is {state}: run `{REGENERATE}` from the repository root", file=sys.stderr)
    return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sentiment_discovery.argdocs",
                                     description="Write (or --check) the Markdown reference of every script's flags.")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="file to write or check")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the generated text")
    args = parser.parse_args(argv)
    path, text = Path(args.output), render_all()
    if args.check:
        return check(path, text)
    if not path.parent.is_dir():
        raise UserError(f"{path.parent} does not exist: run from the repository root or pass --output")
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

"""Command-line parsers generated from the typed configs of `config.py`, where every flag is defined once.

- A *section* is a frozen dataclass; each of its fields made with `option(default, help, ...)` is a flag:
  `--` + the field name in kebab-case (`no_weight_norm` -> `--no-weight-norm`), dest = the field name.
  Other fields are not flags; two of them are filled by the parser: `given` (frozenset of the section's
  flags the user typed) and `notes` (log lines about compatibility flags the user typed).
- A *script config* (`PretrainConfig`, ...) holds its sections as fields made with `section(cls,
  **defaults)`, and may hold flags of its own (`ThresholdConfig`). `ScriptConfig()` is the run the script
  makes with no flags: its values are the defaults the parser fills and `--help` shows.
- The annotation says how a value parses: `bool` is a switch (store_true), `int` / `float` convert,
  `list[X] | None` takes one or more values (nargs "+"). Other keywords of `option` (choices, nargs,
  const, metavar, required, action=argparse.BooleanOptionalAction, ...) go to argparse as they are.
- A flag is shown in the argument group `option(group=...)` names, else in the `GROUP` (title, description)
  of the class that declares its field; groups appear in the order of their first flag, and `--version`
  ends the first group. Flags sharing an `exclusive` key are mutually exclusive. `compat(reason)` is an old
  flag kept so old command lines run: accepted, it changes nothing but a line in the log ("<flag> accepted
  for compatibility, <reason>").

The parser is built with `argument_default=SUPPRESS`, so its one parse yields exactly the flags typed; the
config is the script's defaults with those values replaced. `--help` shows a flag's default once: not
where the help text speaks of a default, and not when it is None, False, 0 or required.
"""
from __future__ import annotations

import argparse
import functools
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace

from . import __version__

COMPAT_GROUP = ("accepted for compatibility",
                "old flags that no longer change anything here; a line in the log says so when one is given")


@dataclass(frozen=True)
class Option:
    """What makes a config field a flag (its default is the field's)."""
    help: str
    group: tuple | None = None   # (title, description); None: the GROUP of the class declaring the field
    aliases: tuple = ()          # more option strings, e.g. an older name
    compat: bool = False
    exclusive: str | None = None
    kwargs: dict = field(default_factory=dict)   # add_argument keywords, passed as they are


def option(default=None, help="", *, group=None, aliases=(), compat=False, exclusive=None, **argparse_kwargs):
    """A dataclass field that is a command-line flag (see the module docstring)."""
    spec = Option(help, group, tuple(aliases), compat, exclusive, argparse_kwargs)
    return field(default=default, metadata={"option": spec})


def compat(reason):
    """An old flag accepted only so old command lines run; `reason` says why it does nothing."""
    return option(None, reason, group=COMPAT_GROUP, compat=True)


def section(cls, **defaults):
    """A script config's field holding section `cls`, with the script's own `defaults`."""
    return field(default_factory=functools.partial(cls, **defaults))


def flag_name(name: str) -> str:
    """The flag of a config field: `no_weight_norm` -> `--no-weight-norm`."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Flag:
    """One flag of one script: the config field behind it, and that script's default."""
    name: str          # the field's name
    default: object
    kind: object       # the field's type, None removed from a union
    option: Option
    group: tuple

    @property
    def names(self) -> list:
        return [flag_name(self.name), *self.option.aliases]

    @property
    def option_strings(self) -> list:
        """Every spelling the parser accepts: the names, and --no-NAME of a BooleanOptionalAction."""
        if self.option.kwargs.get("action") is not argparse.BooleanOptionalAction:
            return self.names
        return [spelled for name in self.names for spelled in (name, "--no-" + name[2:])]

    @property
    def required(self) -> bool:
        return bool(self.option.kwargs.get("required"))

    def argparse_kwargs(self) -> dict:
        """Keyword arguments of `add_argument` (the help without its default; see `help_text`)."""
        kwargs = {"dest": self.name, "help": self.option.help, **self.option.kwargs}
        if self.kind is bool:
            kwargs.setdefault("action", "store_true")
        elif typing.get_origin(self.kind) is list:
            kwargs.setdefault("nargs", "+")
            element = typing.get_args(self.kind)[0]
            if element is not str:
                kwargs.setdefault("type", element)
        elif self.kind in (int, float):
            kwargs.setdefault("type", self.kind)
        return kwargs

    def help_text(self) -> str:
        """The help as `--help` shows it: with the default appended once, where it tells something."""
        text = self.option.help
        if not self.required and "default" not in text.lower() and self.default not in (None, False):
            text += f" (default: {self.default})"
        return text.replace("%", "%%")


VERSION = Option("show program's version number and exit",
                 kwargs={"action": "version", "version": f"sentiment-discovery {__version__}"})


def sections(config) -> list:
    """(field name, section) of each section a script config holds."""
    return [(f.name, getattr(config, f.name)) for f in fields(config) if is_dataclass(getattr(config, f.name))]


def _without_none(kind):
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        (kind,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    return kind


def _group(cls, name: str, spec: Option) -> tuple:
    """A flag's group: the one its option names, else the GROUP of the class that declares its field."""
    owner = next(c for c in cls.__mro__ if name in vars(c).get("__annotations__", {}))
    return spec.group or owner.GROUP


def _section_flags(part) -> list:
    cls = type(part)
    kinds = typing.get_type_hints(cls)
    return [Flag(f.name, getattr(part, f.name), _without_none(kinds[f.name]), f.metadata["option"],
                 _group(cls, f.name, f.metadata["option"])) for f in fields(part) if "option" in f.metadata]


def script_flags(script_config) -> list:
    """Every flag of the script whose config class is `script_config`, in help order, with `--version` last
    in the first group."""
    default = script_config()
    flags = [flag for part in [default, *(part for _, part in sections(default))] for flag in _section_flags(part)]
    end = max(at for at, flag in enumerate(flags) if flag.group == flags[0].group) + 1
    return [*flags[:end], Flag("version", None, None, VERSION, flags[0].group), *flags[end:]]


def build_parser(script_config) -> argparse.ArgumentParser:
    """The script's parser. allow_abbrev=False: a misspelt flag that is a prefix of a real one (--neuron) is
    an error, not that flag; argument_default=SUPPRESS: the Namespace holds exactly the flags typed."""
    parser = argparse.ArgumentParser(description=script_config.__doc__, allow_abbrev=False,
                                     argument_default=argparse.SUPPRESS)
    groups, exclusive = {}, {}
    for flag in script_flags(script_config):
        if flag.group not in groups:
            groups[flag.group] = parser.add_argument_group(*flag.group)
        target = groups[flag.group]
        if flag.option.exclusive:
            if flag.option.exclusive not in exclusive:
                exclusive[flag.option.exclusive] = target.add_mutually_exclusive_group()
            target = exclusive[flag.option.exclusive]
        target.add_argument(*flag.names, **dict(flag.argparse_kwargs(), help=flag.help_text()))
    return parser


def _filled(part, typed: dict, notes: tuple):
    own = {f.name: typed[f.name] for f in fields(part) if "option" in f.metadata and f.name in typed}
    names = {f.name for f in fields(part)}
    extra = {name: value for name, value in (("given", frozenset(own)), ("notes", notes)) if name in names}
    return replace(part, **own, **extra)


def parse(script_config, argv=None):
    """Parse `argv` (default: sys.argv[1:]) once into an instance of `script_config`; argparse exits on a
    bad flag."""
    typed = vars(build_parser(script_config).parse_args(argv))
    notes = tuple(f"{flag.names[0]} accepted for compatibility, {flag.option.help}"
                  for flag in script_flags(script_config) if flag.option.compat and flag.name in typed)
    default = script_config()
    parts = {name: _filled(part, typed, notes) for name, part in sections(default)}
    return replace(_filled(default, typed, notes), **parts)

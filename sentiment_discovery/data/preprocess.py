"""Text clean-up applied to each record as it is read (the original's `--process-fn` choices).

`process_str(text, unidecode=False)`, in this order:
  1. HTML entities are unescaped (`&amp;` -> `&`, `&#39;` -> `'`), once;
  2. with `unidecode=True`, non-ASCII text is transliterated to ASCII (`crème` -> `creme`);
     unescaping comes first so that entities such as `&eacute;` are transliterated too;
  3. every run of whitespace (spaces, tabs, newlines, Unicode spaces) becomes one space, and the
     ends are stripped.

`process_tweet(text, unidecode=False)`, in this order:
  1. URLs -> `http`: a token starting `http://`, `https://` or `www.` (case-insensitive) up to the
     next whitespace;
  2. user mentions -> `@user`: `@` followed by one or more ASCII letters, digits or `_`, when the
     `@` does not follow a letter, digit or `_` (so e-mail addresses are left alone);
  3. emoji -> their names between colons, with spaces around, by `emoji.demojize`
     (`😍` -> ` :smiling_face_with_heart-eyes: `);
  4. `process_str`.
"""
import html
import re

import emoji
from unidecode import unidecode as to_ascii

from ..errors import UserError

WHITESPACE_RUN = re.compile(r"\s+")
URL = re.compile(r"(?:https?://|www\.)\S*", re.IGNORECASE)
MENTION = re.compile(r"(?<![A-Za-z0-9_])@[A-Za-z0-9_]+")


def process_str(text: str, unidecode: bool = False) -> str:
    """HTML unescape, optional ASCII transliteration, whitespace runs collapsed and stripped."""
    text = html.unescape(text)
    if unidecode:
        text = to_ascii(text)
    return WHITESPACE_RUN.sub(" ", text).strip()


def process_tweet(text: str, unidecode: bool = False) -> str:
    """URLs -> `http`, mentions -> `@user`, emoji -> `:name:`, then `process_str`."""
    text = URL.sub("http", text)
    text = MENTION.sub("@user", text)
    text = emoji.demojize(text, delimiters=(" :", ": "))
    return process_str(text, unidecode=unidecode)


PROCESS_FNS = {"process_str": process_str, "process_tweet": process_tweet}


def get_process_fn(name):
    """The function for a `--process-fn` name (None or "none" -> None); UserError if unknown."""
    if name is None or name == "none":
        return None
    if callable(name):
        return name
    if name not in PROCESS_FNS:
        raise UserError(f"unknown process function {name!r}; choose one of: {', '.join(PROCESS_FNS)}")
    return PROCESS_FNS[name]

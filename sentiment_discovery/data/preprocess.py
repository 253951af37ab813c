"""Text clean-up before tokenizing: the original sentiment-discovery's `--process-fn` choices, reproduced
step by step, and how a tool picks the one a model was trained with.

`process_str(text)` (the original's default; used for character and sentencepiece models alike):
  1. every HTML tag, `<` up to the nearest `>` (across line breaks), becomes one space;
  2. `unidecode` transliterates the text to ASCII (always: `crème` -> `creme`, `—` -> `--`, emoji -> ``);
  3. `html.unescape` (after step 2, so `&eacute;` becomes a non-ASCII `é` that stays);
  4. split on whitespace and joined with single spaces (tabs, newlines, runs of spaces collapse; the
     ends are stripped);
  5. wrapped as `'\\n ' + text + ' '` (OpenAI's mLSTM was trained and read this way; features are taken
     after the trailing space). Empty text becomes `'\\n  '`.
The character tokenizer then encodes the UTF-8 bytes, id = byte + 1 (0 is padding).

`process_tweet(text)` (for tweets; no wrapping):
  1. `https` followed by non-whitespace (a URL) -> `xxxx` (`http://` links are left as they are);
  2. the two characters `\\` `n` (an escaped newline) and every whitespace character -> one space each;
  3. `<br>` -> space;
  4. `&amp;`, `&#039;`, `&gt;`, `&lt;` unescaped, in that order (no other entity);
  5. emoji -> their names between colons (`emoji.demojize`: `😍` -> `:smiling_face_with_heart-eyes:`);
  6. accents removed: NFKD, then combining marks dropped (`café` -> `cafe`);
  7. hashtags `#word` -> `word!!` (mentions `@name` are kept);
  8. every character that is not printable ASCII (letters, digits, punctuation, whitespace) is dropped;
  9. runs of whitespace collapsed to one space, ends stripped.

Which function a tool applies (`resolve_process_fn`): an explicit `--process-fn` wins (`none` = the raw
text); otherwise the one recorded in the model's checkpoint (`PROCESS_FN_KEY`; checkpoint.py's `upgrade`
gives a checkpoint written before the record existed its encoder kind's default, `LEGACY_DEFAULT` =
process_str, the original's default and the default pretrain.py always had, or none for an hf encoder).
"""
import html
import re
import string
import unicodedata

import emoji
from unidecode import unidecode

from ..errors import UserError

PROCESS_FN_KEY = "process_fn"     # checkpoint key: "process_str" | "process_tweet" | "none"
NONE = "none"
LEGACY_DEFAULT = "process_str"    # for a new model and for checkpoints that record nothing (see above)
RAW_TEXT_TOKENIZERS = ("hf",)     # tokenizer kinds that keep their own conventions: their text goes in as is


def default_process_fn(tokenizer_kind):
    """The process function of a model that records none: none for a tokenizer that keeps its own text
    conventions (a pretrained hf encoder's), else the original's default."""
    return NONE if tokenizer_kind in RAW_TEXT_TOKENIZERS else LEGACY_DEFAULT

TAG = re.compile(r"<[^>]*>")
HTTPS_URL = re.compile(r"https\S+")
ESCAPED_NEWLINE_OR_SPACE = re.compile(r"\\n|\s")
LINE_BREAK_TAG = re.compile(r"<br>")
TWEET_ENTITIES = (("&amp;", "&"), ("&#039;", "'"), ("&gt;", ">"), ("&lt;", "<"))
HASHTAG = re.compile(r"#(\w+)")
PRINTABLE = frozenset(string.printable)


def process_str(text: str) -> str:
    """Tags -> space, unidecode, html.unescape, whitespace collapsed, wrapped as '\\n ' + text + ' '."""
    text = TAG.sub(" ", text)
    text = unidecode(text)
    text = html.unescape(text)
    return "\n " + " ".join(text.split()) + " "


def strip_accents(text: str) -> str:
    """NFKD, with the combining marks dropped."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def process_tweet(text: str) -> str:
    """The original's tweet clean-up (see the module docstring for the nine steps); no wrapping."""
    text = HTTPS_URL.sub("xxxx", text)
    text = ESCAPED_NEWLINE_OR_SPACE.sub(" ", text)
    text = LINE_BREAK_TAG.sub(" ", text)
    for entity, char in TWEET_ENTITIES:
        text = text.replace(entity, char)
    text = emoji.demojize(text)
    text = strip_accents(text)
    text = HASHTAG.sub(r"\1!!", text)
    text = "".join(c for c in text if c in PRINTABLE)
    return " ".join(text.split())


PROCESS_FNS = {"process_str": process_str, "process_tweet": process_tweet}
PROCESS_FN_CHOICES = (*PROCESS_FNS, NONE)


def get_process_fn(name):
    """The function for a `--process-fn` name (None or "none" -> None); UserError if unknown."""
    if name is None or name == NONE:
        return None
    if name not in PROCESS_FNS:
        raise UserError(f"unknown process function {name!r}; choose one of: {', '.join(PROCESS_FN_CHOICES)}")
    return PROCESS_FNS[name]


def recorded_process_fn(payload: dict) -> str:
    """The process function name a checkpoint payload records (checked)."""
    name = payload.get(PROCESS_FN_KEY)
    if name not in PROCESS_FN_CHOICES:
        raise UserError(f"the checkpoint records an unknown process function {name!r} "
                        f"(known: {', '.join(PROCESS_FN_CHOICES)}); pass --process-fn to choose one")
    return name


def resolve_process_fn(flag, recorded) -> str:
    """The process function name to apply: an explicit --process-fn (`flag`), else the model's record."""
    name = recorded if flag is None else flag
    get_process_fn(name)  # checks the name
    return name


def apply_process_fn(texts, name):
    """`texts` through the named process function (a list; the texts themselves when `name` is none)."""
    fn = get_process_fn(name)
    return texts if fn is None else [fn(text) for text in texts]

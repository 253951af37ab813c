"""process_str / process_tweet reproduce the original's clean-up: a table of inputs and the
outputs its described steps give, the bytes the character tokenizer then sees, and how the process
function is picked (flag > checkpoint record > documented default)."""
import pytest

from sentiment_discovery.data.preprocess import (LEGACY_DEFAULT, PROCESS_FN_CHOICES, PROCESS_FNS, apply_process_fn,
                                                 get_process_fn, process_str, process_tweet, recorded_process_fn,
                                                 resolve_process_fn)
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
from sentiment_discovery.errors import UserError

# process_str: tags -> space, unidecode, html.unescape, split/join, '\n ' + text + ' '
PROCESS_STR_TABLE = [
    ("plain", "Great movie.", "\n Great movie. "),
    ("tags", "<b>Great</b> movie<br />ok", "\n Great movie ok "),
    ("tag across a line break", "a<p\nclass='x'>b", "\n a b "),
    ("< to the nearest > is a tag", "a < b and c > d", "\n a d "),
    ("lone angle bracket kept", "a < b", "\n a < b "),
    ("entities unescaped once", "fish &amp; chips &#39;n&#x27; &amp;lt;", "\n fish & chips 'n' &lt; "),
    ("escaped tag is text, not a tag", "&lt;b&gt;bold&lt;/b&gt;", "\n <b>bold</b> "),
    ("entity unescapes to non-ASCII after unidecode", "caf&eacute; &copy;", "\n caf\u00e9 \u00a9 "),
    ("accents transliterated", "cr\u00e8me br\u00fbl\u00e9e na\u00efve", "\n creme brulee naive "),
    ("em dash and smart quotes", "good\u2014really \u201cgood\u201d", '\n good--really "good" '),
    ("emoji dropped by unidecode", "love it \U0001F60D!", "\n love it ! "),
    ("non-latin transliterated", "\u65e5\u672c", "\n Ri Ben "),
    ("tabs, newlines, runs of spaces", "a\tb\n\nc   d\r\ne", "\n a b c d e "),
    ("edge and double spaces, nbsp", "  a  b\u00a0 c  ", "\n a b c "),
    ("URLs and tags kept as text", "see https://x.co/a #tag @bob", "\n see https://x.co/a #tag @bob "),
    ("empty", "", "\n  "),
    ("empty after cleaning", " <br/> \t<i></i>\U0001F44D ", "\n  "),
]

# process_tweet: https URLs -> xxxx; '\\n' and whitespace -> space; <br> -> space; 4 entities; demojize;
# NFKD minus combining marks; #tag -> tag!!; non-printable-ASCII dropped; whitespace collapsed/stripped
PROCESS_TWEET_TABLE = [
    ("plain", "Great movie.", "Great movie."),
    ("https URL", "look https://t.co/xY1! now", "look xxxx now"),
    ("http URL kept", "look http://t.co/xY1 now", "look http://t.co/xY1 now"),
    ("escaped newline and whitespace", "a\\nb\tc\n\nd  \u00a0e", "a b c d e"),
    ("<br> only", "a<br>b<br/>c<b>d</b>", "a b<br/>c<b>d</b>"),
    ("four entities, no others", "&amp; &#039; &gt; &lt; &quot;", "& ' > < &quot;"),
    ("&#39; is left, then its #39 is a hashtag", "it&#39;s", "it&39!!;s"),
    ("entity order: &amp;lt; twice", "&amp;lt;", "<"),
    ("emoji names", "love \U0001F60D\U0001F44D", "love :smiling_face_with_heart-eyes::thumbs_up:"),
    ("accents", "caf\u00e9 na\u00efve \u00c5ngstr\u00f6m", "cafe naive Angstrom"),
    ("em dash dropped", "good\u2014really", "goodreally"),
    ("hashtags and mentions", "@bob #Happy #caf\u00e9 #a_1 # x", "@bob Happy!! cafe!! a_1!! # x"),
    ("non-ASCII dropped; (c) is an emoji", "\u65e5\u672c ok \u00a9 \u00bd\u00b0",
     "ok :copyright: 12"),  # \u00bd: NFKD 1\u20442
    ("edge and double spaces", "   a    b   ", "a b"),
    ("empty", "", ""),
    ("empty after cleaning", " \u65e5 \u2014 ", ""),
]


@pytest.mark.parametrize("name, text, expected", PROCESS_STR_TABLE, ids=[row[0] for row in PROCESS_STR_TABLE])
def test_process_str_table(name, text, expected):
    assert process_str(text) == expected


@pytest.mark.parametrize("name, text, expected", PROCESS_TWEET_TABLE, ids=[row[0] for row in PROCESS_TWEET_TABLE])
def test_process_tweet_table(name, text, expected):
    assert process_tweet(text) == expected


def test_processed_text_reaches_the_char_tokenizer_as_utf8_bytes_plus_one():
    text = process_str("caf&eacute;")  # "\n café " : é is two UTF-8 bytes
    ids = CharTokenizer().encode(text)
    assert ids == [b + 1 for b in "\n caf\u00e9 ".encode("utf-8")]
    assert ids[:2] == [ord("\n") + 1, ord(" ") + 1] and ids[-1] == ord(" ") + 1
    assert ids[-3:-1] == [0xC3 + 1, 0xA9 + 1] and 0 not in ids


def test_registry_and_names():
    assert PROCESS_FNS == {"process_str": process_str, "process_tweet": process_tweet}
    assert PROCESS_FN_CHOICES == ("process_str", "process_tweet", "none")
    assert get_process_fn(None) is None and get_process_fn("none") is None
    assert get_process_fn("process_tweet") is process_tweet
    with pytest.raises(UserError,
                       match="unknown process function 'lower'; choose one of: process_str, process_tweet, none"):
        get_process_fn("lower")
    assert apply_process_fn(["a "], "none") == ["a "]
    assert apply_process_fn(["a "], "process_str") == ["\n a "]


def test_flag_wins_over_record():
    """(A checkpoint that records none gets its kind's default in checkpoint.upgrade: test_checkpoint.py.)"""
    assert LEGACY_DEFAULT == "process_str"
    assert recorded_process_fn({"process_fn": "process_tweet"}) == "process_tweet"
    with pytest.raises(UserError, match="unknown process function 'shout'.*--process-fn"):
        recorded_process_fn({"process_fn": "shout"})
    assert resolve_process_fn(None, "process_tweet") == "process_tweet"
    assert resolve_process_fn("none", "process_tweet") == "none"
    assert resolve_process_fn("process_str", "none") == "process_str"

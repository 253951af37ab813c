"""process_str / process_tweet: the documented clean-up rules, in order."""
import pytest

from sentiment_discovery.data.preprocess import PROCESS_FNS, get_process_fn, process_str, process_tweet
from sentiment_discovery.errors import UserError


def test_process_str_unescapes_and_collapses_whitespace():
    assert process_str("  a&amp;b \t\n c&#39;s  \u00a0 d ") == "a&b c's d"
    assert process_str("&amp;lt;") == "&lt;"  # unescaped once, not twice


def test_process_str_unidecode_after_unescape():
    assert process_str("cr\u00e8me &eacute;t\u00e9", unidecode=True) == "creme ete"
    assert process_str("cr\u00e8me") == "cr\u00e8me"


def test_process_tweet_rules():  # a URL runs to the next whitespace, so "!" goes with it
    text = "@Bob_1 see https://t.co/x?a=1 and www.example.com! mail me@host.org \U0001F60D\U0001F44D"
    assert process_tweet(text) == (
        "@user see http and http mail me@host.org :smiling_face_with_heart-eyes: :thumbs_up:")


def test_process_tweet_url_before_mentions_and_unescape():
    assert process_tweet("HTTP://x.com/@someone &amp; @a") == "http & @user"


def test_process_fns_registry():
    assert PROCESS_FNS == {"process_str": process_str, "process_tweet": process_tweet}
    assert get_process_fn(None) is None and get_process_fn("none") is None
    assert get_process_fn("process_tweet") is process_tweet
    with pytest.raises(UserError, match="unknown process function 'lower'; choose one of: process_str, process_tweet"):
        get_process_fn("lower")

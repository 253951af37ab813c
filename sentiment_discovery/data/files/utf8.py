"""UTF-8 decoding that replaces undecodable bytes with U+FFFD and counts them.

Readers decode with `decode_counting` and report the total once per file (`warn_replaced`), so a
file with a stray Latin-1 byte is still read, and the user is told how many bytes were replaced.
"""
import codecs
import logging
import threading

ERROR_HANDLER = "sentiment_discovery_count_replace"

log = logging.getLogger(__name__)
_counts = threading.local()


def _count_and_replace(error):
    """Codec error handler: one U+FFFD per undecodable sequence, counted per thread."""
    _counts.value = getattr(_counts, "value", 0) + 1
    return "\ufffd", error.end


codecs.register_error(ERROR_HANDLER, _count_and_replace)


def decode_counting(data: bytes) -> tuple[str, int]:
    """Decode UTF-8 (a leading byte-order mark is dropped); returns (text, undecodable sequences)."""
    data = data.removeprefix(codecs.BOM_UTF8)
    _counts.value = 0
    text = data.decode("utf-8", errors=ERROR_HANDLER)
    return text, _counts.value


def warn_replaced(source: str, count: int):
    """One warning naming the file and how many undecodable byte sequences were replaced."""
    if count:
        log.warning("%s: %d undecodable byte sequence(s) (not UTF-8) were replaced with U+FFFD",
                    source, count)

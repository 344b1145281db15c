"""Text as people send it: files as spreadsheets save them (UTF-8, and any byte UTF-8 refuses read
as Windows-1252), and free text kept clear of invisible characters that reorder or hide what is shown."""

import codecs

from civiccrm.errors import CivicError

WINDOWS_1252_FALLBACK = "civiccrm-cp1252-fallback"
"""Codec error handler: the bytes UTF-8 refused, read as Windows-1252 (a byte it lacks becomes U+FFFD)."""
_WINDOWS_1252_OR_FAIL = "civiccrm-cp1252-or-fail"


def _fallback(error: UnicodeError):
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start:error.end].decode("cp1252", errors="replace"), error.end


def _fallback_or_fail(error: UnicodeError):
    if not isinstance(error, UnicodeDecodeError):
        raise error
    try:
        return error.object[error.start:error.end].decode("cp1252"), error.end
    except UnicodeDecodeError as bad:
        raise UnicodeDecodeError("cp1252", error.object, error.start + bad.start, error.start + bad.end,
                                 "neither UTF-8 nor Windows-1252") from None


codecs.register_error(WINDOWS_1252_FALLBACK, _fallback)
codecs.register_error(_WINDOWS_1252_OR_FAIL, _fallback_or_fail)


def decode_text(data: bytes, *, where: str) -> str:
    """``data`` as text: UTF-8 (a byte-order mark skipped), bytes it refuses as Windows-1252; a
    byte neither reads is refused with ``where`` and its line."""
    try:
        return data.decode("utf-8-sig", errors=_WINDOWS_1252_OR_FAIL)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CivicError(f"{where}: line {line}: byte 0x{data[exc.start]:02x} is neither UTF-8 nor Windows-1252 text; "
                         "save the file as UTF-8 (\"CSV UTF-8\" in a spreadsheet)") from None


BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""Embeddings, overrides and isolates (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI): they make text
display in another order than it is stored ("Trojan Source" spoofing)."""
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
"""Zero-width space, non-joiner, joiner, word joiner and the byte-order mark: invisible, they hide
words inside others and make two texts that look the same differ."""
_INVISIBLE = str.maketrans("", "", BIDI_CONTROLS + ZERO_WIDTH)


def visible_text(value: str | None) -> str | None:
    """``value`` without bidirectional controls and zero-width characters (None stays None).

    Removed, not refused: a resident who pasted text with them gets the case, and what is shown
    publicly reads as it is stored. The cost: a joiner inside an emoji sequence or between Persian or
    Indic letters goes too, which can change how a word is drawn but not what it says."""
    if value is None:
        return None
    return value.translate(_INVISIBLE)

"""Text files as spreadsheets save them: UTF-8, and any byte UTF-8 refuses read as Windows-1252."""

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

"""Decode HTML whose declared charset may be missing or wrong.

Order of trust: a byte-order mark; valid UTF-8 (legacy Cyrillic text is practically never valid
UTF-8, so a page that decodes strictly as UTF-8 *is* UTF-8 whatever it declares); the declared
charset (HTTP header, then ``<meta>``) when it decodes strictly and is not an obvious mislabel;
then detection by charset-normalizer.  KOI8-R and windows-1251 both decode any byte string, so
a mix-up between them is caught by the case pattern: Russian text is mostly lowercase, and the
two charsets swap the lowercase and uppercase ranges.
"""

from __future__ import annotations

import codecs

import charset_normalizer
from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

# Labels that servers and CMS templates put on pages by default, whatever the real bytes are.
_DEFAULT_LABELS = {"cp1252", "latin_1", "iso8859_1", "ascii", "iso8859_15"}
_CYRILLIC_SINGLE_BYTE = ("cp1251", "koi8_r", "koi8_u", "cp866", "mac_cyrillic", "iso8859_5")
_DETECT_LIMIT = 256 * 1024


def _norm(encoding: str | None) -> str | None:
    if not encoding:
        return None
    resolved = resolve_encoding(encoding)
    if not resolved:
        return None
    try:
        return codecs.lookup(resolved).name.replace("-", "_")
    except LookupError:
        return None


def _strict(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _upper_ratio(text: str) -> float:
    upper = lower = 0
    for char in text[:20_000]:
        if "\u0400" <= char <= "\u04ff":
            if char.isupper():
                upper += 1
            else:
                lower += 1
    total = upper + lower
    return upper / total if total >= 40 else 0.0


def _fix_cyrillic_swap(body: bytes, text: str, encoding: str) -> tuple[str, str]:
    """windows-1251 read as KOI8-R (or the reverse) comes out mostly uppercase: swap back."""
    if encoding not in ("cp1251", "koi8_r", "koi8_u") or _upper_ratio(text) < 0.6:
        return text, encoding
    other = "koi8_r" if encoding == "cp1251" else "cp1251"
    swapped = _strict(body, other)
    if swapped is not None and _upper_ratio(swapped) < _upper_ratio(text):
        return swapped, other
    return text, encoding


def _detect(body: bytes) -> str | None:
    best = charset_normalizer.from_bytes(body[:_DETECT_LIMIT]).best()
    return _norm(best.encoding) if best is not None else None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Return ``(text, encoding)``; never raises, whatever the bytes."""
    bom_encoding, bom = read_bom(body)
    if bom_encoding:
        bom_codec = _norm(bom_encoding) or "utf_8"
        return body[len(bom or b"") :].decode(bom_codec, errors="replace"), bom_codec
    if body.isascii():
        return body.decode("ascii"), "ascii"
    if (as_utf8 := _strict(body, "utf-8")) is not None:
        return as_utf8, "utf_8"

    declared = [
        _norm(http_content_type_encoding(content_type) if content_type else None),
        _norm(html_body_declared_encoding(body[:4096])),
    ]
    for encoding in declared:
        if not encoding or encoding in ("utf_8", "utf_8_sig"):
            continue  # UTF-8 was tried above and failed: the label is wrong
        decoded = _strict(body, encoding)
        if decoded is None:
            continue
        if encoding in _DEFAULT_LABELS:
            detected = _detect(body)
            if detected and detected in _CYRILLIC_SINGLE_BYTE and (fixed := _strict(body, detected)) is not None:
                return fixed, detected
        return _fix_cyrillic_swap(body, decoded, encoding)

    detected = _detect(body)
    if detected and (text := _strict(body, detected)) is not None:
        return _fix_cyrillic_swap(body, text, detected)
    return body.decode("utf-8", errors="replace"), "utf_8"

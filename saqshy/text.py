"""People's text at the boundary: names, e-mails and notes that reach moderators and the police bundle.

Bidirectional overrides (U+202E turns ``gpj.exe`` into ``exe.jpg``), zero-width and other
invisible format characters, and control characters let one string look like another or like
nothing at all. ``clean_text`` refuses them and answers the NFKC (names) or NFC (notes) form.
"""

from __future__ import annotations

import unicodedata

# Joiners that real scripts and emoji sequences need; every other format character is refused.
_ALLOWED_FORMAT = frozenset({"\u200c", "\u200d"})
_NOTE_CONTROLS = frozenset({"\n", "\t"})
# Letters that render as blank space (Braille blank, Hangul fillers): they pass as "visible" otherwise.
_BLANK_LETTERS = frozenset({"\u2800", "\u3164", "\u115f", "\u1160", "\uffa0"})


class UnsafeText(ValueError):
    """Text with invisible or direction-changing characters, or nothing visible at all."""


def invisible(char: str) -> bool:
    """A character that shows nothing or rearranges what is shown (format, control, separators)."""
    return char in _BLANK_LETTERS or unicodedata.category(char) in {"Cf", "Cc", "Cs", "Zl", "Zp"}


def has_visible(value: str) -> bool:
    """Whether ``value`` shows at least one character (not only spaces and invisible characters)."""
    return any(not invisible(char) and not char.isspace() for char in value)


def clean_text(value: str, *, multiline: bool = False) -> str:
    """``value`` normalised and trimmed; raises ``UnsafeText`` if it hides or reorders characters.

    ``multiline`` (notes) keeps line breaks (as ``\\n``) and tabs and normalises to NFC, which leaves the writer's
    characters as typed; single-line text (names, e-mails) is NFKC-normalised, so look-alike
    compatibility forms (full-width letters, ligatures) become the plain letters.
    """
    text = unicodedata.normalize("NFC" if multiline else "NFKC", value).strip()
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for char in text:
        if multiline and char in _NOTE_CONTROLS:
            continue
        if invisible(char) and char not in _ALLOWED_FORMAT:
            name = unicodedata.name(char, f"U+{ord(char):04X}")
            raise UnsafeText(f"must not contain invisible or direction-changing characters ({name})")
    if text and not has_visible(text):
        raise UnsafeText("must contain visible characters, not only spaces or invisible ones")
    return text

"""``saqshy.text.clean_text``: names, e-mails and notes without invisible or direction-changing characters."""

from __future__ import annotations

import pytest

from saqshy.text import UnsafeText, clean_text


@pytest.mark.parametrize(
    "value",
    [
        "Aliya\u202egpj.exe",  # right-to-left override
        "\u2066Aliya\u2069",  # isolates
        "Ali\u200bya",  # zero-width space
        "\u200b\u200b\u200b",  # nothing visible
        "\u200d\u200d",  # joiners alone
        "\u2800\u2800",  # Braille blank
        "Aliya\x07",  # a control character
        "\ufeffAliya",  # byte-order mark
    ],
)
def test_refused(value: str) -> None:
    with pytest.raises(UnsafeText):
        clean_text(value)


def test_normalised_and_trimmed() -> None:
    assert clean_text("  Ａｌｉｙａ  ") == "Aliya"  # full-width letters: NFKC
    assert clean_text("Әлия Нұрланқызы") == "Әлия Нұрланқызы"
    assert clean_text("👩\u200d💻 Dana") == "👩\u200d💻 Dana"  # an emoji ZWJ sequence
    assert clean_text("   ") == ""


def test_notes_keep_lines_but_not_overrides() -> None:
    assert clean_text("line one\n\tline two", multiline=True) == "line one\n\tline two"
    assert clean_text("typed on Windows\r\nsecond line", multiline=True) == "typed on Windows\nsecond line"
    with pytest.raises(UnsafeText):
        clean_text("see \u202eevil", multiline=True)
    with pytest.raises(UnsafeText):
        clean_text("line\x1b[31m", multiline=True)

"""Undo the usual evasions before tokenisation, without harming ordinary Kazakh or Russian text.

Steps, in order (each one is a pure function, tested on its own):

1. ``unicode_fold``   NFKC (fullwidth, ligatures, styled letters), drop zero-width and control
                      characters and stray combining marks, unify quotes and dashes.
2. ``join_spaced``    "з а к л а д к и   м е ф" -> "закладки меф" (runs of 4+ single letters
                      separated by one space, dot, dash or underscore; wider gaps split words).
3. ``fold_word``      per word with letters of two scripts: Latin look-alikes folded into Cyrillic
                      (or the reverse, whichever script the word mostly uses); digits inside words
                      read as letters (leetspeak: "m3th", "п4тр0ны"). Words of one script and plain
                      numbers are never touched, so Kazakh letters (ә ғ қ ң ө ұ ү һ і) survive.
4. ``squeeze``        runs of 3+ identical letters -> one; whitespace collapsed.

Light on purpose (standard library only).
"""

from __future__ import annotations

import re
import unicodedata

# Latin -> Cyrillic look-alikes (lower and upper case). Kazakh і (U+0456) is Latin i's twin.
_LAT_TO_CYR = dict(
    zip(
        "aceopxyiABCEHKMOPTXYI",
        "асеорхуіАВСЕНКМОРТХУІ",
        strict=True,
    )
)
_CYR_TO_LAT = {v: k for k, v in _LAT_TO_CYR.items()} | {"у": "y", "к": "k", "м": "m", "т": "t", "н": "h"}
# Digits (and a few symbols) standing for letters inside words.
_LEET_LAT = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"}
_LEET_CYR = {"0": "о", "1": "і", "3": "з", "4": "а", "6": "б", "8": "в", "@": "а"}
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063"))
_PUNCT = str.maketrans({"«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})

_SPACED = re.compile(
    r"(?<![\w])(?:\w(?:[ ._\-]|\s{2,}|(?=$))){3,}\w?(?![\w])",
)
_WORD = re.compile(r"[\w@$]+", re.UNICODE)
_REPEAT = re.compile(r"([^\W\d_])\1{2,}")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_NEWLINES = re.compile(r"\n{3,}")


def _script(ch: str) -> str:
    if "a" <= ch.lower() <= "z":
        return "lat"
    if "\u0400" <= ch <= "\u04ff" or "\u0500" <= ch <= "\u052f":
        return "cyr"
    return "other"


def unicode_fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_ZERO_WIDTH).translate(_PUNCT)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Mn" and "\u0300" <= ch <= "\u036f":
            continue  # stray combining marks left after NFKC composed the real letters
        if cat == "Cc" and ch not in "\n\t":
            continue
        out.append(ch)
    return "".join(out)


def join_spaced(text: str) -> str:
    """Join letters spelled out with single separators; two or more spaces mark a word break."""

    def repl(match: re.Match[str]) -> str:
        chunk = match.group(0)
        letters = re.findall(r"\w", chunk)
        if len(letters) < 4 or sum(c.isalpha() for c in letters) < 3:
            return chunk
        words = re.split(r"\s{2,}", chunk.strip())
        joined = " ".join(re.sub(r"[ ._\-]", "", w) for w in words)
        return joined + (" " if chunk.endswith(" ") else "")

    return _SPACED.sub(repl, text)


def fold_word(word: str) -> str:
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return word
    scripts = [_script(c) for c in letters]
    n_lat, n_cyr = scripts.count("lat"), scripts.count("cyr")
    digits = sum(c.isdigit() or c in "@$" for c in word)
    if n_lat and n_cyr:
        # A Cyrillic-only letter (д, ж, л, п, қ ...) decides for Cyrillic even in a mostly-Latin word.
        cyr_only = any(s == "cyr" and c not in _CYR_TO_LAT for c, s in zip(letters, scripts, strict=True))
        target = "cyr" if cyr_only or n_cyr >= n_lat else "lat"
    elif n_cyr:
        target = "cyr"
    elif n_lat:
        target = "lat"
    else:
        return word
    mixed = bool(n_lat and n_cyr)
    leet = digits > 0 and len(letters) >= 2 and digits <= len(letters) + 1
    if not mixed and not leet:
        return word
    out = []
    if target == "cyr":
        word = word.replace("JI", "Л").replace("Ji", "Л").replace("ji", "л")
    for i, ch in enumerate(word):
        if leet and target == "cyr" and ch == "3" and i > 0:
            ch = "е"  # inside a word 3 reads as е (т3л3ф0н); at the start as з (3акладки)
        elif mixed and target == "cyr" and ch in _LAT_TO_CYR:
            ch = _LAT_TO_CYR[ch]
        elif mixed and target == "cyr" and ch in "uU":
            ch = "и" if ch == "u" else "И"
        elif mixed and target == "lat" and ch in _CYR_TO_LAT:
            ch = _CYR_TO_LAT[ch]
        elif leet and (ch.isdigit() or ch in "@$"):
            table = _LEET_CYR if target == "cyr" else _LEET_LAT
            ch = table.get(ch, ch)
        out.append(ch)
    return "".join(out)


def squeeze(text: str) -> str:
    text = _REPEAT.sub(r"\1", text)
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n\n", text).strip()


def normalize(text: str) -> str:
    """The text the model reads. Idempotent: normalize(normalize(x)) == normalize(x)."""
    text = unicode_fold(text)
    text = join_spaced(text)
    text = _WORD.sub(lambda m: fold_word(m.group(0)), text)
    return squeeze(text)

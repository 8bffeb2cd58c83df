"""Apply the evasions spammers use (the inverse of ``normalize``): data augmentation and tests.

Deterministic given the ``random.Random`` passed in. Standard library only.
"""

from __future__ import annotations

import random

from classifier.normalize import _LAT_TO_CYR

_CYR_TO_LAT = {v: k for k, v in _LAT_TO_CYR.items()}
_LEET = {"о": "0", "o": "0", "е": "3", "e": "3", "а": "4", "a": "4", "з": "3", "i": "1", "s": "5", "t": "7"}
_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғқңөұүһі",
        "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh sch _ y _ e yu ya a g q n o u u h i".split(),  # noqa: SIM905
        strict=True,
    )
)
_TRANSLIT = {k: v.replace("_", "") for k, v in _TRANSLIT.items()}  # hard and soft signs vanish

TECHNIQUES = ("homoglyph", "leet", "spacing", "translit", "zero_width")


def homoglyph(text: str, rng: random.Random, rate: float = 0.7) -> str:
    return "".join(_CYR_TO_LAT[c] if c in _CYR_TO_LAT and rng.random() < rate else c for c in text)


def leet(text: str, rng: random.Random, rate: float = 0.6) -> str:
    return "".join(_LEET[c] if c in _LEET and rng.random() < rate else c for c in text)


def spacing(text: str, rng: random.Random) -> str:
    words = text.split()
    if not words:
        return text
    # spell out two or three consecutive words (the trigger words are usually short)
    start = rng.randrange(len(words))
    end = min(len(words), start + rng.choice((2, 3)))
    spelled = "   ".join(" ".join(w) for w in words[start:end])
    return " ".join([*words[:start], spelled, *words[end:]])


def translit(text: str, rng: random.Random) -> str:
    out = []
    for c in text:
        low = c.lower()
        if low in _TRANSLIT:
            t = _TRANSLIT[low]
            out.append(t.capitalize() if c.isupper() else t)
        else:
            out.append(c)
    return "".join(out)


def zero_width(text: str, rng: random.Random) -> str:
    return "".join(c + ("\u200b" if c.isalpha() and rng.random() < 0.3 else "") for c in text)


def evade(text: str, technique: str, rng: random.Random) -> str:
    fn = {"homoglyph": homoglyph, "leet": leet, "spacing": spacing, "translit": translit, "zero_width": zero_width}
    return fn[technique](text, rng)

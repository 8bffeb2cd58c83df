"""Language among ru / kk / en / other, telling Kazakh from Russian.

Kazakh Cyrillic has nine letters Russian lacks (ә ғ қ ң ө ұ ү һ і); one in a few dozen letters
of any Kazakh sentence is one of them, so their share decides kk before any model runs. Lingua,
restricted to a few languages (the three we classify and the Cyrillic and Latin ones most often
confused with them, all reported as ``other``), decides the rest on a sample of the text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

Lang = Literal["ru", "kk", "en", "other"]

# "і" is left out: Ukrainian and Belarusian use it too; the other eight are Kazakh only.
KAZAKH_LETTERS = "әғқңөұүһӘҒҚҢӨҰҮҺ"
# Letters of Ukrainian, Belarusian, Serbian and Macedonian that neither Russian nor Kazakh uses.
_OTHER_CYRILLIC_LETTERS = "їєґўђјљњћџѓќѕЇЄҐЎЂЈЉЊЋЏЃЌЅ"
_RUSSIAN_ONLY = re.compile("[ыэёЫЭЁ]")
_CYRILLIC_LEADS = (b"\xd0", b"\xd1", b"\xd2", b"\xd3")
_SAMPLE_CHARS = 300
_MIN_LETTERS = 12

_LANGUAGES = (
    Language.RUSSIAN,
    Language.KAZAKH,
    Language.ENGLISH,
    Language.UKRAINIAN,
    Language.BELARUSIAN,
    Language.BULGARIAN,
    Language.SERBIAN,
    Language.MACEDONIAN,
    Language.MONGOLIAN,
    Language.GERMAN,
    Language.FRENCH,
    Language.SPANISH,
    Language.TURKISH,
    Language.ITALIAN,
    Language.PORTUGUESE,
    Language.POLISH,
    Language.DUTCH,
)
_CODES: dict[Language, Lang] = {Language.RUSSIAN: "ru", Language.KAZAKH: "kk", Language.ENGLISH: "en"}


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*_LANGUAGES).with_low_accuracy_mode().build()


def _count(sample: str, letters: str) -> int:
    return sum(sample.count(letter) for letter in letters)


def detect_language(text: str) -> Lang:
    # Counted with str and bytes methods, not regex findall: on every page of a crawl, a list of
    # one-letter strings per sample cost more than the decision itself.
    sample = text[: _SAMPLE_CHARS * 2]
    letters = sum(map(str.isalpha, sample))
    if letters < _MIN_LETTERS:
        return "other"
    # U+0400..U+04FF is exactly what UTF-8 encodes with a lead byte D0..D3.
    encoded = sample.encode("utf-8", "surrogatepass")
    cyrillic = sum(encoded.count(lead) for lead in _CYRILLIC_LEADS)
    if cyrillic >= letters * 0.5:
        kazakh = _count(sample, KAZAKH_LETTERS)
        other_cyrillic = _count(sample, _OTHER_CYRILLIC_LETTERS)
        if kazakh >= max(2, cyrillic * 0.01) and kazakh > other_cyrillic * 3:
            return "kk"
        # Russian without a model: letters only Russian has (ы э ё), none that only its Cyrillic
        # neighbours have, and none of Kazakh's.
        if not kazakh and not other_cyrillic and _RUSSIAN_ONLY.search(sample) and cyrillic >= 40:
            return "ru"
    found = _detector().detect_language_of(text[:_SAMPLE_CHARS])
    return _CODES.get(found, "other") if found is not None else "other"

from __future__ import annotations

import random

import pytest

from classifier.evasion import TECHNIQUES, evade
from classifier.normalize import fold_word, join_spaced, normalize, unicode_fold

KAZAKH = "Қазақстан Республикасының қызметкерлері әңгіме өткізді, ұлттық үйлесім, һәм іс-шара ғылым"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Зaклaдки, мeфeдpoн", "Закладки, мефедрон"),  # Latin a, e, p, o inside Cyrillic words
        ("з а к л а д к и   м е ф е д р о н", "закладки мефедрон"),
        ("з.а.к.л.а.д.к.и", "закладки"),
        ("fr3sh m3th & c0ke", "fresh meth & coke"),
        ("п4тр0ны, т3л3ф0ны", "патроны, телефоны"),
        ("Сл\u200cужба бeзoпacнocти", "Служба безопасности"),
        ("Есipткi сатамыз", "Есірткі сатамыз"),  # Latin i -> Kazakh і
        ("Ｋａｚｉｎｏ ﬁne", "Kazino fine"),
        ("каааазино", "казино"),
        ("u n r e g i s t e r e d  g l o c k", "unregistered glock"),
    ],
)
def test_undoes_evasions(raw: str, clean: str) -> None:
    assert normalize(raw) == clean


def test_kazakh_and_plain_text_untouched() -> None:
    assert normalize(KAZAKH) == KAZAKH
    plain = "В 2024 году +25 градусов, 9-сынып, 5000 тг, iPhone 12, 24/7, 4:20, я и ты"
    assert normalize(plain) == plain
    assert normalize("Мен бүгін жұмыста болдым.\tЕртең?") == "Мен бүгін жұмыста болдым. Ертең?"


def test_idempotent_and_total() -> None:
    rng = random.Random(0)
    samples = [KAZAKH, "Продаю документы", "Online casino bonus", "", " ", "🍁❄️ 🔫", "\x00\x01 bad \ud7ff"]
    for text in samples:
        for technique in TECHNIQUES:
            out = normalize(evade(text, technique, rng))
            assert normalize(out) == out


@pytest.mark.parametrize("technique", ["homoglyph", "leet", "zero_width"])
def test_round_trip_of_generated_evasions(technique: str) -> None:
    rng = random.Random(1)
    text = "Продаю документы, пишите в личку"  # no з: leet writes з and е alike as 3
    assert normalize(evade(text, technique, rng)).lower() == normalize(text).lower()


def test_pieces() -> None:
    assert unicode_fold("e\u0301\u200b") == "é"
    assert join_spaced("я и ты") == "я и ты"  # three single letters are ordinary words
    assert fold_word("2024") == "2024"
    assert fold_word("Python") == "Python"


def test_megabyte_text_is_fast_enough() -> None:
    text = "з а к л а д к и  " * 40_000 + "Зaклaдки " * 40_000
    assert len(normalize(text)) > 100_000

"""Explanation spans over the scored text (title, newline, text) mapped onto the fields a reviewer sees."""

from __future__ import annotations

from classifier.jobs import field_spans


def _span(scored: str, words: str, weight: float = 0.5) -> dict[str, object]:
    at = scored.index(words)
    return {"start": at, "end": at + len(words), "text": words, "weight": weight}


def test_spans_refer_to_the_title_or_the_text_in_code_points() -> None:
    title, text = "Закладки 😀 тут", "Пишите 🚀🚀 в личку, оплата криптой"
    scored = f"{title}\n{text}"
    mapped = field_spans(title, text, [_span(scored, "Закладки"), _span(scored, "в личку"), _span(scored, "криптой")])
    assert mapped is not None
    expected = [("title", "Закладки"), ("text", "в личку"), ("text", "криптой")]
    assert [(s["field"], s["text"]) for s in mapped] == expected
    for span in mapped:
        value = title if span["field"] == "title" else text
        assert value[span["start"]:span["end"]] == span["text"]


def test_a_span_across_title_and_text_is_split() -> None:
    title, text = "Продаю", "закладки недорого"
    scored = f"{title}\n{text}"
    mapped = field_spans(title, text, [_span(scored, "Продаю\nзакладки", 0.9)])
    assert mapped == [
        {"start": 0, "end": 6, "text": "Продаю", "weight": 0.9, "field": "title"},
        {"start": 0, "end": 8, "text": "закладки", "weight": 0.9, "field": "text"},
    ]


def test_without_a_title_offsets_are_the_texts_and_other_spans_pass_through() -> None:
    text = "оплата криптой"
    needle = {"text": "криптой", "weight": 0.3}
    assert field_spans(None, text, [_span(text, "криптой"), needle]) == [
        {"start": 7, "end": 14, "text": "криптой", "weight": 0.5, "field": "text"}, needle]
    assert field_spans("t", text, None) is None

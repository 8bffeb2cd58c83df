"""The claim narrowed to one category and/or one item language (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.triage_api.triage_factories import make_task


def _tasks(ctx) -> dict[tuple[str, str], int]:  # type: ignore[no-untyped-def]
    made = {}
    with ctx.sessions.begin() as session:
        for n, (category, language) in enumerate((("drugs", "ru"), ("fraud", "kk"), ("fraud", "ru"), ("drugs", "en"))):
            # The first is the most urgent, so an unfiltered claim would take it.
            task = make_task(session, category=category, priority=4.0 - n)
            task.item.language = language
            made[(category, language)] = task.id
    return made


def test_claim_by_category_and_language(any_client, any_ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    made = _tasks(any_ctx)
    for query, expected in (({"category": "fraud"}, ("fraud", "kk")), ({"language": "en"}, ("drugs", "en")),
                            ({"category": "fraud", "language": "ru"}, ("fraud", "ru"))):
        claimed = any_client.post("/tasks/claim", params=query, headers=auth_headers(make_user()))
        assert claimed.status_code == 200, claimed.text
        assert claimed.json()["id"] == made[expected], query
    nothing = any_client.post("/tasks/claim", params={"category": "weapons"}, headers=auth_headers(make_user()))
    assert nothing.status_code == 204


def test_a_bad_filter_is_refused(client, ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    headers = auth_headers(make_user())
    _tasks(ctx)
    assert client.post("/tasks/claim", params={"category": "nope"}, headers=headers).status_code == 422
    assert client.post("/tasks/claim", params={"language": "RU; drop"}, headers=headers).status_code == 422
    # Nothing was leased by the refused claims.
    assert client.post("/tasks/claim", headers=headers).status_code == 200

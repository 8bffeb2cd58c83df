"""The /cases and /labels endpoints: roles, the police workflow, evidence download, clear errors."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable

from fastapi.testclient import TestClient

from saqshy.context import Context
from saqshy.db.models import ReviewTask, Role, TaskStatus, User, Verdict
from tests.triage_api.escalation_factories import make_decided_task, make_item
from triage_api.services import cases, evidence


def _case(ctx: Context, voters: list[User]) -> int:
    with ctx.sessions.begin() as session:
        task = make_decided_task(session, make_item(session, ctx.settings), voters=voters)
        return cases.open_case(session, task, ctx.settings, None).id


def test_police_workflow(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    volunteer = make_user(Role.VOLUNTEER)
    police = auth_headers(make_user(Role.POLICE))
    case_id = _case(ctx, [volunteer])

    listed = client.get("/cases", headers=police)
    assert listed.status_code == 200
    assert listed.json()["total"] == 1 and listed.json()["items"][0]["status"] == "new"

    detail = client.get(f"/cases/{case_id}", headers=police).json()
    assert detail["url"].startswith("https://example.test/") and len(detail["sha256"]) == 64

    bundle = client.get(f"/cases/{case_id}/evidence", headers=police)
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    key = client.get("/cases/evidence-public-key", headers=police)
    assert key.status_code == 200 and key.content.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert evidence.verify_bundle(bundle.content, evidence.load_public_key(key.content)).ok

    assert client.post(f"/cases/{case_id}/acknowledge", headers=police).json()["status"] == "acknowledged"
    again = client.post(f"/cases/{case_id}/acknowledge", headers=police)
    assert again.status_code == 409
    closed = client.put(f"/cases/{case_id}/outcome", headers=police, json={"outcome": "takedown_requested"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"

    mine = client.get("/cases/outcomes/mine", headers=auth_headers(volunteer)).json()
    assert mine["total"] == 1
    assert mine["items"][0]["outcome"] == "takedown_requested"
    assert "outcome_note" not in mine["items"][0]


def test_roles(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    volunteer = auth_headers(make_user(Role.VOLUNTEER))
    ml = auth_headers(make_user(Role.ML_ENGINEER))
    moderator = auth_headers(make_user(Role.MODERATOR))
    case_id = _case(ctx, [])
    assert client.get("/cases").status_code == 401
    for path in ("/cases", f"/cases/{case_id}", f"/cases/{case_id}/evidence", "/cases/webhook-deliveries"):
        assert client.get(path, headers=volunteer).status_code == 403, path
    assert client.get("/labels", headers=volunteer).status_code == 403
    assert client.post(f"/cases/{case_id}/acknowledge", headers=moderator).status_code == 403
    assert client.put(f"/cases/{case_id}/outcome", headers=ml, json={"outcome": "duplicate"}).status_code == 403
    assert client.get(f"/cases/{case_id}/evidence", headers=moderator).status_code == 200
    assert client.get("/cases/outcomes/mine", headers=ml).status_code == 403


def test_bad_input_is_clear_and_changes_nothing(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    police = auth_headers(make_user(Role.POLICE))
    case_id = _case(ctx, [])
    assert client.get("/cases/999999", headers=police).status_code == 404
    assert client.get(f"/cases/{2**70}", headers=police).status_code == 422
    assert client.get("/cases/abc", headers=police).status_code == 422
    assert client.get("/cases?status=bogus", headers=police).status_code == 422
    bad = client.put(f"/cases/{case_id}/outcome", headers=police, json={"outcome": "arrested"})
    assert bad.status_code == 422
    huge = client.put(f"/cases/{case_id}/outcome", headers=police, json={"outcome": "duplicate", "note": "x" * 5000})
    assert huge.status_code == 422
    extra = client.put(f"/cases/{case_id}/outcome", headers=police, json={"outcome": "duplicate", "who": 1})
    assert extra.status_code == 422
    assert client.get(f"/cases/{case_id}", headers=police).json()["status"] == "new"


def test_labels_export(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    ml = auth_headers(make_user(Role.ML_ENGINEER))
    _case(ctx, [])
    with ctx.sessions.begin() as session:
        make_decided_task(session, make_item(session, ctx.settings, language="en"), Verdict.LEGAL)
    page = client.get("/labels?limit=1", headers=ml).json()
    assert len(page["items"]) == 1 and page["items"][0]["label"] == "illegal"
    rest = client.get(f"/labels?after_task_id={page['next_after_task_id']}", headers=ml).json()
    assert [row["label"] for row in rest["items"]] == ["legal"]
    assert rest["next_after_task_id"] is None


def test_consensus_through_the_api_opens_a_case(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    """Two volunteers vote illegal through PART A's endpoints: the task is decided and escalated."""
    with ctx.sessions.begin() as session:
        item = make_item(session, ctx.settings)
        session.add(ReviewTask(item_id=item.id, category="drugs", score=0.9, priority=0.9, status=TaskStatus.OPEN))
    voters = [make_user(Role.VOLUNTEER), make_user(Role.VOLUNTEER)]
    for voter in voters:
        headers = auth_headers(voter)
        task = client.post("/tasks/claim", headers=headers)
        assert task.status_code == 200, task.text
        vote = client.post(f"/tasks/{task.json()['id']}/votes", headers=headers, json={"verdict": "illegal"})
        assert vote.status_code == 201, vote.text
    police = auth_headers(make_user(Role.POLICE))
    listed = client.get("/cases", headers=police).json()
    assert listed["total"] == 1
    # The job queued when the deciding vote committed has sealed the bundle, without a download.
    assert ctx.jobs.wait_idle(30)
    sealed = client.get(f"/cases/{listed['items'][0]['id']}", headers=police).json()
    assert sealed["evidence_sha256"] is not None
    bundle = client.get(f"/cases/{listed['items'][0]['id']}/evidence", headers=police).content
    decisions = json.loads(zipfile.ZipFile(io.BytesIO(bundle)).read("decisions.json"))
    assert sorted(d["volunteer"] for d in decisions) == sorted(v.pseudonym for v in voters)
    assert all(d["verdict"] == "illegal" for d in decisions)

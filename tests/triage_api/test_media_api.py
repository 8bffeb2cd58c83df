"""Media of items through the API: who may list them, the thumbnail and its headers, the ZIP."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crawlers.evidence import Fetch, WarcEvidenceWriter
from crawlers.media import keep_image
from saqshy.context import Context
from saqshy.db.models import Case, Media, MediaStatus, ReviewTask, Role, TaskStatus, User, Verdict, Vote
from saqshy.services.media import MediaRecord, list_media, record_media
from saqshy.settings import Settings
from tests.crawlers.media_fixtures import SVG_WITH_SCRIPT, jpeg_with_exif, png
from tests.triage_api.escalation_factories import add_score, make_decided_task, make_item
from tests.triage_api.escalation_factories import make_user as make_esc_user
from triage_api.services import cases, evidence

RED = png((220, 20, 20), secret="Photographer: Jane Roe")
PHOTO = jpeg_with_exif()


def add_media(session: Session, settings: Settings, item_id: int) -> list[MediaRecord]:
    """Three images as the crawler would keep them: a PNG, a JPEG with EXIF, an SVG with a script;
    and one it never fetched (robots.txt)."""
    writer = WarcEvidenceWriter(settings.evidence_dir / "media", prefix="test-media")
    records = []
    for url, body, content_type in (
        ("https://cdn.example.test/red.png", RED, "image/png"),
        ("https://cdn.example.test/photo.jpg", PHOTO, "image/jpeg"),
        ("https://cdn.example.test/evil.svg", SVG_WITH_SCRIPT, "image/svg+xml"),
    ):
        fetch = Fetch(
            url=url,
            method="GET",
            request_headers=[("Accept", "image/*")],
            request_body=b"",
            status=200,
            protocol="HTTP/1.1",
            response_headers=[("Content-Type", content_type)],
            body=body,
            fetched_at=datetime(2026, 11, 1, 12, 0, 5, tzinfo=UTC),
            server_ip="203.0.113.9",
        )
        records.append(
            keep_image(writer, url, fetch, content_type, media_dir=settings.media_dir, max_pixels=10**7, max_side=256)
        )
    writer.close()
    records.append(MediaRecord(url="https://site.test/private/x.png", status=MediaStatus.ROBOTS, detail="robots"))
    record_media(session, [(item_id, records)])
    return records


@pytest.fixture
def item_id(app_ctx: Context) -> int:
    with app_ctx.sessions.begin() as session:
        item = make_item(session, app_ctx.settings)
        add_media(session, app_ctx.settings, item.id)
        return item.id


def _media(app_ctx: Context, item_id: int) -> list[Media]:
    with app_ctx.sessions() as session:
        return list_media(session, item_id)


def test_staff_list_an_items_media(
    any_client: TestClient, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]], item_id: int
) -> None:
    response = any_client.get(f"/items/{item_id}/media", headers=auth_headers(make_user(Role.MODERATOR)))
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [(r["position"], r["status"]) for r in rows] == [
        (0, "stored"),
        (1, "stored"),
        (2, "skipped_svg"),
        (3, "robots"),
    ]
    assert rows[0]["sha256"] == hashlib.sha256(RED).hexdigest() and rows[0]["sniffed_type"] == "image/png"
    assert rows[0]["thumbnail_url"] == f"/media/{rows[0]['id']}/thumbnail"
    assert rows[2]["thumbnail_url"] is None and rows[3]["thumbnail_url"] is None
    assert rows[1]["fetched_at"].startswith("2026-11-01T12:00:05")


def test_thumbnail_is_our_reencode_with_strict_headers(
    any_client: TestClient,
    make_user: Callable[..., User],
    auth_headers: Callable[[User], dict[str, str]],
    item_id: int,
    app_ctx: Context,
) -> None:
    headers = auth_headers(make_user(Role.ADMIN))
    for row in _media(app_ctx, item_id)[:2]:
        response = any_client.get(f"/media/{row.id}/thumbnail", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert response.headers["cache-control"] == "private"
        assert response.headers["content-disposition"] == "inline"
        assert response.headers["referrer-policy"] == "no-referrer"  # the app's other headers stay
        assert response.content not in (RED, PHOTO)
        assert b"Jane Roe" not in response.content and b"Camera Owner" not in response.content
        with Image.open(io.BytesIO(response.content)) as image:
            assert image.format == "WEBP" and max(image.size) <= 256 and not image.getexif()
    # Every other response keeps the app's own policy.
    listing = any_client.get(f"/items/{item_id}/media", headers=headers)
    assert "default-src 'self'" in listing.headers["content-security-policy"]


def test_unknown_or_thumbnail_less_media_is_a_404_in_the_error_shape(
    any_client: TestClient,
    make_user: Callable[..., User],
    auth_headers: Callable[[User], dict[str, str]],
    item_id: int,
    app_ctx: Context,
) -> None:
    headers = auth_headers(make_user(Role.MODERATOR))
    missing = any_client.get("/media/999999/thumbnail", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "media 999999 not found", "error": "NotFound", "code": "not_found", "params": {}}
    svg = _media(app_ctx, item_id)[2]
    response = any_client.get(f"/media/{svg.id}/thumbnail", headers=headers)
    assert response.status_code == 404 and response.json()["error"] == "NotFound"
    assert any_client.get("/items/999999/media", headers=headers).json()["error"] == "NotFound"
    assert any_client.get(f"/items/{item_id}/media").status_code == 401
    assert any_client.get(f"/media/{svg.id}/thumbnail").status_code == 401


def test_volunteers_and_police_see_only_items_they_may_see(
    any_client: TestClient,
    make_user: Callable[..., User],
    auth_headers: Callable[[User], dict[str, str]],
    item_id: int,
    app_ctx: Context,
) -> None:
    holder, voter, stranger = (make_user(Role.VOLUNTEER) for _ in range(3))
    police = make_user(Role.POLICE)
    thumb = _media(app_ctx, item_id)[0].id

    def status(user: User) -> tuple[int, int]:
        headers = auth_headers(user)
        return (
            any_client.get(f"/items/{item_id}/media", headers=headers).status_code,
            any_client.get(f"/media/{thumb}/thumbnail", headers=headers).status_code,
        )

    for user in (holder, voter, stranger, police):
        assert status(user) == (404, 404)  # 404, not 403: ids cannot be probed
    with app_ctx.sessions.begin() as session:
        task = ReviewTask(
            item_id=item_id, category="drugs", score=0.9, priority=0.9, status=TaskStatus.OPEN, lease_owner_id=holder.id
        )
        session.add(task)
        session.flush()
        session.add(Vote(task_id=task.id, user_id=voter.id, verdict=Verdict.ILLEGAL, category="drugs"))
    assert status(holder) == (200, 200)
    assert status(voter) == (200, 200)
    assert status(stranger) == (404, 404)
    assert status(police) == (404, 404)  # no case yet
    with app_ctx.sessions.begin() as session:
        session.add(Case(task_id=task.id, item_id=item_id, category="drugs"))
    assert status(police) == (200, 200)


def test_recrawl_updates_media_rows_in_place(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        item = make_item(session, settings)
        first = [MediaRecord(url="https://x.test/a.png", status=MediaStatus.ERROR, detail="HTTP 503")]
        assert record_media(session, [(item.id, first)]) == 1
        again = [
            MediaRecord(url="https://x.test/b.png", status=MediaStatus.TOO_BIG),
            MediaRecord(url="https://x.test/a.png", status=MediaStatus.STORED, sha256="a" * 64),
        ]
        assert record_media(session, [(item.id, again)]) == 2
        rows = session.scalars(select(Media).where(Media.item_id == item.id).order_by(Media.url)).all()
        assert [(r.url[-5:], r.status, r.position, r.sha256) for r in rows] == [
            ("a.png", MediaStatus.STORED, 1, "a" * 64),
            ("b.png", MediaStatus.TOO_BIG, 0, None),
        ]


def test_evidence_zip_carries_the_originals_with_their_hashes(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with sessions.begin() as session:
        volunteers = [make_esc_user(session), make_esc_user(session)]
        item = make_item(session, settings)
        records = add_media(session, settings, item.id)
        add_score(session, item)
        task = make_decided_task(session, item, Verdict.ILLEGAL, voters=volunteers)
        case = cases.open_case(session, task, settings, actor_id=None)
        case = cases.ensure_evidence(session, case.id, settings)
    with sessions() as session:
        case = cases.get_case(session, case.id)
        data = evidence.read_bundle(case, settings)
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    assert {
        "media.json",
        "media/01.warc.gz",
        "media/01-original.png",
        "media/02.warc.gz",
        "media/02-original.jpg",
        "media/03.warc.gz",
        "media/03-original.bin",
    } <= names  # the SVG never gets an .svg name
    assert archive.read("media/01-original.png") == RED and archive.read("media/02-original.jpg") == PHOTO
    assert archive.read("media/03-original.bin") == SVG_WITH_SCRIPT
    manifest = {entry["path"]: entry["sha256"] for entry in json.loads(archive.read("manifest.json"))["files"]}
    assert manifest["media/01-original.png"] == records[0].sha256 == hashlib.sha256(RED).hexdigest()
    assert manifest["media/03-original.bin"] == records[2].sha256
    described = json.loads(archive.read("media.json"))
    assert [d["status"] for d in described] == ["stored", "stored", "skipped_svg", "robots"]
    assert described[0]["warc"]["status"] == "ok" and described[0]["warc"]["ip_address"] == "203.0.113.9"
    assert "original_file" not in described[3] and "warc" not in described[3]
    public = evidence.load_signing_key(settings).public_key()
    report = evidence.verify_bundle(data, public)
    assert report.ok, report.problems


def test_unstorable_references_are_left_out(sessions: sessionmaker[Session], settings: Settings) -> None:
    # (item_id, url) is a btree key: a URL over ~2,700 UTF-8 bytes, or with a NUL, would fail the
    # whole batch on PostgreSQL; such references are dropped, the others stored.
    with sessions.begin() as session:
        item = make_item(session, settings)
        records = [
            MediaRecord(url="https://x.test/" + "ж" * 1500 + ".png", status=MediaStatus.ERROR),
            MediaRecord(url="https://x.test/a\x00b.png", status=MediaStatus.ERROR),
            MediaRecord(url="https://x.test/ok.png", status=MediaStatus.ERROR),
        ]
        assert record_media(session, [(item.id, records)]) == 1
        assert [m.url for m in list_media(session, item.id)] == ["https://x.test/ok.png"]

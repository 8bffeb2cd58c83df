"""An item's images in the volunteer's task view: our own thumbnails, blurred until revealed
(click or ``m``), and not one request to the crawled site or any other host."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crawlers.evidence import Fetch, WarcEvidenceWriter
from crawlers.media import keep_image
from saqshy.db.models import MediaStatus, Role
from saqshy.services.media import MediaRecord, record_media
from tests.crawlers.media_fixtures import SVG_WITH_SCRIPT, jpeg_with_exif, png
from tests.review_ui.conftest import LiveServer, Seed
from tests.review_ui.test_hostile_content import RECORDER

pytestmark = pytest.mark.integration

# Where the crawler found the images: hostile strings, shown nowhere as a link or a source.
EVIL = "https://evil.test"


def add_media(seed: Seed, item_id: int) -> None:
    settings = seed.ctx.settings
    writer = WarcEvidenceWriter(settings.evidence_dir / "media", prefix="ui-media")
    records = []
    for url, body, content_type in (
        (f'{EVIL}/pixel.png?"><img src=x onerror="window.__xss=1">', png((200, 40, 40), size=(320, 200)), "image/png"),
        (f"{EVIL}/photo.jpg", jpeg_with_exif(size=(300, 220)), "image/jpeg"),
        (f"{EVIL}/evil.svg", SVG_WITH_SCRIPT, "image/svg+xml"),
    ):
        fetch = Fetch(
            url=url,
            method="GET",
            request_headers=[],
            request_body=b"",
            status=200,
            protocol="HTTP/1.1",
            response_headers=[("Content-Type", content_type)],
            body=body,
            fetched_at=datetime.now(UTC),
            server_ip="203.0.113.9",
        )
        records.append(
            keep_image(writer, url, fetch, content_type, media_dir=settings.media_dir, max_pixels=10**7, max_side=512)
        )
    writer.close()
    records.append(MediaRecord(url=f"{EVIL}/huge.jpg", status=MediaStatus.TOO_BIG))
    with seed.ctx.sessions.begin() as session:
        record_media(session, [(item_id, records)])


def test_thumbnails_blurred_revealed_and_same_origin_only(
    live_server: LiveServer, browser: Any, seed: Seed, screenshots: Path
) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    (item_id,) = seed.tasks(1)
    add_media(seed, item_id)

    page = live_server.page(browser)
    page.add_init_script(RECORDER)
    live_server.sign_in(page, volunteer)
    page.wait_for_selector("#item[data-task-id]:not([data-task-id=''])")
    page.wait_for_selector("[data-testid=media]")
    images = page.locator("[data-testid=media]")
    assert images.count() == 2  # the SVG and the oversize image are counted, never shown
    assert "2" in page.locator("[data-testid=media-hidden]").inner_text()
    for index in range(2):
        image = images.nth(index)
        assert (image.get_attribute("src") or "").startswith("/media/")
        assert "blurred" in (image.get_attribute("class") or "")
    # Both thumbnails decoded (served by Saqshy, allowed by img-src 'self'), and shown blurred.
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=media]')].every((i) => i.complete && i.naturalWidth > 0)"
    )
    assert "blur" in page.evaluate("() => getComputedStyle(document.querySelector('[data-testid=media]')).filter")
    page.screenshot(path=str(screenshots / "volunteer-media.png"), full_page=True)

    # `m` reveals them all, `m` again blurs them; a click reveals one.
    page.keyboard.press("m")
    assert page.locator("[data-testid=media].blurred").count() == 0
    page.keyboard.press("m")
    assert page.locator("[data-testid=media].blurred").count() == 2
    images.nth(0).click()
    assert page.locator("[data-testid=media].blurred").count() == 1

    assert page.evaluate("() => window.__xss") is None
    assert live_server.foreign_requests(page) == [], "the browser contacted another host"
    assert page.evaluate("() => window.__violations") == []
    assert page.saqshy_errors == []
    assert not [u for u in page.saqshy_requests if "evil.test" in u]


def test_greyscale_preference_applies_to_revealed_images(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    volunteer = seed.user(Role.VOLUNTEER)
    (item_id,) = seed.tasks(1)
    add_media(seed, item_id)
    page = live_server.page(browser)
    live_server.sign_in(page, volunteer)
    page.goto("/#/settings")
    page.wait_for_selector("[data-testid=media-greyscale]")
    page.check("[data-testid=media-greyscale]")
    page.goto("/#/queue")
    page.wait_for_selector("[data-testid=media]")
    page.keyboard.press("m")
    assert "grayscale" in page.evaluate("() => getComputedStyle(document.querySelector('[data-testid=media]')).filter")
    assert "blur" not in page.evaluate("() => getComputedStyle(document.querySelector('[data-testid=media]')).filter")
    assert live_server.foreign_requests(page) == []


def test_police_case_shows_blurred_thumbnails(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    from sqlalchemy import select

    from saqshy.db.models import ReviewTask, TaskStatus, Verdict, utcnow
    from triage_api.services import cases

    officer = seed.user(Role.POLICE)
    (item_id,) = seed.tasks(1)
    add_media(seed, item_id)
    with seed.ctx.sessions.begin() as session:
        task = session.scalars(select(ReviewTask).where(ReviewTask.item_id == item_id)).one()
        task.status, task.decision, task.decided_category, task.decided_at = (
            TaskStatus.DECIDED,
            Verdict.ILLEGAL,
            "drugs",
            utcnow(),
        )
        case_id = cases.open_case(session, task, seed.ctx.settings, actor_id=None).id
    page = live_server.page(browser)
    page.add_init_script(RECORDER)
    live_server.sign_in(page, officer)
    page.goto(f"/#/cases/{case_id}")
    page.wait_for_selector("[data-testid=media]")
    assert page.locator("[data-testid=media].blurred").count() == 2
    assert live_server.foreign_requests(page) == []
    assert page.evaluate("() => window.__violations") == []

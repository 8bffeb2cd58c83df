"""The read-only model registry router: versions, metrics, PR curves, score distribution."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from saqshy.context import Context
from saqshy.db.models import Role, User
from tests.review_ui.conftest import Seed
from tests.review_ui.test_ml_view import write_registry_version

Person = Callable[..., tuple[User, dict[str, str]]]


def test_versions_and_detail(api: TestClient, person: Person, ui_ctx: Context) -> None:
    models = ui_ctx.settings.models_dir
    _, headers = person(Role.ML_ENGINEER)
    assert api.get("/models", headers=headers).json() == {"items": []}
    older, newer = "20261101-000000-head-aaaa0000", "20261102-000000-head-bbbb0000"
    write_registry_version(models, older, "2026-11-01T00:00:00+00:00", production=True, seed=3)
    write_registry_version(models, newer, "2026-11-02T00:00:00+00:00", production=False, seed=4)
    (models / "20261101-000000-head-aaaa0000" / "pr_curves.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    items = api.get("/models", headers=headers).json()["items"]
    assert [i["version"] for i in items] == ["20261102-000000-head-bbbb0000", "20261101-000000-head-aaaa0000"]
    assert items[1]["is_current"] and not items[0]["is_current"]
    assert 0 < items[0]["metrics"]["roc_auc"] <= 1
    detail = api.get("/models/20261101-000000-head-aaaa0000", headers=headers).json()
    assert set(detail["per_category"]) >= {"drugs", "fraud"} and set(detail["per_language"]) == {"en", "kk", "ru"}
    assert len(detail["pr_curves"]["drugs"]["recall"]) == len(detail["pr_curves"]["drugs"]["precision"])
    assert detail["pr_curves_png"] == "/models/20261101-000000-head-aaaa0000/pr-curves.png"
    image = api.get(detail["pr_curves_png"], headers=headers)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def test_errors_and_roles(api: TestClient, person: Person) -> None:
    _, ml = person(Role.ML_ENGINEER)
    _, volunteer = person(Role.VOLUNTEER)
    assert api.get("/models", headers=volunteer).status_code == 403
    assert api.get("/models").status_code == 401
    assert api.get("/models/nope", headers=ml).status_code == 404
    assert api.get("/models/..%2F..%2Fetc", headers=ml).status_code == 404
    assert api.get("/models/PRODUCTION", headers=ml).status_code == 404
    assert api.get("/models/score-distribution?days=0", headers=ml).status_code == 422


def test_score_distribution(api: TestClient, person: Person, ui_ctx: Context) -> None:
    _, headers = person(Role.ML_ENGINEER)
    Seed(ui_ctx).tasks(12, score=0.85)
    body = api.get("/models/score-distribution?days=30", headers=headers).json()
    assert body["bins"] == 10
    assert sum(row["count"] for row in body["items"]) == 12
    for row in body["items"]:
        assert sum(row["histogram"]) == row["count"] and row["histogram"][8] == row["count"]

"""``saqshy backup`` / ``restore``: a restored copy is a working Saqshy, on each SQL engine we ship."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from saqshy.backup import create_backup, restore_backup
from saqshy.context import build_context
from saqshy.db.models import Case, Verdict
from saqshy.db.session import is_sqlite, make_engine
from saqshy.errors import InvalidInput
from saqshy.search.base import SearchQuery
from saqshy.search.indexer import reindex
from saqshy.settings import Settings
from tests.triage_api.escalation_factories import add_score, make_decided_task, make_item, make_user
from triage_api.services import cases, evidence
from triage_api.services.audit import chain_pending, verify_audit_chain

RESTORE_DB = "saqshy_test_restore"


def _seed(sessions: sessionmaker[Session], engine: Engine, settings: Settings) -> int:
    """A decided item with its WARC record, a case with a signed bundle, audit entries, a production model."""
    with sessions.begin() as session:
        item = make_item(session, settings, text="Закладки мефедрон в Алматы, пиши в бот")
        add_score(session, item)
        task = make_decided_task(session, item, Verdict.ILLEGAL, voters=[make_user(session), make_user(session)])
        case = cases.open_case(session, task, settings, actor_id=None)
        case_id = case.id
    with sessions.begin() as session:
        cases.ensure_evidence(session, case_id, settings)
    chain_pending(engine)
    version = settings.models_dir / "v-test"
    version.mkdir(parents=True)
    (version / "spec.json").write_text('{"name": "v-test"}')
    (settings.models_dir / "PRODUCTION").write_text("v-test\n")
    return case_id


@pytest.fixture
def restore_target(sql_engine: Engine, tmp_path: Path, settings: Settings) -> Iterator[Settings]:
    """Fresh folders and an empty database of the same engine as ``sql_engine``."""
    fresh = settings.model_copy(update={"var_dir": tmp_path / "restored" / "var",
                                        "models_dir": tmp_path / "restored" / "models"})
    if not is_sqlite(sql_engine):
        admin = create_engine(sql_engine.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {RESTORE_DB} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {RESTORE_DB}"))
        admin.dispose()
        url = sql_engine.url.set(database=RESTORE_DB).render_as_string(hide_password=False)
        fresh = fresh.model_copy(update={"database_url": url})
    yield fresh


def _backup(
    sql_engine: Engine, sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> tuple[Path, int]:
    case_id = _seed(sessions, sql_engine, settings)
    report = create_backup(settings, sql_engine, tmp_path / "saqshy-backup.tar.gz")
    assert report.production_model == "v-test"
    return report.path, case_id


def test_restored_copy_verifies_and_is_searchable(
    sql_engine: Engine, sessions: sessionmaker[Session], settings: Settings, restore_target: Settings, tmp_path: Path
) -> None:
    archive, case_id = _backup(sql_engine, sessions, settings, tmp_path)
    target_engine = make_engine(restore_target)
    restore_backup(restore_target, target_engine, archive)
    target_engine.dispose()

    ctx = build_context(restore_target)
    try:
        assert reindex(ctx).indexed == 1
        hits = ctx.search.search(SearchQuery(text="мефедрон"))
        assert len(hits.hits) == 1
        with ctx.sessions() as session:
            assert verify_audit_chain(session).ok
            case = session.get(Case, case_id)
            assert case is not None
            public = evidence.load_public_key(evidence.public_key_pem(restore_target))
            assert evidence.verify_bundle(evidence.read_bundle(case, restore_target), public).ok
            # A new bundle reads the WARC record from the restored copy, not from the old folder.
            fresh = evidence.verify_bundle(evidence.build_bundle(session, case, restore_target), public)
            assert fresh.ok, fresh.problems
        assert evidence.public_key_pem(restore_target) == evidence.public_key_pem(settings)
        assert (restore_target.models_dir / "PRODUCTION").read_text().strip() == "v-test"
    finally:
        ctx.close()


def _tamper(archive: Path, member: str) -> Path:
    out = archive.with_name("tampered.tar.gz")
    with tarfile.open(archive, "r:gz") as source, tarfile.open(out, "w:gz") as target:
        for info in source.getmembers():
            stream = source.extractfile(info)
            assert stream is not None
            data = stream.read()
            if info.name == member:
                data = data.replace(b"v-test", b"v-evil")
            info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    return out


def test_damaged_archive_or_busy_target_is_refused_and_nothing_changes(
    sql_engine: Engine, sessions: sessionmaker[Session], settings: Settings, restore_target: Settings, tmp_path: Path
) -> None:
    archive, _ = _backup(sql_engine, sessions, settings, tmp_path)
    target_engine = make_engine(restore_target)
    try:
        with pytest.raises(InvalidInput, match="SHA-256"):
            restore_backup(restore_target, target_engine, _tamper(archive, "models/PRODUCTION"))
        assert not restore_target.var_dir.exists() or not any(restore_target.var_dir.rglob("*.warc.gz"))
        assert not (restore_target.models_dir / "PRODUCTION").exists()

        not_a_backup = tmp_path / "junk.tar.gz"
        not_a_backup.write_bytes(gzip.compress(b"hello"))
        with pytest.raises(InvalidInput, match="not a Saqshy backup"):
            restore_backup(restore_target, target_engine, not_a_backup)

        # Into the live store: refused, it already holds data.
        with pytest.raises(InvalidInput, match="empty target"):
            restore_backup(settings, sql_engine, archive)
    finally:
        target_engine.dispose()


def test_backup_never_overwrites(sql_engine: Engine, settings: Settings, tmp_path: Path) -> None:
    existing = tmp_path / "old.tar.gz"
    existing.write_bytes(b"keep me")
    with pytest.raises(InvalidInput, match="exists"):
        create_backup(settings, sql_engine, existing)
    assert existing.read_bytes() == b"keep me"

"""Evidence bundles: contents, pseudonymised decisions, the WARC record, the Ed25519 signature."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from saqshy.db.models import Role, Verdict
from saqshy.errors import ServiceUnavailable
from saqshy.settings import Settings
from tests.triage_api.escalation_factories import add_score, make_decided_task, make_item, make_source, make_user
from triage_api.cli_evidence import app as evidence_cli
from triage_api.services import cases, evidence


def _open(session: Session, settings: Settings, **item_overrides: Any):
    volunteers = [make_user(session), make_user(session)]
    item = make_item(session, settings, **item_overrides)
    add_score(session, item)
    task = make_decided_task(session, item, Verdict.ILLEGAL, voters=volunteers)
    case = cases.open_case(session, task, settings, actor_id=None)
    return cases.ensure_evidence(session, case.id, settings), item, volunteers


def _bundle(settings: Settings, case) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(evidence.read_bundle(case, settings)))


def _rezip(data: bytes, replace: dict[str, bytes | None]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            if name in replace:
                if replace[name] is not None:
                    target.writestr(name, replace[name])  # type: ignore[arg-type]
                continue
            target.writestr(name, source.read(name))
        for name, value in replace.items():
            if name not in source.namelist() and value is not None:
                target.writestr(name, value)
    return out.getvalue()


def test_bundle_holds_the_evidence_and_verifies(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        case, item, volunteers = _open(session, settings)
        names = [(v.display_name, v.email, v.pseudonym) for v in volunteers]
        item_url, item_sha = item.url, item.sha256
    with sessions() as session:
        case = cases.get_case(session, case.id)
    archive = _bundle(settings, case)
    assert set(archive.namelist()) == {
        "case.json",
        "item.json",
        "text.txt",
        "scores.json",
        "decisions.json",
        "record.warc.gz",
        "manifest.json",
        "manifest.sig",
    }
    item_json = json.loads(archive.read("item.json"))
    assert item_json["url"] == item_url
    assert item_json["sha256"] == item_sha
    assert item_json["server_ip"] == "203.0.113.7"
    assert item_json["fetched_at"].startswith("2026-11-01T12:00:00")
    scores = json.loads(archive.read("scores.json"))
    assert scores[0]["model_version"] == "xlmr-test-2026.11"
    decisions = json.loads(archive.read("decisions.json"))
    assert sorted(d["volunteer"] for d in decisions) == sorted(p for _, _, p in names)
    everything = b"".join(archive.read(n) for n in archive.namelist())
    for display_name, email, _ in names:
        assert display_name.encode() not in everything
        assert email.encode() not in everything
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["warc"]["status"] == "ok"
    assert manifest["warc"]["body_sha256"] == item_sha
    assert {f["path"] for f in manifest["files"]} == set(archive.namelist()) - {"manifest.json", "manifest.sig"}

    public = evidence.load_public_key(evidence.public_key_pem(settings))
    report = evidence.verify_bundle(evidence.read_bundle(case, settings), public)
    assert report.ok, report.problems
    assert report.case_id == case.id
    assert report.files == 6


def test_any_change_breaks_verification(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        case, _, _ = _open(session, settings)
    data = evidence.read_bundle(case, settings)
    public = evidence.load_public_key(evidence.public_key_pem(settings))

    edited = evidence.verify_bundle(_rezip(data, {"text.txt": b"something else"}), public)
    assert not edited.ok and any("text.txt" in p for p in edited.problems)

    removed = evidence.verify_bundle(_rezip(data, {"record.warc.gz": None}), public)
    assert not removed.ok and any("missing from the archive" in p for p in removed.problems)

    added = evidence.verify_bundle(_rezip(data, {"extra.txt": b"planted"}), public)
    assert not added.ok and any("extra.txt" in p for p in added.problems)

    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    manifest["case_id"] = 999
    forged = evidence.verify_bundle(_rezip(data, {"manifest.json": json.dumps(manifest).encode()}), public)
    assert not forged.ok and "signature" in forged.problems[0]

    other_key = Ed25519PrivateKey.generate().public_key()
    assert not evidence.verify_bundle(data, other_key).ok
    assert not evidence.verify_bundle(b"not a zip", public).ok


def test_missing_or_mismatched_warc_is_recorded_not_fatal(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        without, _, _ = _open(session, settings, with_warc=False)
        mismatched, _, _ = _open(session, settings)
        # The body in the record is not the one whose hash the item carried when reviewed.
        mismatched.item_snapshot = {**mismatched.item_snapshot, "sha256": "0" * 64}
        evidence.store_bundle(session, mismatched, settings)
    public = evidence.load_public_key(evidence.public_key_pem(settings))
    manifest = json.loads(_bundle(settings, without).read("manifest.json"))
    assert manifest["warc"]["status"] == "missing"
    assert "record.warc.gz" not in _bundle(settings, without).namelist()
    assert evidence.verify_bundle(evidence.read_bundle(without, settings), public).ok
    report = evidence.verify_bundle(evidence.read_bundle(mismatched, settings), public)
    assert report.ok and report.warc_status == "hash_mismatch"


def test_stored_bundle_that_changed_on_disk_is_not_served(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        case, _, _ = _open(session, settings)
    path = settings.var_dir / str(case.evidence_path)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ServiceUnavailable, match="does not match"):
        evidence.read_bundle(case, settings)


def test_signing_key_generated_once_private_and_configurable(settings: Settings, tmp_path: Path) -> None:
    first = evidence.public_key_pem(settings)
    path = evidence.signing_key_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert evidence.public_key_pem(settings) == first

    configured = tmp_path / "police-key.pem"
    key = Ed25519PrivateKey.generate()
    configured.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    own = settings.model_copy(update={"evidence_signing_key_path": configured})
    assert evidence.public_key_pem(own) != first
    missing = settings.model_copy(update={"evidence_signing_key_path": tmp_path / "nope.pem"})
    with pytest.raises(ServiceUnavailable, match="does not exist"):
        evidence.load_signing_key(missing)
    configured.write_text("garbage")
    with pytest.raises(ServiceUnavailable, match="PEM"):
        evidence.load_signing_key(own)


def test_cli_verify(sessions: sessionmaker[Session], settings: Settings, tmp_path: Path) -> None:
    with sessions.begin() as session:
        case, _, _ = _open(session, settings)
    bundle = tmp_path / "case.zip"
    bundle.write_bytes(evidence.read_bundle(case, settings))
    key = tmp_path / "key.pem"
    key.write_bytes(evidence.public_key_pem(settings))
    runner = CliRunner()
    ok = runner.invoke(evidence_cli, ["evidence", "verify", str(bundle), "--public-key", str(key)])
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output

    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(_rezip(bundle.read_bytes(), {"text.txt": b"edited"}))
    bad = runner.invoke(evidence_cli, ["evidence", "verify", str(tampered), "--public-key", str(key)])
    assert bad.exit_code == 1
    assert "text.txt" in bad.output


def _corrupt_member(data: bytes, name: str) -> bytes:
    """The bundle with one byte of ``name``'s stored data flipped (a damaged download)."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    # The local header: 30 fixed bytes, then the name and the extra field as written there.
    name_len = int.from_bytes(data[info.header_offset + 26: info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28: info.header_offset + 30], "little")
    at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def test_cli_verify_answers_failed_on_a_corrupt_zip(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    with sessions.begin() as session:
        case, _, _ = _open(session, settings)
    key = tmp_path / "key.pem"
    key.write_bytes(evidence.public_key_pem(settings))
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(_corrupt_member(evidence.read_bundle(case, settings), "text.txt"))

    result = CliRunner().invoke(evidence_cli, ["evidence", "verify", str(corrupt), "--public-key", str(key)])

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    assert "FAILED" in result.output and "corrupt" in result.output


def test_moderator_decision_is_pseudonymised_too(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        moderator = make_user(session, Role.MODERATOR)
        item = make_item(session, settings)
        task = make_decided_task(session, item, voters=[moderator])
        case = cases.open_case(session, task, settings, actor_id=moderator.id)
        case = cases.ensure_evidence(session, case.id, settings)
        pseudonym, name = moderator.pseudonym, moderator.display_name
    decisions = _bundle(settings, case).read("decisions.json").decode()
    assert pseudonym in decisions and name not in decisions


def test_bundle_shows_the_item_as_reviewed_not_as_recrawled(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with sessions.begin() as session:
        item = make_item(session, settings)
        case = cases.open_case(session, make_decided_task(session, item), settings, None)
        reviewed_text, reviewed_sha = item.text, item.sha256
        # A recrawl updates the item in place before the bundle job runs.
        item.text, item.sha256, item.evidence_path = "edited by the site owner", "f" * 64, None
        case = cases.ensure_evidence(session, case.id, settings)
        again = cases.ensure_evidence(session, case.id, settings)
        assert again.evidence_sha256 == case.evidence_sha256
    archive = _bundle(settings, case)
    assert archive.read("text.txt").decode() == reviewed_text
    assert json.loads(archive.read("item.json"))["sha256"] == reviewed_sha
    assert json.loads(archive.read("manifest.json"))["warc"]["status"] == "ok"


def test_source_credentials_stored_before_the_refusal_are_not_in_the_bundle(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with sessions.begin() as session:
        source = make_source(session, url="https://editor:hunter2@legacy.example/feed")
        case, _item, _volunteers = _open(session, settings, source=source)
    with sessions() as session:
        case = cases.get_case(session, case.id)
    item_json = json.loads(_bundle(settings, case).read("item.json"))
    assert item_json["source"]["url"] == "https://legacy.example/feed"
    assert not any(b"hunter2" in _bundle(settings, case).read(name) for name in ("item.json", "case.json"))

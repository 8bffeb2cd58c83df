"""``saqshy backup`` and ``saqshy restore``: the store of record and its files in one archive.

An archive is a gzip'd tar holding::

    database/saqshy.sqlite3 | database/saqshy.pgdump   SQLite online backup, or pg_dump's custom format
    var/…                                               WARC evidence, media, case bundles, keys, checkpoints
    models/PRODUCTION, models/<version>/…               the registry's production version
    keys/evidence-ed25519.pem                           the signing key, when it is kept outside var/
    manifest.json                                       every other member's SHA-256 and size

The search index is not in it: it is derived, and ``restore`` rebuilds it from the store. A restore
checks every member against the manifest before it writes anything, and only into an empty target.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Engine, inspect, text

from saqshy import __version__
from saqshy.db.session import is_sqlite
from saqshy.errors import InvalidInput, ServiceUnavailable
from saqshy.settings import Settings

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/saqshy.sqlite3"
PGDUMP_MEMBER = "database/saqshy.pgdump"
# Files in var/ that are the store itself (copied through its own backup API) or derived from it.
_NOT_COPIED = {"saqshy.sqlite3", "saqshy.sqlite3-wal", "saqshy.sqlite3-shm", "search-index.sqlite3",
               "search-index.sqlite3-wal", "search-index.sqlite3-shm"}
_CHUNK = 1 << 20

Progress = Callable[[str], None]


@dataclass
class BackupReport:
    path: Path
    files: int
    bytes: int
    engine: str
    production_model: str | None


@dataclass
class RestoreReport:
    files: int
    engine: str
    production_model: str | None
    reindexed: int = 0
    notes: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _libpq_url(engine: Engine) -> str:
    """The engine's URL as pg_dump and pg_restore take it (no SQLAlchemy driver suffix)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run_pg_tool(argv: list[str]) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True)
    except FileNotFoundError:
        raise ServiceUnavailable(f"{argv[0]} is not installed (Debian: apt-get install postgresql-client)") from None
    if result.returncode != 0:
        raise ServiceUnavailable(f"{argv[0]} failed: {result.stderr.strip()[-2000:]}")


def _dump_database(engine: Engine, folder: Path) -> tuple[str, Path]:
    if is_sqlite(engine):
        source_path = engine.url.database
        assert source_path, "an on-disk SQLite store"
        target = folder / "saqshy.sqlite3"
        with sqlite3.connect(source_path) as source, sqlite3.connect(target) as copy:
            source.backup(copy)  # SQLite's online backup: consistent while the server keeps writing
        copy.close()
        return SQLITE_MEMBER, target
    target = folder / "saqshy.pgdump"
    _run_pg_tool(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                  f"--file={target}", f"--dbname={_libpq_url(engine)}"])
    return PGDUMP_MEMBER, target


def _var_files(settings: Settings) -> Iterator[tuple[str, Path]]:
    root = settings.var_dir
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not path.is_symlink() and relative.parts[0] not in _NOT_COPIED \
                and not path.name.startswith((".tmp-", ".key-")):
            yield f"var/{relative.as_posix()}", path


def _model_files(settings: Settings) -> tuple[str | None, list[tuple[str, Path]]]:
    pointer = settings.models_dir / "PRODUCTION"
    if not pointer.is_file():
        return None, []
    version = pointer.read_text().strip()
    folder = settings.models_dir / version
    files = [("models/PRODUCTION", pointer)]
    files += [(f"models/{version}/{p.relative_to(folder).as_posix()}", p)
              for p in sorted(folder.rglob("*")) if p.is_file()]
    return version, files


def _signing_key_outside_var(settings: Settings) -> list[tuple[str, Path]]:
    path = settings.evidence_signing_key_path
    if path is None or not path.is_file() or path.is_relative_to(settings.var_dir):
        return []
    return [("keys/evidence-ed25519.pem", path)]


def create_backup(
    settings: Settings, engine: Engine, dest: Path, progress: Progress = lambda _m: None
) -> BackupReport:
    """Write one archive of the store, its files and the production model to ``dest``."""
    if dest.exists():
        raise InvalidInput(f"{dest} exists: choose a new file name")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="saqshy-backup-") as scratch:
        progress("copying the store of record")
        db_member, db_file = _dump_database(engine, Path(scratch))
        version, model_files = _model_files(settings)
        members = [(db_member, db_file), *_var_files(settings), *model_files, *_signing_key_outside_var(settings)]
        entries = []
        partial = dest.with_name(f".{dest.name}.partial")
        with tarfile.open(partial, "w:gz", compresslevel=3) as archive:
            for number, (name, path) in enumerate(members, 1):
                entries.append({"path": name, "sha256": _sha256(path), "size": path.stat().st_size})
                archive.add(path, arcname=name, recursive=False)
                if number % 200 == 0:
                    progress(f"{number} of {len(members)} files")
            engine_name = "sqlite" if db_member == SQLITE_MEMBER else "postgresql"
            manifest = {
                "format": FORMAT,
                "saqshy_version": __version__,
                "created_at": datetime.now(UTC).isoformat(),
                "engine": engine_name,
                "var_dir": str(settings.var_dir),
                "production_model": version,
                "files": entries,
            }
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        partial.replace(dest)
    return BackupReport(dest, len(entries), dest.stat().st_size, engine_name, version)


# --- restore ----------------------------------------------------------------------------------


def _safe_member_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or path.parts[0] not in {"database", "var", "models", "keys"}:
        raise InvalidInput(f"the archive holds an unexpected path {name!r}: not a Saqshy backup")
    return path


def read_manifest(archive: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = archive.getmember(MANIFEST)
        stream = archive.extractfile(member)
        assert stream is not None
        manifest: dict[str, Any] = json.loads(stream.read())
    except (KeyError, ValueError, AssertionError):
        raise InvalidInput("the archive has no readable manifest.json: not a Saqshy backup") from None
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"backup format {manifest.get('format')!r} is not supported (expected {FORMAT})")
    return manifest


def verify_archive(archive: tarfile.TarFile, manifest: dict[str, Any]) -> None:
    """Every member matches the manifest, and the manifest lists every member: else nothing is restored."""
    expected = {entry["path"]: entry for entry in manifest["files"]}
    seen = set()
    for member in archive.getmembers():
        if member.name == MANIFEST:
            continue
        _safe_member_name(member.name)
        entry = expected.get(member.name)
        if entry is None or not member.isfile():
            raise InvalidInput(f"{member.name} is in the archive but not in its manifest")
        stream = archive.extractfile(member)
        assert stream is not None
        digest = hashlib.sha256()
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
        if digest.hexdigest() != entry["sha256"]:
            raise InvalidInput(f"{member.name}: SHA-256 does not match the manifest (the archive is damaged)")
        seen.add(member.name)
    missing = sorted(set(expected) - seen)
    if missing:
        raise InvalidInput(f"{len(missing)} files of the manifest are missing from the archive, e.g. {missing[0]}")


def _target_problems(settings: Settings, engine: Engine) -> list[str]:
    problems = []
    if settings.var_dir.is_dir() and any(name for name, _ in _var_files(settings)):
        problems.append(f"{settings.var_dir} already holds files")
    if (settings.models_dir / "PRODUCTION").exists():
        problems.append(f"{settings.models_dir} already has a production model")
    tables = inspect(engine).get_table_names()
    if "users" in tables:
        with engine.connect() as connection:
            for table in ("users", "content_items"):
                if connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first():
                    problems.append(f"the database already holds {table}")
    return problems


def _restore_database(engine: Engine, archive: tarfile.TarFile, manifest: dict[str, Any], scratch: Path) -> None:
    if manifest["engine"] != ("sqlite" if is_sqlite(engine) else "postgresql"):
        raise InvalidInput(f"this backup is of a {manifest['engine']} store; restore it with a database of that kind "
                           "(SAQSHY_DATABASE_URL)")
    member = SQLITE_MEMBER if is_sqlite(engine) else PGDUMP_MEMBER
    archive.extract(member, scratch, filter="data")
    dump = scratch / member
    if is_sqlite(engine):
        target = engine.url.database
        assert target
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(target + suffix).unlink(missing_ok=True)
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(dump) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        copy.close()
        return
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    _run_pg_tool(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
                  f"--dbname={_libpq_url(engine)}", str(dump)])


def _extract_files(settings: Settings, archive: tarfile.TarFile, scratch: Path) -> int:
    destinations = {"var": settings.var_dir, "models": settings.models_dir}
    count = 0
    for member in archive.getmembers():
        if member.name == MANIFEST or member.name.startswith("database/"):
            continue
        path = _safe_member_name(member.name)
        if path.parts[0] == "keys":
            target = settings.evidence_signing_key_path or settings.var_dir / "keys" / "evidence-ed25519.pem"
        else:
            target = destinations[path.parts[0]].joinpath(*path.parts[1:])
        target.parent.mkdir(parents=True, exist_ok=True)
        stream = archive.extractfile(member)
        assert stream is not None
        with open(target, "wb") as out:
            shutil.copyfileobj(stream, out)
        if path.parts[0] == "keys" or "keys" in path.parts[1:2]:
            target.chmod(0o600)
        count += 1
    return count


def _relocate_evidence_paths(engine: Engine, old_var: str, new_var: Path) -> int:
    """Items and media name their WARC file by absolute path: point them at the restored copies."""
    if old_var == str(new_var):
        return 0
    moved = 0
    prefix = old_var.rstrip("/") + "/"
    with engine.begin() as connection:
        for table in ("content_items", "media"):
            moved += connection.execute(
                text(f"UPDATE {table} SET evidence_path = :new || substr(evidence_path, :cut) "
                     "WHERE substr(evidence_path, 1, :length) = :old"),
                {"new": str(new_var).rstrip("/") + "/", "cut": len(prefix) + 1, "length": len(prefix), "old": prefix},
            ).rowcount
    return moved


def _open_archive(src: Path) -> tarfile.TarFile:
    if not src.is_file():
        raise InvalidInput(f"{src} is not a file")
    try:
        return tarfile.open(src, "r:gz")
    except (tarfile.TarError, OSError) as exc:
        raise InvalidInput(f"{src} is not a Saqshy backup (not a gzip'd tar: {exc})") from None


def restore_backup(
    settings: Settings, engine: Engine, src: Path, progress: Progress = lambda _m: None
) -> RestoreReport:
    """Restore an archive into an empty store and folders; the caller rebuilds the search index."""
    with _open_archive(src) as archive, tempfile.TemporaryDirectory(prefix="saqshy-restore-") as scratch:
        manifest = read_manifest(archive)
        progress(f"checking {len(manifest['files'])} files against the manifest")
        verify_archive(archive, manifest)
        problems = _target_problems(settings, engine)
        if problems:
            raise InvalidInput("restore needs an empty target: " + "; ".join(problems))
        progress("restoring the store of record")
        _restore_database(engine, archive, manifest, Path(scratch))
        progress("restoring evidence, media, keys and the production model")
        files = _extract_files(settings, archive, Path(scratch))
    report = RestoreReport(files=files, engine=manifest["engine"], production_model=manifest["production_model"])
    moved = _relocate_evidence_paths(engine, manifest["var_dir"], settings.var_dir)
    if moved:
        report.notes.append(f"{moved} evidence paths now point into {settings.var_dir}")
    return report

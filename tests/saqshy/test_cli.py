"""The ``saqshy`` command as a user runs it: a real process, real settings from the environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

SAQSHY = [sys.executable, "-c", "from saqshy.cli import run; run()"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAQSHY_")}
    env["SAQSHY_VAR_DIR"] = str(tmp_path / "var")
    return env


def test_help_lists_the_commands(tmp_path: Path) -> None:
    out = subprocess.run([*SAQSHY, "--help"], env=_env(tmp_path), capture_output=True, text=True, check=True)
    for command in ("serve", "db", "reindex"):
        assert command in out.stdout


def test_db_upgrade_creates_the_sqlite_store(tmp_path: Path) -> None:
    subprocess.run([*SAQSHY, "db", "upgrade"], env=_env(tmp_path), capture_output=True, text=True, check=True)
    assert (tmp_path / "var" / "saqshy.sqlite3").exists()


def test_bad_settings_give_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    env = _env(tmp_path) | {"SAQSHY_PORT": "not-a-port"}
    result = subprocess.run([*SAQSHY, "db", "upgrade"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "SAQSHY_PORT" in result.stderr or "port" in result.stderr
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_health_and_openapi(tmp_path: Path, workers: int) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [*SAQSHY, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"saqshy serve did not start:\n{output[-3000:]}")
                time.sleep(0.3)
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        schema = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
        assert "/health" in schema["paths"]
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_backup_and_restore_as_a_user_runs_them(tmp_path: Path) -> None:
    source = _env(tmp_path / "a") | {"SAQSHY_MODELS_DIR": str(tmp_path / "a" / "models")}
    subprocess.run([*SAQSHY, "db", "upgrade"], env=source, capture_output=True, text=True, check=True)
    (tmp_path / "a" / "var" / "evidence").mkdir(parents=True)
    (tmp_path / "a" / "var" / "evidence" / "x.warc.gz").write_bytes(b"warc")
    archive = tmp_path / "backup.tar.gz"
    made = subprocess.run([*SAQSHY, "backup", str(archive)], env=source, capture_output=True, text=True, check=True)
    assert "backup written" in made.stderr

    target = _env(tmp_path / "b") | {"SAQSHY_MODELS_DIR": str(tmp_path / "b" / "models")}
    restored = subprocess.run([*SAQSHY, "restore", str(archive)], env=target, capture_output=True, text=True)
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "b" / "var" / "evidence" / "x.warc.gz").read_bytes() == b"warc"
    again = subprocess.run([*SAQSHY, "restore", str(archive)], env=target, capture_output=True, text=True)
    assert again.returncode == 2 and "empty target" in again.stderr and "Traceback" not in again.stderr

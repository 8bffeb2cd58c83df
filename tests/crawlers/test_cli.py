"""The crawler commands: bad input is a clear error that changes nothing; a crawl from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from crawlers.cli import app
from saqshy.context import build_context
from saqshy.db.models import Source
from saqshy.db.session import session_scope
from saqshy.settings import Settings, get_settings
from tests.crawlers.fixture_site import FixtureSite


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    var = tmp_path / "var"
    monkeypatch.setenv("SAQSHY_VAR_DIR", str(var))
    monkeypatch.setenv("SAQSHY_CRAWLER_ALLOWED_NETWORKS", "127.0.0.0/8")  # the fixture site
    monkeypatch.delenv("SAQSHY_REDIS_URL", raising=False)
    monkeypatch.delenv("SAQSHY_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield var
    get_settings.cache_clear()


def _sources(var: Path) -> int:
    ctx = build_context(Settings(_env_file=None, var_dir=var))
    with session_scope(ctx.sessions) as session:
        count = session.scalar(select(func.count()).select_from(Source)) or 0
    ctx.close()
    return count


def test_source_add_and_list(cli_env: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["source", "add", "https://example.kz/news", "--every", "2h", "--depth", "3"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["source", "add", "@some_channel", "--kind", "telegram", "--read-back", "30d"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["source", "list"])
    assert result.exit_code == 0
    assert "example.kz" in result.output and "t.me/some_channel" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["source", "add", "ftp://example.kz/"],
        ["source", "add", "https://example.kz/", "--every", "soon"],
        ["source", "add", "https://example.kz/", "--depth", "-1"],
        ["source", "add", "https://example.kz/", "--kind", "newsgroup"],
        ["source", "add", "not a channel!", "--kind", "telegram"],
        ["source", "add", "@some_channel", "--kind", "telegram", "--read-back", "a while"],
        ["source", "add", "https://example.kz/", "--read-back", "30d"],
        ["source", "add", "http://169.254.169.254/latest/meta-data/"],
        ["source", "add", "http://10.0.0.1/"],
        ["source", "add", "http://[::1]/"],
        ["source", "add", "https://editor:hunter2@example.kz/"],
    ],
)
def test_bad_input_changes_nothing(cli_env: Path, args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert _sources(cli_env) == 0
    assert "hunter2" not in result.output  # a refused password is not echoed either


@pytest.mark.slow
def test_crawl_and_export_from_the_command_line(cli_env: Path, site: FixtureSite) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(app, ["source", "add", site.root + "/feed.atom", "--kind", "feed", "--name", "atom"]).exit_code
        == 0
    )
    # The crawl starts a Twisted reactor: run it in its own process, as the `saqshy` command does.
    env = {**os.environ, "SAQSHY_VAR_DIR": str(cli_env)}
    code = "from saqshy.cli import run; run()"
    done = subprocess.run(
        [sys.executable, "-c", code, "crawl", "atom", "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "crawl summary" in done.stderr and "atom" in done.stderr
    exported = runner.invoke(app, ["items", "export", "--source", "atom", "--since", "2000-01-01"])
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in exported.stdout.splitlines() if line.startswith("{")]
    assert [line["author"] for line in lines] == ["Atom Author"]
    assert runner.invoke(app, ["items", "export", "--source", "nope"]).exit_code != 0
    assert runner.invoke(app, ["items", "export", "--since", "yesterday"]).exit_code != 0


def test_source_read_back_widens_a_telegram_window(cli_env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["source", "add", "@some_channel", "--kind", "telegram"]).exit_code == 0
    assert runner.invoke(app, ["source", "add", "https://example.kz/"]).exit_code == 0
    result = runner.invoke(app, ["source", "read-back", "t.me/some_channel", "180d"])
    assert result.exit_code == 0, result.output
    ctx = build_context(Settings(_env_file=None, var_dir=cli_env))
    with session_scope(ctx.sessions) as session:
        channel = session.scalars(select(Source).where(Source.name == "t.me/some_channel")).one()
        assert channel.settings["read_back"] == "180d"
    ctx.close()
    assert runner.invoke(app, ["source", "read-back", "t.me/some_channel", "a while"]).exit_code != 0
    assert runner.invoke(app, ["source", "read-back", "example.kz", "30d"]).exit_code != 0
    assert runner.invoke(app, ["source", "read-back", "nope", "30d"]).exit_code != 0


def test_source_list_never_shows_stored_credentials(cli_env: Path) -> None:
    ctx = build_context(Settings(_env_file=None, var_dir=cli_env))
    with session_scope(ctx.sessions) as session:
        # A source stored before credentials were refused at creation.
        session.add(Source(name="legacy", url="https://editor:hunter2@legacy.example.kz/", kind="site"))
    ctx.close()
    result = CliRunner().invoke(app, ["source", "list"])
    assert result.exit_code == 0, result.output
    assert "https://legacy.example.kz/" in result.output and "hunter2" not in result.output

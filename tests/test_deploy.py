"""The deployment files (deploy/) start only real ``saqshy`` commands with options it accepts."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.exceptions import TyperException

from saqshy import cli

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _compose_commands() -> list[list[str]]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    commands = []
    for service in compose["services"].values():
        for argv in (service.get("command"), service.get("healthcheck", {}).get("test")):
            if argv and argv[0] == "CMD":
                argv = argv[1:]
            if argv and argv[0] == "saqshy":
                commands.append(argv)
    return commands


def _procfile_commands() -> list[list[str]]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    return [shlex.split(line.split(":", 1)[1]) for line in lines if line and not line.startswith("#")]


def _dockerfile_commands() -> list[list[str]]:
    text = (DEPLOY / "Dockerfile").read_text()
    return [json.loads(match) for match in re.findall(r"^CMD (\[.*\])$", text, flags=re.M)]


ALL_COMMANDS = _compose_commands() + _procfile_commands() + _dockerfile_commands()


@pytest.fixture(scope="module")
def saqshy_command() -> Any:
    cli._mount_sub_apps()
    return typer.main.get_command(cli.app)


def _parse(command: Any, argv: list[str]) -> None:
    """Resolve sub-commands and parse the options exactly as a run would, without running anything."""
    args = list(argv[1:])
    ctx = command.make_context("saqshy", list(args))
    while hasattr(command, "resolve_command") and args:
        _name, command, args = command.resolve_command(ctx, args)
        ctx = command.make_context(command.name, list(args), parent=ctx)


def test_every_deployment_file_has_saqshy_commands() -> None:
    assert len(_compose_commands()) >= 4 and len(_procfile_commands()) >= 4 and _dockerfile_commands()


@pytest.mark.parametrize("argv", ALL_COMMANDS, ids=[" ".join(argv) for argv in ALL_COMMANDS])
def test_deployment_commands_are_real_saqshy_commands(saqshy_command: Any, argv: list[str]) -> None:
    _parse(saqshy_command, argv)


def test_a_wrong_option_is_caught(saqshy_command: Any) -> None:
    with pytest.raises(TyperException):
        _parse(saqshy_command, ["saqshy", "serve", "--wokers", "2"])
    with pytest.raises(TyperException):
        _parse(saqshy_command, ["saqshy", "no-such-command"])
    with pytest.raises(TyperException):
        _parse(saqshy_command, ["saqshy", "db", "upgrade", "--bogus"])


def test_compose_mounts_the_store_evidence_models_and_keys() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    for name in ("api", "worker", "scheduler"):
        mounts = {volume.split(":")[1] for volume in services[name]["volumes"]}
        assert {"/data/var", "/data/models"} <= mounts
    for name in ("postgres", "elasticsearch", "redis", "api"):
        assert "healthcheck" in services[name], name

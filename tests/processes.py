"""The environment of a Saqshy process a test or benchmark starts (``saqshy serve``, a worker, a crawl)."""

from __future__ import annotations

import os

from saqshy.settings import PROJECT_ROOT


def saqshy_env(**settings: object) -> dict[str, str]:
    """This environment without its ``SAQSHY_`` variables, plus ``settings`` as ``SAQSHY_<NAME>``.

    Only what the caller names reaches the process (run away from the checkout, no developer .env
    applies either); ``None`` becomes empty, as unset. PYTHONPATH puts this checkout first.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("SAQSHY_")}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")])
    env.update({f"SAQSHY_{name.upper()}": "" if value is None else str(value) for name, value in settings.items()})
    return env

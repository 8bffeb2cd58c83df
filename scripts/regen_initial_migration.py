"""Regenerate migration 0001 from the models (allowed only until the first release ships).

Run after changing saqshy/db/models.py:  .venv/bin/python scripts/regen_initial_migration.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from saqshy.db.migrate import MIGRATIONS_DIR, alembic_config


def main() -> None:
    for old in (MIGRATIONS_DIR / "versions").glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'gen.sqlite3'}")
        command.revision(alembic_config(engine), message="initial schema", autogenerate=True, rev_id="0001")
    for new in (MIGRATIONS_DIR / "versions").glob("0001_*.py"):
        source = new.read_text().replace("\n\n\nrevision", "\n\nrevision")
        new.write_text(source)
        print(f"wrote {new}")


if __name__ == "__main__":
    main()

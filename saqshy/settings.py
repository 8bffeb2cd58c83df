"""The one settings object. Read once (``get_settings``) and passed down; nothing else reads the env."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SOURCE_TREE = Path(__file__).resolve().parent.parent
# In a source checkout, state lives beside the code; an installed Saqshy keeps it in the working folder.
PROJECT_ROOT = _SOURCE_TREE if (_SOURCE_TREE / "pyproject.toml").exists() else Path.cwd()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SAQSHY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Where local state lives: the SQLite file, WARC evidence, job state, signing keys.
    var_dir: Path = PROJECT_ROOT / "var"
    models_dir: Path = PROJECT_ROOT / "models"

    database_url: str | None = None
    elasticsearch_url: str | None = None
    elasticsearch_index: str = "saqshy-items"
    # "standard" works on every Elasticsearch; production clusters with analysis-common can
    # switch to the per-language analyzers (russian, english) for stemming.
    elasticsearch_language_analyzers: bool = False
    redis_url: str | None = None
    rq_queue: str = "saqshy"

    # Store limits: crawled content is hostile, its size is never trusted.
    max_text_chars: int = Field(default=200_000, ge=1_000)
    max_title_chars: int = Field(default=1_000, ge=10)
    max_url_chars: int = Field(default=4_096, ge=100)

    # Jobs.
    job_workers: int = Field(default=2, ge=1, le=64)
    job_max_attempts: int = Field(default=5, ge=1, le=50)
    job_backoff_seconds: float = Field(default=2.0, ge=0.0)
    job_backoff_max_seconds: float = Field(default=300.0, ge=0.0)
    index_batch_size: int = Field(default=500, ge=1, le=10_000)

    # HTTP.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: SecretStr = SecretStr("change-me-in-production")

    # Crawling.
    crawler_contact_url: str = "https://github.com/saqshy/saqshy"
    crawler_max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    crawler_timeout_seconds: float = Field(default=30.0, gt=0)

    # Classifier.
    base_model: str | None = None
    torch_threads: int = Field(default=2, ge=1, le=256)

    @field_validator("database_url", "elasticsearch_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # psycopg 3 is the PostgreSQL driver; accept the common spellings of the URL.
            for prefix in ("postgres://", "postgresql://"):
                if url.startswith(prefix):
                    return "postgresql+psycopg://" + url[len(prefix) :]
            return url
        return f"sqlite:///{self.var_dir / 'saqshy.sqlite3'}"

    @property
    def evidence_dir(self) -> Path:
        return self.var_dir / "evidence"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

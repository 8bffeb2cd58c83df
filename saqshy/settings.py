"""The one settings object. Read once (``get_settings``) and passed down; nothing else reads the env."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from saqshy.logs import LogFormat
from saqshy.netpolicy import AddressPolicy, parse_networks

_SOURCE_TREE = Path(__file__).resolve().parent.parent
# In a source checkout, state lives beside the code; an installed Saqshy keeps it in the working folder.
PROJECT_ROOT = _SOURCE_TREE if (_SOURCE_TREE / "pyproject.toml").exists() else Path.cwd()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SAQSHY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # "production" makes the server refuse to start with a default or missing secret, insecure
    # cookies or the demo accounts (triage_api.services.security.production_problems).
    env: Literal["development", "production"] = "development"

    # Where local state lives: the SQLite file, WARC evidence, job state, signing keys.
    var_dir: Path = PROJECT_ROOT / "var"
    models_dir: Path = PROJECT_ROOT / "models"

    database_url: str | None = None
    # PostgreSQL connection pool per process: kept open connections, and extra ones opened under a
    # burst and closed again when returned. Keep the pool at least as large as what one process
    # runs at once (``triage_max_in_flight`` requests, the audit sequencer, the job threads):
    # every connection past it is a new backend start and authentication, then thrown away.
    database_pool_size: int = Field(default=20, ge=1, le=1_000)
    database_max_overflow: int = Field(default=10, ge=0, le=1_000)
    # The Retry-After hint (seconds) of an API answer given while the database cannot be reached.
    database_retry_after_seconds: int = Field(default=5, ge=1, le=3_600)
    elasticsearch_url: str | None = None
    elasticsearch_index: str = "saqshy-items"
    # "standard" works on every Elasticsearch; production clusters with analysis-common can
    # switch to the per-language analyzers (russian, english) for stemming.
    elasticsearch_language_analyzers: bool = False
    redis_url: str | None = None
    rq_queue: str = "saqshy"
    # Run the recurring-jobs scheduler inside ``saqshy serve``. Default: yes on embedded defaults
    # (no Redis); with Redis, run one ``saqshy scheduler`` process instead.
    run_scheduler: bool | None = None

    # Store limits: crawled content is hostile, its size is never trusted.
    max_text_chars: int = Field(default=200_000, ge=1_000)
    max_title_chars: int = Field(default=1_000, ge=10)
    max_url_chars: int = Field(default=4_096, ge=100)

    # Jobs.
    job_workers: int = Field(default=2, ge=1, le=64)
    job_max_attempts: int = Field(default=5, ge=1, le=50)
    job_backoff_seconds: float = Field(default=2.0, ge=0.0)
    job_backoff_max_seconds: float = Field(default=300.0, ge=0.0)
    # An RQ worker says it lives this often; three missed beats and its running jobs are queued again.
    job_worker_heartbeat_seconds: float = Field(default=5.0, gt=0.0, le=300.0)
    # Finished job rows are pruned after this many days (saqshy/jobs/retention.py); failed ones
    # are kept longer so that they are seen first (0: never pruned).
    job_retention_days: int = Field(default=14, ge=1, le=3650)
    job_failed_retention_days: int = Field(default=90, ge=0, le=3650)
    index_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Days after its last fetch that an item never flagged, or decided legal, is purged, per
    # category ("default" for the rest; 0 keeps a category for ever), e.g. '{"default": 180, "drugs": 365}'.
    # Items in a case (and their near-duplicates) are on legal hold (triage_api/services/retention.py).
    retention_days: dict[str, int] = Field(default_factory=lambda: {"default": 180})

    # HTTP.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    # Watching it: "json" logs one JSON object per line (with the request id); /metrics is read
    # with this bearer token, or only from loopback when it is unset.
    log_format: LogFormat = "text"
    metrics_token: SecretStr | None = None
    # ``saqshy worker`` serves its own /metrics on this port (workers on other hosts than the API).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("metrics_token", "metrics_port", mode="before")
    @classmethod
    def _metrics_blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    # Crawling.
    crawler_contact_url: str = "https://github.com/saqshy/saqshy"
    crawler_max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    crawler_timeout_seconds: float = Field(default=30.0, gt=0)
    # Requests one crawl process holds at once. In distributed mode a process takes this many from
    # the shared frontier, so a lower value spreads a crawl of few sites over more processes.
    crawler_concurrent_requests: int = Field(default=32, ge=1, le=1024)
    # Images of crawled items: fetched as sub-resources of their page (robots.txt and throttling
    # apply), kept in the WARC evidence, and shown to reviewers only as our own re-encoded
    # thumbnails (var_dir/media). Crawled sizes are never trusted: both caps are enforced.
    crawler_media_enabled: bool = True
    crawler_media_per_item: int = Field(default=8, ge=0, le=100)
    crawler_media_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # Images on other hosts than their page (CDNs, Telegram's file servers) are fetched too.
    crawler_media_offsite: bool = True
    # Outbound requests (crawls, takedown re-checks, new sources, the police webhook) go to public
    # addresses only, plus these comma-separated CIDR ranges (tests, intranets): e.g. 10.1.0.0/16.
    crawler_allowed_networks: str = ""
    # Decompression-bomb guard: an image with more pixels than this is never decoded.
    media_max_pixels: int = Field(default=40_000_000, ge=1)
    media_thumbnail_px: int = Field(default=512, ge=16, le=4096)

    # Classifier.
    base_model: str | None = None
    torch_threads: int = Field(default=2, ge=1, le=256)
    # The team-written seed set (a JSONL file or a folder of them): retraining's base data, and its
    # test split is part of the promotion gate's held-out set.
    seed_data: Path = PROJECT_ROOT / "data" / "seed"
    # Promotion gate (classifier.gate): the most ROC-AUC any language or category may lose against
    # production, and the most the overall expected calibration error may grow.
    model_gate_margin: float = Field(default=0.01, ge=0.0, le=1.0)
    model_gate_calibration_margin: float = Field(default=0.02, ge=0.0, le=1.0)
    # Score drift (classifier.drift): a source or language whose recent scores of the production
    # model differ from its held-out reference by a PSI above this is flagged in the ML view, once it
    # has at least ``drift_min_count`` scores in the window (fewer make the PSI noise).
    drift_psi_alert: float = Field(default=0.2, gt=0.0, le=10.0)
    drift_min_count: int = Field(default=50, ge=1)
    # Active learning: decided labels wanted per category and language (one per near-duplicate
    # cluster; "legal" counts the negatives). The ML view shows how many each still needs, and the
    # queue's exploration share favours the short ones. Overrides by "category" or
    # "category:language" (the more specific wins), e.g. '{"extremism": 300, "extremism:kk": 200}'.
    label_target: int = Field(default=100, ge=0, le=1_000_000)
    label_target_overrides: dict[str, int] = Field(default_factory=dict)

    # Escalation.
    # Ed25519 private key (PEM) that signs evidence bundles; unset: generated into var_dir/keys on first use.
    evidence_signing_key_path: Path | None = None
    # Audit checkpoints: the chain's head (position, hash) signed now and then with this Ed25519 key
    # and appended to this JSON Lines file, both outside the database (unset: in var_dir), so a
    # rewritten chain no longer matches (triage_api.services.audit_checkpoints).
    audit_checkpoint_key_path: Path | None = None
    audit_checkpoint_file: Path | None = None
    # A WARC record bigger than this is not copied into a bundle (crawled sizes are never trusted).
    evidence_max_record_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Optional police endpoint: each new case is POSTed there, HMAC-SHA256 signed with the secret.
    police_webhook_url: str | None = None
    police_webhook_secret: SecretStr | None = None
    police_webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    police_webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    # Takedown tracking: how often a case's URL is re-checked, and when it counts as offline.
    takedown_check_interval_seconds: int = Field(default=6 * 3600, ge=1)
    takedown_check_timeout_seconds: float = Field(default=15.0, gt=0)
    takedown_offline_after_failures: int = Field(default=3, ge=1, le=100)
    # Period of the recurring escalation sweeps (pending webhooks, due takedown checks, source roll-up).
    escalation_sweep_seconds: int = Field(default=300, ge=1)
    # Source risk = illegal / (reviewed + prior weight): a handful of decisions cannot make a source risky.
    source_risk_prior_weight: float = Field(default=5.0, ge=0)
    # Recrawl interval = crawl_every_seconds / (1 + boost × risk), never below the minimum.
    source_risk_recrawl_boost: float = Field(default=9.0, ge=0)
    source_min_recrawl_seconds: int = Field(default=900, ge=1)
    # Outlinks of sources at least this risky, seen at least this often, become candidate sources.
    source_candidate_min_risk: float = Field(default=0.2, ge=0.0, le=1.0)
    source_candidate_min_links: int = Field(default=2, ge=1)

    # Triage.
    # Consensus: a task is decided when the leading answer (verdict, and category for "illegal")
    # reaches this many votes (or this much weight when votes are weighted by gold accuracy).
    triage_votes_needed: int = Field(default=2, ge=1, le=20)
    # Votes after which a task still undecided goes to a moderator (never below votes_needed).
    triage_max_votes: int = Field(default=2, ge=1, le=50)
    triage_unsure_to_moderator: bool = True
    triage_weight_by_accuracy: bool = False
    # With weighting, a vote weighs (smoothed gold accuracy / reference), clamped to [0.25, 1.5].
    triage_reference_accuracy: float = Field(default=0.8, gt=0.0, le=1.0)
    # Requests one API process works on at once; more wait, in order, on the event loop. The
    # work is CPU in one interpreter: past a few requests, more threads only take turns holding
    # the GIL (and each hold a row lock longer), so a small number gives more requests/s and
    # steadier latency. Below the 40 worker threads, so a commit always finds a free one.
    triage_max_in_flight: int = Field(default=8, ge=1, le=32)
    triage_lease_seconds: int = Field(default=600, ge=5, le=86_400)
    triage_lease_max_seconds: int = Field(default=3_600, ge=5, le=86_400)
    # A reviewer may take back their own vote this long after casting it, while the task is undecided.
    triage_vote_undo_seconds: int = Field(default=15, ge=0, le=600)
    # Share of claims served from exploration (below-threshold, uncertain) tasks, and from gold tasks.
    triage_exploration_share: float = Field(default=0.05, ge=0.0, le=1.0)
    triage_gold_share: float = Field(default=0.05, ge=0.0, le=1.0)
    # Priority (score x severity weight 1..4) gained per hour of waiting, so nothing starves.
    triage_aging_per_hour: float = Field(default=0.5, ge=0.0)
    triage_sync_batch_size: int = Field(default=1_000, ge=1, le=100_000)
    # How long the queue keeps which categories and languages are short of labels before counting
    # again (a scan of every decision, so not on every sync; 0: every sync).
    triage_label_shortage_refresh_seconds: int = Field(default=300, ge=0, le=86_400)
    # Authentication.
    triage_token_ttl_seconds: int = Field(default=12 * 3600, ge=60)
    triage_session_ttl_seconds: int = Field(default=12 * 3600, ge=60)
    triage_invite_ttl_hours: int = Field(default=72, ge=1, le=24 * 90)
    triage_cookie_secure: bool = True
    triage_session_cookie: str = "saqshy_session"
    triage_csrf_cookie: str = "saqshy_csrf"
    # The one minimum password length: the server checks it, the invitation page is told it.
    triage_password_min_chars: int = Field(default=12, ge=8, le=256)
    triage_login_max_failures: int = Field(default=5, ge=1, le=1_000)
    triage_login_window_seconds: int = Field(default=300, ge=1)
    triage_argon2_time_cost: int = Field(default=3, ge=1, le=20)
    triage_argon2_memory_kib: int = Field(default=64 * 1024, ge=8, le=4 * 1024 * 1024)
    triage_argon2_parallelism: int = Field(default=2, ge=1, le=64)

    @field_validator("retention_days")
    @classmethod
    def _retention_days(cls, value: dict[str, int]) -> dict[str, int]:
        if any(days < 0 or days > 36_500 for days in value.values()):
            raise ValueError("retention days must be between 0 (keep for ever) and 36500")
        return value

    @field_validator("label_target_overrides")
    @classmethod
    def _label_target_overrides(cls, value: dict[str, int]) -> dict[str, int]:
        # Imported here: the taxonomy and the language codes belong to the classifier package.
        from classifier.data import LANGS
        from classifier.taxonomy import load_taxonomy

        categories = {*load_taxonomy().names, "legal"}
        for key, target in value.items():
            category, _, language = key.partition(":")
            if category not in categories or (language and language not in LANGS):
                raise ValueError(f"label target {key!r}: write 'category' or 'category:language' with a category "
                                 f"of {', '.join(sorted(categories))} and a language of {', '.join(LANGS)}")
            if not 0 <= target <= 1_000_000:
                raise ValueError(f"label target {key!r} must be between 0 and 1000000")
        return value

    @field_validator("database_url", "elasticsearch_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("police_webhook_url", "evidence_signing_key_path", "audit_checkpoint_key_path",
                     "audit_checkpoint_file", mode="before")
    @classmethod
    def _escalation_blank_is_unset(cls, value: object) -> object:
        # Escalation: an empty env var means "not configured", like the service URLs above.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("crawler_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        return ",".join(str(network) for network in parse_networks(value))

    @property
    def address_policy(self) -> AddressPolicy:
        """Where outbound requests may go (``saqshy.netpolicy``)."""
        return AddressPolicy.of(self.crawler_allowed_networks)

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
    def production(self) -> bool:
        return self.env == "production"

    @property
    def scheduler_in_process(self) -> bool:
        return self.redis_url is None if self.run_scheduler is None else self.run_scheduler

    @property
    def evidence_dir(self) -> Path:
        return self.var_dir / "evidence"

    @property
    def datasets_dir(self) -> Path:
        """Training data exported from the reviews (classifier.dataset), with its split ledger."""
        return self.var_dir / "datasets"

    @property
    def media_dir(self) -> Path:
        """Re-encoded thumbnails, content-addressed by SHA-256 (the only media reviewers see)."""
        return self.var_dir / "media"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

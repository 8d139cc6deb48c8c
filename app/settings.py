"""Service settings: every knob of `pace serve`, read from ``PACE_*`` environment variables.

One object holds them all so the README table, the container defaults and the tests
describe the same thing. The server reads them once (:func:`get_settings`); tests build
their own :class:`ServiceSettings` and hand it to :func:`app.main.create_app`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]


class ServiceSettings(BaseSettings):
    """What the REST service allows and how it runs solves.

    Limits exist because one request can otherwise occupy a worker for hours or exhaust
    memory: the body size is checked before parsing, the problem size after, and every
    solve runs in a child process under a memory limit and a wall-clock deadline.
    """

    model_config = SettingsConfigDict(env_prefix="PACE_", extra="ignore")

    database_url: str = Field(
        "sqlite:///./pace.db",
        description="SQLAlchemy URL: a SQLite file (default) or postgresql+psycopg://user@host:5432/db",
    )
    host: str = Field("127.0.0.1", description="Interface `pace serve` listens on")
    port: int = Field(8000, ge=1, le=65535, description="Port `pace serve` listens on")
    workers: int = Field(2, ge=1, description="Job solves run at the same time, each in its own process")
    sync_workers: int = Field(2, ge=1, description="Synchronous solves (POST /v1/solve) run at the same time")
    max_time_limit: float = Field(3600.0, gt=0, description="Largest settings.time_limit a job may ask for (seconds)")
    sync_max_time_limit: float = Field(30.0, gt=0, description="POST /v1/solve caps the time limit at this (seconds)")
    max_body_bytes: int = Field(32 * 2**20, ge=1024, description="Largest request body accepted (bytes)")
    max_staff: int = Field(10_000, ge=1, description="Most staff in one problem")
    max_trials: int = Field(1_000, ge=1, description="Most trials in one problem")
    max_months: int = Field(120, ge=1, description="Longest horizon in months")
    job_memory_limit_mb: int = Field(4096, ge=0, description="Address-space limit of a solve process (MiB); 0: none")
    job_hang_grace_seconds: float = Field(
        60.0, gt=0, description="A solve still running this long after its time limit (or a cancel) is killed"
    )
    job_max_attempts: int = Field(
        3, ge=1, description="Runs a job gets when its solve process dies (crash, kill) or its server stops; then it fails"
    )
    job_lease_seconds: float = Field(
        30.0,
        ge=1,
        description="A running job's lease: its server renews it every few seconds; another server re-queues the job "
        "once it has expired (a dead server on the same machine is noticed at once)",
    )
    rate_limit_per_minute: int = Field(
        600, ge=0, description="Requests per minute each API key may make to /v1 (with keys only); 0: no limit"
    )
    rate_limit_burst: int = Field(60, ge=1, description="Requests a key may make at once before the per-minute rate applies")
    api_keys: CommaList = Field(
        default_factory=list,
        description="Comma-separated API keys, or sha256:<hex> of a key; empty: the service is open",
    )
    cors_origins: CommaList = Field(default_factory=list, description="Comma-separated origins allowed by CORS")
    dask_scheduler: str | None = Field(
        None, description="Run batch scenarios on this Dask cluster (tcp://host:8786) instead of as jobs of this server"
    )

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> ServiceSettings:
    """The process's settings, read from the environment once."""
    return ServiceSettings()

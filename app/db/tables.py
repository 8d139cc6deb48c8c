"""The service's tables: jobs, the problem each job solves, its plan and its progress series.

Problems and plans are stored as the JSON the API speaks (the engine's pydantic types
dumped as is), so what a client submitted and what it gets back are exactly what the
CLI reads and writes; the few columns the service filters or reports on are copied out
beside the JSON when it is written: the problem's name and objective kind on the job, the
plan's status, objective, gap and trials run on the plan. A job list or a poll then reads
these columns only, never parsing a body (a reference-size problem and plan are about
half a megabyte of JSON).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

#: Job states; ``queued`` and ``running`` are live, the other three are final.
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware.

    PostgreSQL keeps the zone; SQLite keeps none, so values are normalised to UTC going
    in and tagged as UTC coming out: the API then reports the same instant on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: timestamps must carry a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Job(Base):
    """One asynchronous solve. ``attempts`` counts the runs started; a run's writes carry its
    attempt number, so a run left over from a dead server can never overwrite a newer one.
    A running job is leased to one server, which renews the lease while the run lives."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    time_limit: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The server running the job (see :mod:`app.execution.lease`), while it is ``running``.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    #: Until when that server's heartbeat vouches for the run; past it, any server re-queues the job.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: The problem's name and objective kind, as the job list shows them (copied from the problem at submission).
    name: Mapped[str | None] = mapped_column(Text)
    objective_kind: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_jobs_state_created", "state", "created_at"),
        Index("ix_jobs_owner_created", "owner", "created_at"),
    )


class ProblemRecord(Base):
    __tablename__ = "problems"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    body: Mapped[str] = mapped_column(Text)


class PlanRecord(Base):
    __tablename__ = "plans"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    objective: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)
    trials_run: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProgressRecord(Base):
    """One observation of a running solve; the series of the job's latest attempt is reported."""

    __tablename__ = "job_progress"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    elapsed: Mapped[float] = mapped_column(Float)
    stage: Mapped[str] = mapped_column(String(64))
    incumbent: Mapped[float | None] = mapped_column(Float)
    bound: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)


class BatchRecord(Base):
    """A batch of what-if scenarios (``POST /v1/batches``), owned like a job by the API key that sent it."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: Where its scenarios run: ``jobs`` (the job queue) or ``dask`` (the service's Dask cluster).
    executor: Mapped[str] = mapped_column(String(16))

    __table_args__ = (Index("ix_batches_owner_created", "owner", "created_at"),)


class BatchScenarioRecord(Base):
    """One scenario of a batch. ``state`` is ``invalid`` (``errors`` says why), ``pending``
    (not yet handed over, or running on Dask), ``job`` (the job ``job_id`` runs it and has
    its state and plan), or ``succeeded``/``failed`` (run on Dask: ``plan`` or ``errors``).
    ``summary`` caches the plan's summary row and comparison figures once it has a plan."""

    __tablename__ = "batch_scenarios"

    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    errors: Mapped[str | None] = mapped_column(Text)
    problem: Mapped[str | None] = mapped_column(Text)
    plan: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)

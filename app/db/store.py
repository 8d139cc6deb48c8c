"""Every read and write the service makes on its database, in one place.

The API process, the supervisor thread and the solve processes share the database and
nothing else, so each state change is one conditional statement that says which state
it expects: a job is claimed only while ``queued`` (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, a single atomic ``UPDATE`` on SQLite), and a run may end a job only while it
is ``running`` under that run's attempt number. Two actors racing (a cancel and a
finishing solve, a supervisor and a solve it gave up on) therefore never both win.

A claimed job is leased to the claiming server (:mod:`app.execution.lease`): the server
renews the lease while it runs the job, and a job goes back to the queue only when its
lease has expired or its server is known dead, so servers sharing one database never
re-run each other's live jobs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, create_engine, event, false, func, or_, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, aliased, defer, sessionmaker

from app.db.tables import JOB_STATES, Job, PlanRecord, ProblemRecord, ProgressRecord, utcnow
from models.contract.plan import Plan
from models.solver.progress import Progress

#: How long a SQLite writer waits for another process's write lock before failing.
SQLITE_BUSY_SECONDS = 30.0
#: Seconds a claim holds a job for its server before the server must renew it.
DEFAULT_LEASE_SECONDS = 30.0
#: Values that end a job's lease (the job leaves ``running``).
_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


#: The databases the service runs on, as a URL names them.
SUPPORTED_URLS = "sqlite:///FILE or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"


class DatabaseUnusable(Exception):
    """The database cannot serve the service; the message is one line saying why (no traceback
    is more useful to an operator who mistyped a URL or whose database is down)."""


class DatabaseUrlInvalid(DatabaseUnusable, ValueError):
    """The URL names no database this service can use (unparsable, another kind, a driver not installed)."""


class DatabaseUnreachable(DatabaseUnusable):
    """The database named by the URL does not answer (down, refused, wrong credentials)."""


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``, tuned for several processes sharing one database.

    SQLite gets write-ahead logging (readers never wait for the writer) and a busy
    timeout (writers queue instead of failing); an in-memory SQLite database is refused
    because solve processes could not see it. Any URL but SQLite's and PostgreSQL's is
    refused with :class:`DatabaseUrlInvalid` before a driver is looked for.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlInvalid(f"not a database URL; give {SUPPORTED_URLS}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlInvalid(f"{backend} is not supported; give {SUPPORTED_URLS}")
    if backend == "postgresql":
        try:
            return create_engine(url, pool_pre_ping=True)
        except (ImportError, NoSuchModuleError):
            raise DatabaseUrlInvalid(f"driver {parsed.drivername} is not installed; give {SUPPORTED_URLS}") from None
    if parsed.database in (None, "", ":memory:"):
        raise DatabaseUrlInvalid("an in-memory SQLite database cannot be shared with solve processes; give a file path")
    Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


class JobStore:
    """The repository of jobs, problems, plans and progress.

    Every method opens and closes its own session, so one store is shared by the request
    threads and the supervisor; returned rows are detached and fully loaded.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> "JobStore":
        return cls(create_db_engine(url))

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Raise unless the database answers a query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def require_reachable(self) -> None:
        """:class:`DatabaseUnreachable`, with the driver's own first line, unless the database answers."""
        try:
            self.ping()
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            where = self.engine.url.render_as_string(hide_password=True)
            raise DatabaseUnreachable(f"{where} does not answer: {reason}") from None

    # --- the API's side -------------------------------------------------------------

    def submit(
        self, owner: str, problem_json: str, time_limit: float, *, name: str | None = None, objective_kind: str | None = None
    ) -> Job:
        """Store a new queued job and its problem in one transaction. ``name`` and
        ``objective_kind`` are the problem's, kept on the job so that listing it never
        parses the problem's JSON."""
        job = Job(
            id=str(uuid.uuid4()),
            owner=owner,
            state="queued",
            created_at=utcnow(),
            time_limit=time_limit,
            cancel_requested=False,
            attempts=0,
            name=name,
            objective_kind=objective_kind,
        )
        with self._sessions.begin() as session:
            session.add(job)
            session.flush()
            session.add(ProblemRecord(job_id=job.id, body=problem_json))
        return job

    def get(self, job_id: str, owner: str | None) -> Job | None:
        """The job, or None if unknown or (with ``owner``) someone else's."""
        with self._sessions() as session:
            job = session.get(Job, job_id)
            if job is None or (owner is not None and job.owner != owner):
                return None
            return job

    def page(self, owner: str, limit: int, offset: int, state: str | None = None) -> tuple[list[Job], int]:
        """One page of the owner's jobs, newest first, and how many there are in all."""
        where = [Job.owner == owner] + ([Job.state == state] if state is not None else [])
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
            rows = session.scalars(
                select(Job).where(*where).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
            ).all()
            return list(rows), total

    def progress(self, job_id: str, attempt: int, limit: int = 1000) -> list[ProgressRecord]:
        """The run's progress series, oldest first: its latest ``limit`` observations."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ProgressRecord)
                .where(ProgressRecord.job_id == job_id, ProgressRecord.attempt == attempt)
                .order_by(ProgressRecord.seq.desc())
                .limit(limit)
            ).all()
            return list(reversed(rows))

    def plan(self, job_id: str) -> PlanRecord | None:
        with self._sessions() as session:
            return session.get(PlanRecord, job_id)

    def plan_headlines(self, job_ids: Iterable[str]) -> dict[str, PlanRecord]:
        """The stored plans of these jobs (those that have one) in one query, without their
        bodies: a page of jobs shows only the columns copied out of each plan, and a body
        is up to megabytes (reading ``body`` off a returned record raises)."""
        ids = list(job_ids)
        with self._sessions() as session:
            plans = session.scalars(select(PlanRecord).where(PlanRecord.job_id.in_(ids)).options(defer(PlanRecord.body, raiseload=True)))
            return {plan.job_id: plan for plan in plans}

    def cancel(self, job_id: str, owner: str) -> Job | None:
        """Cancel a job: a queued one ends now; a running one is asked to stop.

        Returns the job as it is afterwards (None if unknown or foreign); a job already
        finished is returned unchanged.
        """
        with self._sessions.begin() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.owner == owner, Job.state == "queued")
                .values(state="cancelled", cancel_requested=True, finished_at=utcnow())
            )
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.owner == owner, Job.state == "running")
                .values(cancel_requested=True)
            )
        return self.get(job_id, owner)

    def counts_by_state(self) -> dict[str, int]:
        """Jobs per state, every state present (zero when none)."""
        with self._sessions() as session:
            rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
        counts = dict.fromkeys(JOB_STATES, 0)
        counts.update({state: n for state, n in rows})
        return counts

    # --- the supervisor's side ------------------------------------------------------

    def claim_next(self, server: str | None = None, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Job | None:
        """Move the oldest queued job to ``running``, leased to ``server``, and return it (None if none is queued).

        A claim without a server name holds no lease: any server may re-queue the job.
        """
        queued = aliased(Job)
        oldest = (
            select(queued.id)
            .where(queued.state == "queued")
            .order_by(queued.created_at, queued.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        now = utcnow()
        with self._sessions.begin() as session:
            claimed = session.scalars(
                update(Job)
                .where(Job.id == oldest, Job.state == "queued")
                .values(
                    state="running",
                    started_at=now,
                    attempts=Job.attempts + 1,
                    lease_owner=server,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                )
                .returning(Job.id)
            ).first()
        return None if claimed is None else self.get(claimed, None)

    def renew(self, server: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> int:
        """The server's heartbeat: extend the lease of every job it runs; returns how many."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(Job)
                .where(Job.state == "running", Job.lease_owner == server)
                .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            )
            return result.rowcount

    def requeue_abandoned(
        self, server: str | None, is_dead: Callable[[str], bool] = lambda _owner: False, max_attempts: int | None = None
    ) -> int:
        """Re-queue the running jobs no live server vouches for; returns how many went back to the queue.

        A job is abandoned when its lease has expired, it holds none, or ``is_dead`` says its
        server is gone; ``server``'s own jobs are never abandoned (it renews them itself). An
        abandoned job whose cancel was asked is cancelled; one that has used ``max_attempts``
        runs fails; the others go back to the queue.
        """
        now = utcnow()
        with self._sessions.begin() as session:
            foreign = Job.lease_owner.is_(None) if server is None else or_(Job.lease_owner.is_(None), Job.lease_owner != server)
            owners = session.scalars(
                select(Job.lease_owner).where(Job.state == "running", foreign, Job.lease_owner.is_not(None)).distinct()
            ).all()
            dead = [owner for owner in owners if owner is not None and is_dead(owner)]
            abandoned = and_(
                Job.state == "running",
                foreign,
                or_(
                    Job.lease_owner.is_(None),
                    Job.lease_expires_at.is_(None),
                    Job.lease_expires_at < now,
                    Job.lease_owner.in_(dead) if dead else false(),
                ),
            )
            session.execute(
                update(Job)
                .where(abandoned, Job.cancel_requested)
                .values(state="cancelled", finished_at=now, error="cancelled while its server was down", **_NO_LEASE)
            )
            if max_attempts is not None:
                session.execute(
                    update(Job)
                    .where(abandoned, Job.attempts >= max_attempts)
                    .values(
                        state="failed",
                        finished_at=now,
                        error=f"its server stopped during each of its runs; gave up after {max_attempts} attempts",
                        **_NO_LEASE,
                    )
                )
            result = session.execute(
                update(Job).where(abandoned).values(state="queued", error="its server stopped during the run; re-queued", **_NO_LEASE)
            )
            return result.rowcount

    def requeue(self, job_id: str, attempt: int, reason: str | None = None) -> bool:
        """Give a run back to the queue (its server is stopping, or its process died and the job
        has attempts left); ``reason`` says why, until a later run ends the job."""
        values: dict[str, Any] = {"state": "queued"}
        if reason is not None:
            values["error"] = reason
        return self._transition(job_id, attempt, **values)

    def fail(self, job_id: str, attempt: int, reason: str) -> bool:
        return self._transition(job_id, attempt, state="failed", error=reason, finished_at=utcnow())

    def cancelled_without_plan(self, job_id: str, attempt: int, reason: str) -> bool:
        return self._transition(job_id, attempt, state="cancelled", error=reason, finished_at=utcnow())

    def cancel_requested(self, job_ids: Iterable[str]) -> set[str]:
        ids = list(job_ids)
        if not ids:
            return set()
        with self._sessions() as session:
            return set(session.scalars(select(Job.id).where(Job.id.in_(ids), Job.cancel_requested)).all())

    # --- the solve process's side ---------------------------------------------------

    def problem_json(self, job_id: str) -> str:
        with self._sessions() as session:
            record = session.get(ProblemRecord, job_id)
            if record is None:
                raise LookupError(f"job {job_id} has no stored problem")
            return record.body

    def add_progress(self, job_id: str, attempt: int, seq: int, progress: Progress) -> None:
        with self._sessions.begin() as session:
            session.add(
                ProgressRecord(
                    job_id=job_id,
                    attempt=attempt,
                    seq=seq,
                    elapsed=progress.elapsed,
                    stage=progress.stage[:64],
                    incumbent=progress.incumbent,
                    bound=progress.bound,
                    gap=progress.gap,
                )
            )

    def should_stop(self, job_id: str, attempt: int) -> bool:
        """True once the run should stop: a cancel was asked, or the run is no longer current."""
        with self._sessions() as session:
            job = session.get(Job, job_id)
            return job is None or job.cancel_requested or job.state != "running" or job.attempts != attempt

    def finish(self, job_id: str, attempt: int, plan: Plan, state: str) -> bool:
        """End a run with its plan (``succeeded``, or ``cancelled`` keeping the best plan).

        The plan is written only if the run is still current, in the same transaction
        as the state change. Returns whether it was.
        """
        with self._sessions.begin() as session:
            ended = self._transition_in(
                session, job_id, attempt, state=state, finished_at=utcnow(), error=None
            )
            if ended:
                session.add(
                    PlanRecord(
                        job_id=job_id,
                        body=plan.model_dump_json(),
                        status=plan.status,
                        objective=plan.objective,
                        gap=plan.gap,
                        trials_run=plan.kpis.trials_run,
                        created_at=utcnow(),
                    )
                )
            return ended

    def _transition(self, job_id: str, attempt: int, **values: Any) -> bool:
        with self._sessions.begin() as session:
            return self._transition_in(session, job_id, attempt, **values)

    @staticmethod
    def _transition_in(session: Session, job_id: str, attempt: int, **values: Any) -> bool:
        """Move the job out of ``running`` (ending its lease) if ``attempt`` is still its current run."""
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == "running", Job.attempts == attempt)
            .values(**_NO_LEASE, **values)
        )
        return result.rowcount == 1

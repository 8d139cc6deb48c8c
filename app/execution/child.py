"""What runs inside a solve process (one process per solve, started with ``spawn``).

A solve is CPU- and memory-hungry C code (HiGHS) that may crash, run out of memory or
overrun its time limit; in its own process it can do all three without harming the
server. Before anything else the process confines itself: it dies with the server
(Linux ``PR_SET_PDEATHSIG``, so a killed server leaves no solve behind writing to the
database), ignores Ctrl-C (the supervisor decides when it ends), runs at a lower CPU
priority (so the API keeps answering while every core solves) and caps its address space.

A job process talks to the database directly: it loads its problem, writes progress,
polls for a cancel and stores its plan; a database that stops answering loses progress
rows only, and the outcome is stored once it answers again (until the supervisor's hang
guard ends the wait). A synchronous solve gets its problem and returns its plan through a
pipe. Exit codes tell the parent what went wrong when no result came. Either way the
solve uses at most as many HiGHS threads as the process may use cores: a problem asking
for more (``threads: 1000``) would only reserve stacks for threads that cannot run, and
under the address-space limit that alone aborts HiGHS.
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.db.store import JobStore
from models.solver.progress import Progress

if TYPE_CHECKING:
    from models.contract.problem import Problem
    from models.solver.settings import EngineSettings

#: The solve raised MemoryError: it hit its address-space limit.
EXIT_OUT_OF_MEMORY = 70
#: The solve raised something else; the traceback is in the server's log.
EXIT_ERROR = 71
#: The server was gone before the solve could start.
EXIT_ORPHANED = 72

#: Added to the solve process's nice value: the API process stays first in line for a core.
NICENESS = 10
#: Seconds between two progress rows of the same stage.
POLL_SECONDS = 1.0
#: Seconds between two looks at the database for a cancel.
CANCEL_POLL_SECONDS = 0.25
#: Seconds between two tries to store a run's outcome while the database does not answer.
OUTCOME_RETRY_SECONDS = 1.0

_PR_SET_PDEATHSIG = 1
_M_ARENA_MAX = -8
#: glibc reserves 64 MiB of address space per malloc arena, one per thread by default:
#: with HiGHS threads on a many-core machine that alone could breach the memory limit.
_MALLOC_ARENAS = 4
log = logging.getLogger("pace.solve")


@dataclass(frozen=True)
class Limits:
    memory_limit_mb: int
    parent_pid: int


@dataclass(frozen=True)
class JobTask:
    job_id: str
    attempt: int
    database_url: str
    time_limit: float
    limits: Limits


def confine(limits: Limits) -> None:
    """Tie this process to the server and bound what it may take from the machine."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if hasattr(libc, "mallopt"):
            libc.mallopt(_M_ARENA_MAX, _MALLOC_ARENAS)
    if os.getppid() != limits.parent_pid:
        os._exit(EXIT_ORPHANED)
    os.nice(NICENESS)
    if limits.memory_limit_mb > 0:
        size = limits.memory_limit_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (size, size))


def run_job(task: JobTask) -> None:
    """Process entry point of one job run; exits 0 once the run's outcome is stored."""
    confine(task.limits)
    store: JobStore | None = None
    try:
        store = JobStore.from_url(task.database_url)
        _solve_job(store, task)
    except MemoryError:
        os._exit(EXIT_OUT_OF_MEMORY)
    except Exception as exc:  # noqa: BLE001 - any failure of the solve becomes the job's reason
        log.exception("job %s: the solve failed", task.job_id)
        if store is not None:
            try:
                store.fail(task.job_id, task.attempt, f"the solve failed: {type(exc).__name__}: {exc}"[:500])
            except SQLAlchemyError:
                log.exception("job %s: could not record the failure", task.job_id)
        os._exit(EXIT_ERROR)
    finally:
        if store is not None:
            store.dispose()


def cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def engine_settings(problem: "Problem", time_limit: float) -> "EngineSettings":
    """The engine's settings for ``problem`` in a service solve: the applied time limit, and
    at most as many HiGHS threads as there are cores."""
    from models.solver.settings import EngineSettings

    settings = replace(EngineSettings.from_problem(problem.settings), time_limit=time_limit)
    if settings.threads is not None and settings.threads > cores():
        settings = replace(settings, threads=cores())
    return settings


T = TypeVar("T")


def persist(write: Callable[[], T], what: str) -> T:
    """Run a database write, retrying while the database is unreachable (never giving up:
    the supervisor's hang guard bounds the wait)."""
    warned = False
    while True:
        try:
            return write()
        except DBAPIError as exc:
            if not exc.connection_invalidated and not _unreachable(exc):
                raise
            if not warned:
                log.warning("%s: the database does not answer; retrying every %g s", what, OUTCOME_RETRY_SECONDS)
                warned = True
            time.sleep(OUTCOME_RETRY_SECONDS)


def _unreachable(exc: DBAPIError) -> bool:
    """A connection-level failure (server down, connection lost), not a failed statement."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError))


def _solve_job(store: JobStore, task: JobTask) -> None:
    from models.pipeline import solve
    from models.contract.validation import parse_problem

    job, attempt = task.job_id, task.attempt
    problem = parse_problem(persist(lambda: store.problem_json(job), f"job {job}"))
    stop = StopPoller(store, job, attempt)
    if stop.asked_now():
        persist(lambda: store.cancelled_without_plan(job, attempt, "cancelled before the solve started"), f"job {job}")
        return
    plan = solve(problem, engine_settings(problem, task.time_limit), progress=ProgressWriter(store, job, attempt), stop=stop)
    if plan.status == "error":
        persist(lambda: store.fail(job, attempt, f"the engine reported an error: {plan.message}"[:500]), f"job {job}")
    elif not stop.stopped:
        persist(lambda: store.finish(job, attempt, plan, "succeeded"), f"job {job}")
    elif plan.status in ("optimal", "feasible"):
        persist(lambda: store.finish(job, attempt, plan, "cancelled"), f"job {job}")
    else:
        persist(lambda: store.cancelled_without_plan(job, attempt, "cancelled before any plan was found"), f"job {job}")


class ProgressWriter:
    """Stores the engine's progress reports: one row per new stage, else one per second at most.

    Progress is informative only, so a database hiccup loses a row, never the solve (and is
    logged once, not once a row).
    """

    def __init__(self, store: JobStore, job_id: str, attempt: int) -> None:
        self._store = store
        self._job_id = job_id
        self._attempt = attempt
        self._seq = 0
        self._stage: str | None = None
        self._last = float("-inf")
        self._lock = threading.Lock()
        self._failing = False

    def __call__(self, progress: Progress) -> None:
        with self._lock:
            now = time.monotonic()
            if progress.stage == self._stage and now - self._last < POLL_SECONDS:
                return
            self._stage, self._last = progress.stage, now
            try:
                self._store.add_progress(self._job_id, self._attempt, self._seq, progress)
                self._seq += 1
                self._failing = False
            except SQLAlchemyError:
                if not self._failing:
                    log.warning("job %s: progress rows lost while the database does not answer", self._job_id, exc_info=True)
                self._failing = True


class StopPoller:
    """The engine's stop flag: asks the database at most every ``CANCEL_POLL_SECONDS`` whether to stop.

    It says stop once a cancel is asked or once this run is no longer the job's current
    run (the job was re-queued); ``stopped`` remembers that it did. While the database
    does not answer, the solve goes on (logged once).
    """

    def __init__(self, store: JobStore, job_id: str, attempt: int) -> None:
        self._store = store
        self._job_id = job_id
        self._attempt = attempt
        self._last = float("-inf")
        self._failing = False
        self.stopped = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.stopped or now - self._last < CANCEL_POLL_SECONDS:
            return self.stopped
        return self.asked_now()

    def asked_now(self) -> bool:
        """Ask the database now."""
        self._last = time.monotonic()
        try:
            self.stopped = self._store.should_stop(self._job_id, self._attempt)
            self._failing = False
        except SQLAlchemyError:
            if not self._failing:
                log.warning("job %s: could not poll for a cancel", self._job_id, exc_info=True)
            self._failing = True
        return self.stopped


def run_solve(conn: Connection, problem_json: str, time_limit: float, limits: Limits) -> None:
    """Process entry point of one synchronous solve: the plan's JSON goes back through ``conn``."""
    confine(limits)
    try:
        from models.pipeline import solve
        from models.contract.validation import parse_problem

        problem = parse_problem(problem_json)
        conn.send_bytes(solve(problem, engine_settings(problem, time_limit)).model_dump_json().encode())
    except MemoryError:
        os._exit(EXIT_OUT_OF_MEMORY)
    except Exception:  # noqa: BLE001 - reported to the client as a failed solve, logged here
        log.exception("synchronous solve failed")
        os._exit(EXIT_ERROR)
    finally:
        conn.close()

"""What runs inside a solve process (one process per solve, started with ``spawn``).

A solve is CPU- and memory-hungry C code (HiGHS) that may crash, run out of memory or
overrun its time limit; in its own process it can do all three without harming the
server. Before anything else the process confines itself: it dies with the server
(Linux ``PR_SET_PDEATHSIG``, so a killed server leaves no solve behind writing to the
database), ignores Ctrl-C (the supervisor decides when it ends), runs at a lower CPU
priority (so the API keeps answering while every core solves) and caps its address space.

A job process talks to the database directly: it loads its problem, writes progress,
polls for a cancel and stores its plan. A synchronous solve gets its problem and returns
its plan through a pipe. Exit codes tell the parent what went wrong when no result came.
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
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection

from sqlalchemy.exc import SQLAlchemyError

from app.db.store import JobStore
from models.solver.progress import Progress

#: The solve raised MemoryError: it hit its address-space limit.
EXIT_OUT_OF_MEMORY = 70
#: The solve raised something else; the traceback is in the server's log.
EXIT_ERROR = 71
#: The server was gone before the solve could start.
EXIT_ORPHANED = 72

#: Added to the solve process's nice value: the API process stays first in line for a core.
NICENESS = 10
#: Seconds between two progress rows of the same stage, and between two cancel polls.
POLL_SECONDS = 1.0

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


def _solve_job(store: JobStore, task: JobTask) -> None:
    from models.pipeline import solve
    from models.contract.validation import parse_problem
    from models.solver.settings import EngineSettings

    problem = parse_problem(store.problem_json(task.job_id))
    settings = replace(EngineSettings.from_problem(problem.settings), time_limit=task.time_limit)
    stop = StopPoller(store, task.job_id, task.attempt)
    plan = solve(problem, settings, progress=ProgressWriter(store, task.job_id, task.attempt), stop=stop)
    if plan.status == "error":
        store.fail(task.job_id, task.attempt, f"the engine reported an error: {plan.message}"[:500])
    elif not stop.stopped:
        store.finish(task.job_id, task.attempt, plan, "succeeded")
    elif plan.status in ("optimal", "feasible"):
        store.finish(task.job_id, task.attempt, plan, "cancelled")
    else:
        store.cancelled_without_plan(task.job_id, task.attempt, "cancelled before any plan was found")


class ProgressWriter:
    """Stores the engine's progress reports: one row per new stage, else one per second at most.

    Progress is informative only, so a database hiccup loses a row, never the solve.
    """

    def __init__(self, store: JobStore, job_id: str, attempt: int) -> None:
        self._store = store
        self._job_id = job_id
        self._attempt = attempt
        self._seq = 0
        self._stage: str | None = None
        self._last = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, progress: Progress) -> None:
        with self._lock:
            now = time.monotonic()
            if progress.stage == self._stage and now - self._last < POLL_SECONDS:
                return
            self._stage, self._last = progress.stage, now
            try:
                self._store.add_progress(self._job_id, self._attempt, self._seq, progress)
                self._seq += 1
            except SQLAlchemyError:
                log.warning("job %s: progress row lost", self._job_id, exc_info=True)


class StopPoller:
    """The engine's stop flag: asks the database at most once a second whether to stop.

    It says stop once a cancel is asked or once this run is no longer the job's current
    run (the job was re-queued by a newer server); ``stopped`` remembers that it did.
    """

    def __init__(self, store: JobStore, job_id: str, attempt: int) -> None:
        self._store = store
        self._job_id = job_id
        self._attempt = attempt
        self._last = float("-inf")
        self.stopped = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.stopped or now - self._last < POLL_SECONDS:
            return self.stopped
        self._last = now
        try:
            self.stopped = self._store.should_stop(self._job_id, self._attempt)
        except SQLAlchemyError:
            log.warning("job %s: could not poll for a cancel", self._job_id, exc_info=True)
        return self.stopped


def run_solve(conn: Connection, problem_json: str, time_limit: float, limits: Limits) -> None:
    """Process entry point of one synchronous solve: the plan's JSON goes back through ``conn``."""
    confine(limits)
    try:
        from models.pipeline import solve
        from models.contract.validation import parse_problem
        from models.solver.settings import EngineSettings

        problem = parse_problem(problem_json)
        settings = replace(EngineSettings.from_problem(problem.settings), time_limit=time_limit)
        conn.send_bytes(solve(problem, settings).model_dump_json().encode())
    except MemoryError:
        os._exit(EXIT_OUT_OF_MEMORY)
    except Exception:  # noqa: BLE001 - reported to the client as a failed solve, logged here
        log.exception("synchronous solve failed")
        os._exit(EXIT_ERROR)
    finally:
        conn.close()

"""The job supervisor: claims queued jobs and runs each in its own solve process.

It lives in one background thread of the server, so nothing it does (starting
processes, waiting on them, database round trips) ever runs on the event loop. Its loop:

1. reap the solve processes that ended; one that ended without storing its outcome marks
   its job ``failed`` with the reason read from its exit code (crash, memory limit), or
   with the reason it was killed for;
2. kill the runs that overran their time limit by more than the grace period (a hang),
   and the ones that did not stop within the grace period after a cancel;
3. claim queued jobs while fewer than ``workers`` run;
4. sleep until a process ends, a job is submitted (:meth:`Supervisor.wake`) or a second
   passes (the deadlines and cancels of step 2 are checked at that pace).

On start it re-queues the jobs a dead server left ``running``; on a clean stop it kills
its runs and re-queues their jobs, so nothing accepted is ever lost.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from app.db.store import JobStore
from app.execution.child import JobTask, Limits, run_job
from app.execution.outcome import failure_reason
from app.settings import ServiceSettings

log = logging.getLogger("pace.supervisor")

#: Seconds between two looks at the queue when nothing wakes the supervisor.
POLL_SECONDS = 1.0

#: Called with (job id, final state, seconds the run took) whenever a run ends.
RunEnded = Callable[[str, str, float], None]

SPAWN = multiprocessing.get_context("spawn")


@dataclass
class _Run:
    job_id: str
    attempt: int
    process: BaseProcess
    started: float
    deadline: float
    cancel_deadline: float | None = None
    #: (final state, reason) once the supervisor has killed the process itself.
    verdict: tuple[str, str] | None = None


class Supervisor:
    """Runs queued jobs, at most ``settings.workers`` at once, each in a solve process."""

    def __init__(self, store: JobStore, settings: ServiceSettings, on_run_ended: RunEnded | None = None) -> None:
        self._store = store
        self._settings = settings
        self._on_run_ended = on_run_ended
        self._runs: dict[str, _Run] = {}
        self._stopping = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._wake_lock = threading.Lock()
        self._wake_closed = False
        self._thread = threading.Thread(target=self._loop, name="pace-supervisor", daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def running(self) -> int:
        return len(self._runs)

    def start(self) -> None:
        requeued = self._store.requeue_running()
        if requeued:
            log.info("re-queued %d job(s) left running by a previous server", requeued)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, kill the runs and give their jobs back to the queue."""
        self._stopping.set()
        self.wake()
        self._thread.join(timeout)
        with self._wake_lock:
            os.close(self._wake_read)
            os.close(self._wake_write)
            self._wake_closed = True

    def wake(self) -> None:
        """Look at the queue now (a job was submitted) instead of at the next poll."""
        with self._wake_lock:
            if self._wake_closed:
                return
            try:
                os.write(self._wake_write, b"!")
            except BlockingIOError:
                pass  # the pipe is full: a wake-up is pending already

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._reap()
                self._enforce()
                self._fill()
            except Exception:  # noqa: BLE001 - e.g. the database is briefly unreachable: retry next tick
                log.exception("supervisor iteration failed; retrying")
            self._sleep()
        self._shutdown()

    def _sleep(self) -> None:
        ready = wait([run.process.sentinel for run in self._runs.values()] + [self._wake_read], timeout=POLL_SECONDS)
        if self._wake_read in ready:
            try:
                os.read(self._wake_read, 4096)
            except BlockingIOError:
                pass

    def _reap(self) -> None:
        """Store the outcome of every run whose process ended, then forget it.

        A run is forgotten only once its outcome is stored: after a database error it
        stays, and the next tick tries again.
        """
        for run in [r for r in self._runs.values() if r.process.exitcode is not None]:
            run.process.join()
            state, reason = run.verdict or ("failed", failure_reason(run.process.exitcode, self._settings.job_memory_limit_mb))
            end = self._store.fail if state == "failed" else self._store.cancelled_without_plan
            if end(run.job_id, run.attempt, reason):
                log.warning("job %s %s: %s", run.job_id, state, reason)
            del self._runs[run.job_id]
            if self._on_run_ended is not None:
                job = self._store.get(run.job_id, None)
                if job is not None:
                    self._on_run_ended(job.id, job.state, time.monotonic() - run.started)

    def _enforce(self) -> None:
        """Kill the runs past their time limit + grace, or past a cancel + grace (a hang)."""
        if not self._runs:
            return
        now = time.monotonic()
        grace = self._settings.job_hang_grace_seconds
        asked = self._store.cancel_requested(r.job_id for r in self._runs.values() if r.cancel_deadline is None)
        for job_id in asked:
            self._runs[job_id].cancel_deadline = now + grace
        for run in self._runs.values():
            if run.verdict is not None:
                continue
            if now > run.deadline:
                limit = run.deadline - run.started - grace
                run.verdict = ("failed", f"the solve overran its time limit of {limit:g} s by more than {grace:g} s and was stopped")
            elif run.cancel_deadline is not None and now > run.cancel_deadline:
                run.verdict = ("cancelled", f"the solve did not stop within {grace:g} s of the cancel and was killed")
            else:
                continue
            run.process.kill()

    def _fill(self) -> None:
        while len(self._runs) < self._settings.workers and not self._stopping.is_set():
            job = self._store.claim_next()
            if job is None:
                return
            task = JobTask(
                job_id=job.id,
                attempt=job.attempts,
                database_url=self._settings.database_url,
                time_limit=job.time_limit,
                limits=Limits(self._settings.job_memory_limit_mb, os.getpid()),
            )
            process = SPAWN.Process(target=run_job, args=(task,), name=f"pace-job-{job.id[:8]}", daemon=True)
            try:
                process.start()
            except OSError as exc:
                log.exception("could not start a solve process for job %s", job.id)
                self._store.fail(job.id, job.attempts, f"could not start a solve process: {exc.strerror}")
                continue
            started = time.monotonic()
            deadline = started + job.time_limit + self._settings.job_hang_grace_seconds
            self._runs[job.id] = _Run(job.id, job.attempts, process, started, deadline)
            log.info("job %s: run %d started (pid %s)", job.id, job.attempts, process.pid)

    def _shutdown(self) -> None:
        for run in list(self._runs.values()):
            run.process.kill()
            run.process.join()
            try:
                self._store.requeue(run.job_id, run.attempt)
            except Exception:  # noqa: BLE001 - the next start re-queues it anyway
                log.exception("job %s: could not re-queue on shutdown", run.job_id)

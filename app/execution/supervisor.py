"""The job supervisor: claims queued jobs and runs each in its own solve process.

It lives in one background thread of the server, so nothing it does (starting
processes, waiting on them, database round trips) ever runs on the event loop. Its loop:

1. reap the solve processes that ended. One that ended without storing its outcome
   because it died (a crash, a kill from outside) gives its job back to the queue while
   the job has attempts left (``job_max_attempts``), else fails it with the reason read
   from its exit code; a run that ran out of memory, or that the supervisor killed itself
   (a hang), fails its job at once with that reason;
2. kill the runs that overran their time limit by more than the grace period (a hang),
   and the ones that did not stop within the grace period after a cancel;
3. every few seconds, renew the leases of the jobs this server runs (its heartbeat) and
   re-queue the running jobs no live server vouches for (lease expired, or their server
   on this machine is dead: see :mod:`app.execution.lease`);
4. claim queued jobs while fewer than ``workers`` run;
5. sleep until a process ends, a job is submitted (:meth:`Supervisor.wake`) or a second
   passes (the deadlines and cancels of step 2 are checked at that pace).

On start it re-queues the jobs a dead server left ``running``; on a clean stop it kills
its runs and re-queues their jobs, so nothing accepted is ever lost. A database that does
not answer makes a tick fail; the next tick tries again (logged once per outage).
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
from app.execution import lease
from app.execution.child import JobTask, Limits, run_job
from app.execution.outcome import failure_reason, retryable
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
        #: This server's name on the leases of the jobs it runs.
        self.name = lease.server_name()
        #: Runs by (job id, attempt): a job re-queued elsewhere may run here again while its
        #: earlier run is still stopping, and both processes must be reaped.
        self._runs: dict[tuple[str, int], _Run] = {}
        self._heartbeat_due = 0.0
        self._failing_since: float | None = None
        self._failure_logged = 0.0
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
        requeued = self._store.requeue_abandoned(self.name, lease.is_dead, self._settings.job_max_attempts)
        if requeued:
            log.info("re-queued %d job(s) left running by a server that stopped", requeued)
        self._heartbeat_due = time.monotonic() + self._heartbeat_seconds
        self._thread.start()

    @property
    def _heartbeat_seconds(self) -> float:
        return max(0.5, self._settings.job_lease_seconds / 6)

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
                self._heartbeat()
                self._fill()
            except Exception:  # noqa: BLE001 - e.g. the database is briefly unreachable: retry next tick
                self._tick_failed()
            else:
                if self._failing_since is not None:
                    log.warning("supervisor recovered after %.0f s of failing ticks", time.monotonic() - self._failing_since)
                    self._failing_since = None
            self._sleep()
        self._shutdown()

    def _tick_failed(self) -> None:
        """Log a failing tick with its traceback once, then a line every 30 s while it lasts."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = self._failure_logged = now
            log.exception("supervisor iteration failed; retrying every %g s", POLL_SECONDS)
        elif now - self._failure_logged >= 30:
            self._failure_logged = now
            log.warning("supervisor iterations still failing after %.0f s", now - self._failing_since, exc_info=True)

    def _heartbeat(self) -> None:
        """Renew this server's leases and re-queue the jobs of servers that stopped, every few seconds."""
        now = time.monotonic()
        if now < self._heartbeat_due:
            return
        self._store.renew(self.name, self._settings.job_lease_seconds)
        requeued = self._store.requeue_abandoned(self.name, lease.is_dead, self._settings.job_max_attempts)
        if requeued:
            log.warning("re-queued %d job(s) whose server stopped", requeued)
            self.wake()
        self._heartbeat_due = now + self._heartbeat_seconds

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
        for key, run in [(k, r) for k, r in self._runs.items() if r.process.exitcode is not None]:
            run.process.join()
            exitcode = run.process.exitcode
            if run.verdict is not None:
                state, reason = run.verdict
                ended = (self._store.fail if state == "failed" else self._store.cancelled_without_plan)(run.job_id, run.attempt, reason)
            else:
                state, reason = "failed", failure_reason(exitcode, self._settings.job_memory_limit_mb)
                if retryable(exitcode) and run.attempt < self._settings.job_max_attempts:
                    state, reason = "queued", f"run {run.attempt} ended: {reason}; re-queued"
                    ended = self._store.requeue(run.job_id, run.attempt, reason)
                else:
                    if retryable(exitcode) and run.attempt > 1:
                        reason = f"{reason}; gave up after {run.attempt} attempts"
                    ended = self._store.fail(run.job_id, run.attempt, reason)
            if ended:
                log.warning("job %s run %d %s: %s", run.job_id, run.attempt, state, reason)
            del self._runs[key]
            if state == "queued":
                self.wake()
            elif self._on_run_ended is not None:
                job = self._store.get(run.job_id, None)
                if job is not None and job.attempts == run.attempt:
                    self._on_run_ended(job.id, job.state, time.monotonic() - run.started)

    def _enforce(self) -> None:
        """Kill the runs past their time limit + grace, or past a cancel + grace (a hang)."""
        if not self._runs:
            return
        now = time.monotonic()
        grace = self._settings.job_hang_grace_seconds
        asked = self._store.cancel_requested({r.job_id for r in self._runs.values() if r.cancel_deadline is None})
        for run in self._runs.values():
            if run.job_id in asked and run.cancel_deadline is None:
                run.cancel_deadline = now + grace
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
            job = self._store.claim_next(self.name, self._settings.job_lease_seconds)
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
            self._runs[(job.id, job.attempts)] = _Run(job.id, job.attempts, process, started, deadline)
            log.info("job %s: run %d started (pid %s)", job.id, job.attempts, process.pid)

    def _shutdown(self) -> None:
        for run in list(self._runs.values()):
            run.process.kill()
            run.process.join()
            try:
                self._store.requeue(run.job_id, run.attempt)
            except Exception:  # noqa: BLE001 - the next start re-queues it anyway
                log.exception("job %s: could not re-queue on shutdown", run.job_id)

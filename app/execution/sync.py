"""Synchronous solves (POST /v1/solve): one solve process per request, a few at a time.

The request waits for the plan, but the solve still runs in its own process, with the
same memory limit and hang guard as a job, so a crash answers that one request with an
error and nothing else. Requests beyond ``sync_workers`` wait for a free slot on the
event loop, holding no thread.
"""

from __future__ import annotations

import os
import time
from multiprocessing.connection import wait

import anyio
import anyio.to_thread

from app.execution.child import Limits, run_solve
from app.execution.outcome import failure_reason
from app.execution.supervisor import SPAWN
from app.settings import ServiceSettings


class SolveFailed(Exception):
    """The solve process ended without a plan; ``reason`` says why in a client's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SyncSolver:
    """Runs one solve per call in a fresh process; at most ``settings.sync_workers`` at once."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._slots = anyio.CapacityLimiter(settings.sync_workers)

    async def solve(self, problem_json: str, time_limit: float) -> str:
        """The plan's JSON, or :class:`SolveFailed`."""
        return await anyio.to_thread.run_sync(self._solve_blocking, problem_json, time_limit, limiter=self._slots)

    def _solve_blocking(self, problem_json: str, time_limit: float) -> str:
        limits = Limits(self._settings.job_memory_limit_mb, os.getpid())
        grace = self._settings.job_hang_grace_seconds
        receiver, sender = SPAWN.Pipe(duplex=False)
        process = SPAWN.Process(target=run_solve, args=(sender, problem_json, time_limit, limits), daemon=True)
        try:
            process.start()
        except OSError as exc:
            receiver.close()
            raise SolveFailed(f"could not start a solve process: {exc.strerror}") from None
        finally:
            sender.close()
        try:
            deadline = time.monotonic() + time_limit + grace
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SolveFailed(
                        f"the solve overran its time limit of {time_limit:g} s by more than {grace:g} s and was stopped"
                    )
                ready = wait([receiver, process.sentinel], timeout=remaining)
                if receiver in ready:
                    try:
                        return receiver.recv_bytes().decode()
                    except EOFError:
                        pass  # the process closed the pipe without a plan: read its exit code
                if process.sentinel in ready or receiver in ready:
                    process.join()
                    raise SolveFailed(failure_reason(process.exitcode, self._settings.job_memory_limit_mb))
        finally:
            if process.is_alive():
                process.kill()
            process.join()
            receiver.close()

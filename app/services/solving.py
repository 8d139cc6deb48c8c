"""Synchronous solves: a small problem in, its plan out, within a capped time limit."""

from __future__ import annotations

import logging
import time

import anyio.to_thread

from app.api.errors import SOLVE_FAILED, ApiError
from app.api.metrics import Metrics
from app.execution.sync import SolveFailed, SyncSolver
from app.services.problems import read_problem
from app.settings import ServiceSettings
from models.contract.plan import Plan
from models.contract.problem import Problem

log = logging.getLogger("pace.solve")

#: Plan statuses that prove the solve ended on its own: a longer time limit changes nothing.
_PROVEN = ("optimal", "infeasible")


class SolveService:
    def __init__(self, solver: SyncSolver, settings: ServiceSettings, metrics: Metrics) -> None:
        self._solver = solver
        self._settings = settings
        self._metrics = metrics

    def time_limit(self, problem: Problem) -> float:
        """The problem's time limit, capped at ``sync_max_time_limit``."""
        return min(problem.settings.time_limit, self._settings.sync_max_time_limit)

    async def solve(self, body: bytes) -> tuple[str, float]:
        """The plan's JSON and the time limit applied: 422 for an invalid or too large
        problem, 500 if the solve process fails (its reason logged here too)."""
        problem = await anyio.to_thread.run_sync(read_problem, body, self._settings, None)
        applied = self.time_limit(problem)
        began = time.perf_counter()
        try:
            plan = await self._solver.solve(problem.model_dump_json(), applied)
        except SolveFailed as exc:
            self._metrics.observe_solve("sync", "failed", time.perf_counter() - began)
            log.warning("synchronous solve failed after %.1f s: %s", time.perf_counter() - began, exc.reason)
            raise ApiError(500, exc.reason, type=SOLVE_FAILED, title="Solve failed") from None
        self._metrics.observe_solve("sync", "succeeded", time.perf_counter() - began)
        asked = problem.settings.time_limit
        if applied < asked:
            parsed = Plan.model_validate_json(plan)
            if parsed.status not in _PROVEN:
                note = f"time limit capped at {applied:g} s by this server (the problem asks for {asked:g} s); submit a job for the full time"
                parsed.message = f"{parsed.message}; {note}" if parsed.message else note
                return parsed.model_dump_json(), applied
        return plan, applied

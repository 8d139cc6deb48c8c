"""Synchronous solves: a small problem in, its plan out, within a capped time limit."""

from __future__ import annotations

import time

import anyio.to_thread

from app.api.errors import SOLVE_FAILED, ApiError, invalid_input, limits_exceeded
from app.api.metrics import Metrics
from app.execution.sync import SolveFailed, SyncSolver
from app.services.limits import limit_errors
from app.settings import ServiceSettings
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.contract.validation import semantic_errors


class SolveService:
    def __init__(self, solver: SyncSolver, settings: ServiceSettings, metrics: Metrics) -> None:
        self._solver = solver
        self._settings = settings
        self._metrics = metrics

    def time_limit(self, problem: Problem) -> float:
        """The problem's time limit, capped at ``sync_max_time_limit``."""
        return min(problem.settings.time_limit, self._settings.sync_max_time_limit)

    async def solve(self, problem: Problem) -> str:
        """The plan's JSON: 422 for an invalid or too large problem, 500 if the solve process fails."""
        breached = limit_errors(problem, self._settings, max_time_limit=None)
        if breached:
            raise limits_exceeded(breached)
        errors = await anyio.to_thread.run_sync(semantic_errors, problem)
        if errors:
            raise invalid_input(errors)
        began = time.perf_counter()
        try:
            plan = await self._solver.solve(problem.model_dump_json(), self.time_limit(problem))
        except SolveFailed as exc:
            self._metrics.observe_solve("sync", "failed", time.perf_counter() - began)
            raise ApiError(500, exc.reason, type=SOLVE_FAILED, title="Solve failed") from None
        self._metrics.observe_solve("sync", "succeeded", time.perf_counter() - began)
        asked, applied = problem.settings.time_limit, self.time_limit(problem)
        if applied < asked:
            return _with_note(
                plan, f"time limit capped at {applied:g} s by this server (the problem asks for {asked:g} s); submit a job for the full time"
            )
        return plan


def _with_note(plan_json: str, note: str) -> str:
    """The plan with ``note`` added to its message: a capped solve must say so in the plan itself."""
    plan = Plan.model_validate_json(plan_json)
    plan.message = f"{plan.message}; {note}" if plan.message else note
    return plan.model_dump_json()

"""Batches: a scenario file expanded into problems, each solved as a job or on a Dask cluster.

By default every valid scenario becomes a job of the caller's (the job queue runs it, with
its limits, retries and restarts), and the batch records which job runs which scenario.
With ``PACE_DASK_SCHEDULER`` set, scenarios run on that Dask cluster instead: each result
is written to the batch as it arrives, and a scenario still pending when the server stops
is submitted again when it starts (on this server's executor, whichever that is then).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict
from functools import partial
from typing import Any

from app.api.batches import (
    BATCHES_PATH,
    BatchLinks,
    BatchOut,
    ComparedOut,
    ScenarioLinks,
    ScenarioOut,
    ScenarioState,
    SummaryRowOut,
)
from app.api.errors import PLAN_NOT_AVAILABLE, ApiError, invalid_input, limits_exceeded
from app.db.batches import BatchStore, NewScenario
from app.db.store import JobStore
from app.db.tables import BatchRecord, BatchScenarioRecord
from app.services.jobs import job_path
from app.services.limits import limit_errors
from app.settings import ServiceSettings
from models.contract.plan import Plan
from models.contract.problem import FieldError, Problem, ProblemInvalid
from models.tools.batch import Compared, SummaryRow, compare, error_plan, invalid_row, solve_one, summary_row
from models.tools.scenarios import expand, read_scenario_file

#: Most scenarios one batch may hold (each is a full problem stored and solved).
MAX_SCENARIOS = 500


def batch_path(batch_id: str) -> str:
    return f"{BATCHES_PATH}/{batch_id}"


class DaskRunner:
    """Solves batch scenarios on a Dask cluster and writes each plan to the batch store as it ends."""

    def __init__(self, address: str, store: BatchStore) -> None:
        self._address = address
        self._store = store
        self._client: Any = None

    def start(self) -> None:
        from distributed import Client

        self._client = Client(self._address, timeout="20s")

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def submit(self, batch_id: str, position: int, problem_json: str) -> None:
        from models.pipeline import solve

        future = self._client.submit(solve_one, solve, Problem.model_validate_json(problem_json), pure=False)
        future.add_done_callback(partial(self._done, batch_id, position))

    def _done(self, batch_id: str, position: int, future: Future[Plan]) -> None:
        """A Dask callback: store the plan; a cancelled task (the client closing) stays pending for the next start."""
        if future.cancelled():
            return
        try:
            plan = future.result()
        except Exception as exc:  # the worker died or the task could not run: the scenario failed, the batch goes on
            plan = error_plan(exc)
        self._store.finished(batch_id, position, plan.model_dump_json(), plan.message if plan.status == "error" else None)


class BatchService:
    def __init__(
        self,
        jobs: JobStore,
        batches: BatchStore,
        settings: ServiceSettings,
        wake: Callable[[], None],
        dask: DaskRunner | None = None,
    ) -> None:
        self._jobs = jobs
        self._batches = batches
        self._settings = settings
        self._wake = wake
        self._dask = dask

    def start(self) -> None:
        """Connect to the Dask cluster (if any) and hand over what a stopped server left pending."""
        if self._dask is not None:
            self._dask.start()
        for batch, scenario in self._batches.pending():
            self._dispatch(batch, scenario.position, scenario.problem)
        self._wake()

    def stop(self) -> None:
        if self._dask is not None:
            self._dask.stop()

    def submit(self, owner: str, body: bytes) -> BatchOut:
        """Expand and validate the scenario file in ``body``, store the batch and start its scenarios."""
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise invalid_input([FieldError(path="$", message=f"invalid JSON: {exc}")]) from None
        if not isinstance(data, dict):
            raise invalid_input([FieldError(path="$", message="a scenario file is an object with base, scenarios and/or sweep")])
        try:
            spec = read_scenario_file(data)
        except ProblemInvalid as exc:
            raise invalid_input(exc.errors) from None
        if not isinstance(spec.base, dict):
            raise invalid_input([FieldError(path="base", message="a batch's base is the problem itself, not a file name")])
        count = 1 + len(spec.scenarios) + (len(spec.sweep.values) if spec.sweep is not None else 0)
        if count > MAX_SCENARIOS:
            raise limits_exceeded(
                [FieldError(path="scenarios", message=f"{count} scenarios (the base included) exceed this server's limit of {MAX_SCENARIOS}")]
            )
        try:
            scenarios = expand(spec, spec.base)
        except ProblemInvalid as exc:
            raise invalid_input(exc.errors) from None
        new = []
        for s in scenarios:
            errors = s.errors if s.problem is None else limit_errors(s.problem, self._settings, self._settings.max_time_limit)
            if errors:
                new.append(NewScenario(s.name, None, json.dumps([e.model_dump() for e in errors])))
            else:
                assert s.problem is not None
                new.append(NewScenario(s.name, s.problem.model_dump_json(), None))
        base = scenarios[0].problem
        assert base is not None
        batch = self._batches.create(owner, base.name, "dask" if self._dask is not None else "jobs", new)
        for position, s in enumerate(new):
            if s.problem is not None:
                self._dispatch(batch, position, s.problem)
        self._wake()
        return self.get(owner, batch.id)

    def get(self, owner: str, batch_id: str) -> BatchOut:
        batch = self._owned(owner, batch_id)
        views = [self._view(batch, record) for record in self._batches.scenarios(batch.id)]
        base_objective = views[0][2].objective if views and views[0][2] is not None else None
        base_job = views[0][0].job_id if views else None
        comparison = []
        for scenario, row, compared in views:
            figures = asdict(compared) if compared is not None else {"scenario": row.scenario, "status": row.status}
            if compared is not None and compared.objective is not None and base_objective is not None:
                figures["objective_change"] = compared.objective - base_objective
            figures["links"] = _links(scenario, base_job if compared is not None else None, has_plan=compared is not None)
            comparison.append(ComparedOut(**figures))
        counts = Counter(scenario.state for scenario, _, _ in views)
        return BatchOut(
            id=batch.id,
            name=batch.name,
            created_at=batch.created_at,
            state="running" if counts["queued"] or counts["running"] else "finished",
            executor=batch.executor,  # type: ignore[arg-type]
            valid=counts["invalid"] == 0,
            counts=dict(sorted(counts.items())),
            scenarios=[scenario for scenario, _, _ in views],
            summary=[SummaryRowOut(**asdict(row)) for _, row, _ in views],
            comparison=comparison,
            links=BatchLinks(self=batch_path(batch.id)),
        )

    def plan_json(self, owner: str, batch_id: str, position: int) -> str:
        """The scenario's plan; 404 for no such scenario, 409 while it has none."""
        batch = self._owned(owner, batch_id)
        record = next((r for r in self._batches.scenarios(batch.id) if r.position == position), None)
        if record is None:
            raise ApiError(404, f"batch {batch_id} has no scenario {position}")
        body = self._plan_body(record)
        if body is None:
            raise ApiError(409, f"scenario '{record.name}' has no plan", type=PLAN_NOT_AVAILABLE, title="Plan not available")
        return body

    def _dispatch(self, batch: BatchRecord, position: int, problem_json: str | None) -> None:
        if problem_json is None:
            return
        if self._dask is not None:
            self._dask.submit(batch.id, position, problem_json)
            return
        problem = Problem.model_validate_json(problem_json)
        job = self._jobs.submit(
            batch.owner, problem_json, problem.settings.time_limit, name=problem.name, objective_kind=problem.objective.kind
        )
        self._batches.handed_to_job(batch.id, position, job.id)

    def _owned(self, owner: str, batch_id: str) -> BatchRecord:
        batch = self._batches.get(batch_id, owner)
        if batch is None:
            raise ApiError(404, f"no batch {batch_id}")
        return batch

    def _plan_body(self, record: BatchScenarioRecord) -> str | None:
        if record.state == "job" and record.job_id is not None:
            stored = self._jobs.plan(record.job_id)
            return stored.body if stored is not None else None
        return record.plan

    def _view(self, batch: BatchRecord, record: BatchScenarioRecord) -> tuple[ScenarioOut, SummaryRow, Compared | None]:
        """The scenario's state, summary row and comparison figures (cached once it has a plan)."""
        links = ScenarioLinks(
            plan=f"{batch_path(batch.id)}/scenarios/{record.position}/plan",
            job=job_path(record.job_id) if record.job_id is not None else None,
        )
        errors = [FieldError.model_validate(e) for e in json.loads(record.errors)] if record.state == "invalid" and record.errors else []
        state, message = self._state(record)
        scenario = ScenarioOut(position=record.position, name=record.name, state=state, job_id=record.job_id, errors=errors, links=links)
        if state == "invalid":
            return scenario, invalid_row(record.name, errors), None
        if record.summary is not None:
            cached = json.loads(record.summary)
            return scenario, SummaryRow(**cached["row"]), Compared(**cached["compared"])
        body = self._plan_body(record) if state in ("succeeded", "failed", "cancelled") else None
        if body is None:
            return scenario, SummaryRow(scenario=record.name, status=state, message=message), None
        plan = Plan.model_validate_json(body)
        row, compared = summary_row(record.name, plan), compare(None, [(record.name, plan)])[0]
        self._batches.cache_summary(batch.id, record.position, json.dumps({"row": asdict(row), "compared": asdict(compared)}))
        return scenario, row, compared

    def _state(self, record: BatchScenarioRecord) -> tuple[ScenarioState, str]:
        """The scenario's state and, when it failed without a plan, why."""
        if record.state == "invalid":
            return "invalid", ""
        if record.state == "pending":
            return "queued", ""
        if record.state in ("succeeded", "failed"):
            return record.state, record.errors or ""  # type: ignore[return-value]
        job = self._jobs.get(record.job_id, None) if record.job_id is not None else None
        if job is None:
            return "failed", "its job no longer exists"
        return job.state, job.error or ""  # type: ignore[return-value]


def _links(scenario: ScenarioOut, base_job: str | None, has_plan: bool) -> dict[str, str]:
    """Where to read a scenario's plan and job, and (a job's plan) its HTML report and its diff against the base's."""
    links = {"plan": scenario.links.plan}
    if scenario.job_id is None:
        return links
    links["job"] = job_path(scenario.job_id)
    if has_plan:
        links["report"] = f"{job_path(scenario.job_id)}/report"
        if base_job is not None and base_job != scenario.job_id:
            links["diff"] = f"{job_path(scenario.job_id)}/diff?against={base_job}"
    return links

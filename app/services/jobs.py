"""Jobs: submit, read, list, fetch the plan, cancel; each scoped to the caller's owner id.

Another owner's job is reported exactly like an unknown one (404), so a key cannot
even learn that a job id exists.
"""

from __future__ import annotations

from collections.abc import Callable

from app.api.errors import JOB_FINISHED, PLAN_NOT_AVAILABLE, ApiError, invalid_input
from app.api.schemas import JobLinks, JobOut, JobPage, JobState, JobSummary, PlanSummary, ProgressPoint
from app.db.store import JobStore
from app.db.tables import Job, PlanRecord
from app.services.problems import read_problem
from app.settings import ServiceSettings
from models.contract.plan import Plan
from models.contract.problem import Problem, ProblemInvalid
from models.solver.progress import activity
from models.tools.reforecast import apply_reforecast, parse_reforecast

JOBS_PATH = "/v1/jobs"


def job_path(job_id: str) -> str:
    return f"{JOBS_PATH}/{job_id}"


class JobService:
    def __init__(self, store: JobStore, settings: ServiceSettings, wake: Callable[[], None]) -> None:
        self._store = store
        self._settings = settings
        self._wake = wake

    def submit(self, owner: str, body: bytes) -> JobOut:
        """Queue the problem in ``body`` if it is valid and within this server's limits (422 otherwise)."""
        problem = read_problem(body, self._settings, self._settings.max_time_limit)
        job = self._store.submit(
            owner, problem.model_dump_json(), problem.settings.time_limit, name=problem.name, objective_kind=problem.objective.kind
        )
        self._wake()
        return self._out(job)

    def replan(self, owner: str, job_id: str, body: bytes) -> JobOut:
        """A new job re-planning ``job_id``'s plan after the reforecast in ``body`` (its events
        applied to the job's problem, frozen until its month, the plan as the previous plan);
        404 for an unknown job, 409 while it has no plan, 422 for bad changes (nothing stored)."""
        plan = Plan.model_validate_json(self.plan_json(owner, job_id))
        problem = Problem.model_validate_json(self._store.problem_json(job_id))
        try:
            new = apply_reforecast(problem, plan, parse_reforecast(body))
        except ProblemInvalid as exc:
            raise invalid_input(exc.errors) from None
        return self.submit(owner, new.model_dump_json().encode())

    def get(self, owner: str, job_id: str) -> JobOut:
        return self._out(self._owned(owner, job_id))

    def page(self, owner: str, limit: int, offset: int, state: JobState | None) -> JobPage:
        jobs, total = self._store.page(owner, limit, offset, state)
        following = None
        if offset + len(jobs) < total:
            query = f"limit={limit}&offset={offset + limit}" + (f"&state={state}" if state else "")
            following = f"{JOBS_PATH}?{query}"
        plans = self._store.plan_headlines(j.id for j in jobs)
        return JobPage(items=[_summary(j, plans.get(j.id)) for j in jobs], total=total, limit=limit, offset=offset, next=following)

    def plan_json(self, owner: str, job_id: str) -> str:
        """The stored plan's JSON; 409 while the job has none (yet)."""
        job = self._owned(owner, job_id)
        record = self._store.plan(job.id)
        if record is None:
            detail = {
                "queued": "the job has not started yet",
                "running": "the job is still running",
                "failed": f"the job failed: {job.error}",
                "cancelled": "the job was cancelled before it found a plan",
            }.get(job.state, "the job has no plan")
            raise ApiError(409, detail, type=PLAN_NOT_AVAILABLE, title="Plan not available")
        return record.body

    def cancel(self, owner: str, job_id: str) -> JobOut:
        """Cancel a queued or running job; a cancelled one is returned as is, a finished one is 409."""
        job = self._owned(owner, job_id)
        if job.state in ("succeeded", "failed"):
            raise ApiError(409, f"the job has already {job.state}", type=JOB_FINISHED, title="Job already finished")
        cancelled = self._store.cancel(job.id, owner)
        assert cancelled is not None
        return self._out(cancelled)

    def _owned(self, owner: str, job_id: str) -> Job:
        job = self._store.get(job_id, owner)
        if job is None:
            raise ApiError(404, f"no job {job_id}")
        return job

    def _out(self, job: Job) -> JobOut:
        record = self._store.plan_headlines([job.id]).get(job.id)
        result = None if record is None else PlanSummary(status=record.status, objective=record.objective, gap=record.gap)  # type: ignore[arg-type]
        progress = [
            ProgressPoint(elapsed=p.elapsed, stage=p.stage, activity=activity(p.stage), incumbent=p.incumbent, bound=p.bound, gap=p.gap)
            for p in self._store.progress(job.id, job.attempts)
        ]
        return JobOut(**_summary(job, record).model_dump(), result=result, progress=progress)


def _summary(job: Job, plan: PlanRecord | None) -> JobSummary:
    """The job as a list shows it: with its problem's name and objective kind and its plan's
    status, objective and trials run (a planner knows jobs by name, not id), all read from
    the columns copied out when the job and its plan were stored, so a page of large jobs
    costs no parsing of their bodies."""
    return JobSummary(
        name=job.name,
        objective_kind=job.objective_kind,
        status=None if plan is None else plan.status,  # type: ignore[arg-type]
        objective=None if plan is None else plan.objective,
        trials_run=None if plan is None else plan.trials_run,
        id=job.id,
        state=job.state,  # type: ignore[arg-type]
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        time_limit=job.time_limit,
        attempts=job.attempts,
        cancel_requested=job.cancel_requested,
        error=job.error,
        links=JobLinks(self=job_path(job.id), plan=f"{job_path(job.id)}/plan"),
    )

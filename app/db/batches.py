"""Reads and writes of batches and their scenarios, beside the job store (``app.db.store``).

A batch's scenarios that run as jobs keep their state and plan in the job tables; this
module records which job runs which scenario, the scenarios that never became a job
(invalid ones) and those run on a Dask cluster, whose problem and plan are kept here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import sessionmaker

from app.db.tables import BatchRecord, BatchScenarioRecord, utcnow


@dataclass(frozen=True)
class NewScenario:
    """A scenario as submitted: ``problem`` JSON when valid, ``errors`` JSON when not."""

    name: str
    problem: str | None
    errors: str | None


class BatchStore:
    """Every method opens and closes its own session; returned rows are detached."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def create(self, owner: str, name: str, executor: str, scenarios: Sequence[NewScenario]) -> BatchRecord:
        """Store the batch and its scenarios in one transaction: valid ones ``pending``, the others ``invalid``."""
        batch = BatchRecord(id=str(uuid.uuid4()), owner=owner, name=name, created_at=utcnow(), executor=executor)
        with self._sessions.begin() as session:
            session.add(batch)
            session.flush()
            for position, s in enumerate(scenarios):
                session.add(
                    BatchScenarioRecord(
                        batch_id=batch.id,
                        position=position,
                        name=s.name,
                        state="pending" if s.problem is not None else "invalid",
                        problem=s.problem,
                        errors=s.errors,
                    )
                )
        return batch

    def get(self, batch_id: str, owner: str) -> BatchRecord | None:
        """The batch, or None if unknown or someone else's."""
        with self._sessions() as session:
            batch = session.get(BatchRecord, batch_id)
            return batch if batch is not None and batch.owner == owner else None

    def scenarios(self, batch_id: str) -> list[BatchScenarioRecord]:
        with self._sessions() as session:
            rows = session.scalars(
                select(BatchScenarioRecord).where(BatchScenarioRecord.batch_id == batch_id).order_by(BatchScenarioRecord.position)
            ).all()
            return list(rows)

    def pending(self) -> list[tuple[BatchRecord, BatchScenarioRecord]]:
        """Every scenario not yet handed over or not finished on Dask, with its batch, oldest batch first."""
        with self._sessions() as session:
            rows = session.execute(
                select(BatchRecord, BatchScenarioRecord)
                .join(BatchScenarioRecord, BatchScenarioRecord.batch_id == BatchRecord.id)
                .where(BatchScenarioRecord.state == "pending")
                .order_by(BatchRecord.created_at, BatchScenarioRecord.position)
            ).all()
            return [(batch, scenario) for batch, scenario in rows]

    def handed_to_job(self, batch_id: str, position: int, job_id: str) -> None:
        """The job ``job_id`` runs the scenario now; its problem lives with the job."""
        self._set(batch_id, position, "pending", state="job", job_id=job_id, problem=None)

    def finished(self, batch_id: str, position: int, plan: str | None, errors: str | None) -> bool:
        """End a scenario run outside the job queue: ``succeeded`` with its plan, or ``failed`` with why."""
        state = "succeeded" if plan is not None else "failed"
        return self._set(batch_id, position, "pending", state=state, plan=plan, errors=errors)

    def cache_summary(self, batch_id: str, position: int, summary: str) -> None:
        self._set(batch_id, position, None, summary=summary)

    def _set(self, batch_id: str, position: int, expected: str | None, **values: object) -> bool:
        where = [BatchScenarioRecord.batch_id == batch_id, BatchScenarioRecord.position == position]
        if expected is not None:
            where.append(BatchScenarioRecord.state == expected)
        with self._sessions.begin() as session:
            return session.execute(update(BatchScenarioRecord).where(*where).values(**values)).rowcount == 1

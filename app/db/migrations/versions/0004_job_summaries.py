"""Job summaries as columns: the problem's name and objective kind on jobs, the plan's trials run on plans.

The job list shows them for every job of a page; read out of the stored problem and plan
JSON, a page of 100 reference-size jobs parsed some 50 MB of JSON. From this revision on
they are written once, when the job is submitted and when its plan is stored; the jobs
stored before are back-filled here from their bodies, with the same reading the list
made of them, so an old database lists exactly as it did.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Bodies read and parsed at a time while back-filling, so memory stays bounded on a large database.
_CHUNK = 100

_jobs = sa.table("jobs", sa.column("id", sa.String), sa.column("name", sa.Text), sa.column("objective_kind", sa.String))
_problems = sa.table("problems", sa.column("job_id", sa.String), sa.column("body", sa.Text))
_plans = sa.table("plans", sa.column("job_id", sa.String), sa.column("body", sa.Text), sa.column("trials_run", sa.Integer))


def upgrade() -> None:
    op.add_column("jobs", sa.Column("name", sa.Text(), nullable=True))
    op.add_column("jobs", sa.Column("objective_kind", sa.String(32), nullable=True))
    op.add_column("plans", sa.Column("trials_run", sa.Integer(), nullable=True))
    _backfill(_problems, _jobs.update().where(_jobs.c.id == sa.bindparam("key")), _problem_summary)
    _backfill(_plans, _plans.update().where(_plans.c.job_id == sa.bindparam("key")), _plan_summary)


def downgrade() -> None:
    op.drop_column("plans", "trials_run")
    op.drop_column("jobs", "objective_kind")
    op.drop_column("jobs", "name")


def _problem_summary(problem: dict[str, Any]) -> dict[str, Any]:
    return {"name": problem.get("name"), "objective_kind": problem.get("objective", {}).get("kind")}


def _plan_summary(plan: dict[str, Any]) -> dict[str, Any]:
    return {"trials_run": plan.get("kpis", {}).get("trials_run")}


def _backfill(bodies: sa.TableClause, update: sa.Update, summary: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Write ``summary`` of each stored body through ``update`` (its row picked by ``key``), ``_CHUNK`` bodies at a time."""
    connection = op.get_bind()
    ids = connection.execute(sa.select(bodies.c.job_id).order_by(bodies.c.job_id)).scalars().all()
    for start in range(0, len(ids), _CHUNK):
        rows = connection.execute(sa.select(bodies.c.job_id, bodies.c.body).where(bodies.c.job_id.in_(ids[start : start + _CHUNK])))
        connection.execute(update, [{"key": job_id, **summary(json.loads(body))} for job_id, body in rows])

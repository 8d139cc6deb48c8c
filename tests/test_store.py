"""The job repository and its migrations, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.db.migrate import alembic_config, upgrade
from app.db.store import JobStore
from app.db.tables import Base
from app.execution import lease
from models.pipeline import solve
from models.contract.validation import parse_problem
from models.solver.progress import Progress
from tests.service import SMALL, database_url, postgres_admin_url  # noqa: F401 (fixtures)


@pytest.fixture
def store(database_url: str):  # noqa: F811
    store = JobStore.from_url(database_url)
    upgrade(store.engine)
    yield store
    store.dispose()


def test_migrated_schema_matches_the_orm_tables(store: JobStore):
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_migrations_can_run_again_on_an_up_to_date_database(store: JobStore):
    upgrade(store.engine)
    with store.engine.connect() as conn:
        head = ScriptDirectory.from_config(alembic_config(conn)).get_current_head()
        assert head is not None and head >= "0002"
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_a_submitted_job_is_queued_with_its_problem_and_utc_timestamps(store: JobStore):
    job = store.submit("alice", '{"name": "p"}', 30.0)
    again = store.get(job.id, "alice")
    assert again is not None
    assert (again.state, again.attempts, again.time_limit, again.cancel_requested) == ("queued", 0, 30.0, False)
    assert again.created_at.tzinfo is not None and again.created_at.utcoffset() == UTC.utcoffset(None)
    assert store.problem_json(job.id) == '{"name": "p"}'


def test_another_owner_cannot_get_or_cancel_a_job(store: JobStore):
    job = store.submit("alice", "{}", 30.0)
    assert store.get(job.id, "bob") is None
    assert store.cancel(job.id, "bob") is None
    assert store.get(job.id, "alice").state == "queued"


def test_claims_take_the_oldest_queued_job_and_each_job_once(store: JobStore):
    first = store.submit("alice", "{}", 30.0)
    second = store.submit("alice", "{}", 30.0)
    claimed = [store.claim_next(), store.claim_next(), store.claim_next()]
    assert [j.id if j else None for j in claimed] == [first.id, second.id, None]
    assert all(j.state == "running" and j.attempts == 1 and j.started_at is not None for j in claimed[:2])


def test_concurrent_claims_never_hand_out_the_same_job_twice(store: JobStore):
    ids = {store.submit("alice", "{}", 30.0).id for _ in range(6)}
    claimed: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        while (job := store.claim_next()) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(claimed) == sorted(ids)


def test_a_run_from_an_earlier_attempt_can_no_longer_end_the_job(store: JobStore):
    job = store.submit("alice", "{}", 30.0)
    store.claim_next()
    assert store.requeue_abandoned(None) == 1
    rerun = store.claim_next()
    assert rerun.attempts == 2
    assert not store.fail(job.id, 1, "stale run")
    assert store.should_stop(job.id, 1) and not store.should_stop(job.id, 2)
    assert store.fail(job.id, 2, "the solve crashed")
    assert store.get(job.id, None).state == "failed"


def test_finishing_stores_the_plan_with_its_headline_numbers(store: JobStore):
    problem = parse_problem(SMALL.read_bytes())
    plan = solve(problem)
    job = store.submit("alice", problem.model_dump_json(), 30.0)
    store.claim_next()
    assert store.finish(job.id, 1, plan, "succeeded")
    record = store.plan(job.id)
    assert (record.status, record.objective, record.gap) == (plan.status, plan.objective, plan.gap)
    assert record.body == plan.model_dump_json()
    ended = store.get(job.id, None)
    assert ended.state == "succeeded" and ended.finished_at >= ended.started_at
    assert not store.finish(job.id, 1, plan, "succeeded"), "a finished job cannot end twice"


def test_cancel_ends_a_queued_job_and_flags_a_running_one(store: JobStore):
    running = store.submit("alice", "{}", 30.0)
    queued = store.submit("alice", "{}", 30.0)
    store.claim_next()
    assert store.cancel(queued.id, "alice").state == "cancelled"
    flagged = store.cancel(running.id, "alice")
    assert flagged.state == "running" and flagged.cancel_requested
    assert store.should_stop(running.id, 1)
    assert store.cancel_requested([running.id, queued.id]) == {running.id, queued.id}


def test_restart_requeues_running_jobs_and_cancels_those_asked_to_stop(store: JobStore):
    keep = store.submit("alice", "{}", 30.0)
    drop = store.submit("alice", "{}", 30.0)
    store.claim_next("dead-server")
    store.claim_next("dead-server")
    store.cancel(drop.id, "alice")
    assert store.requeue_abandoned("new-server", lambda owner: owner == "dead-server") == 1
    assert store.get(keep.id, None).state == "queued"
    assert store.get(drop.id, None).state == "cancelled"


def test_a_job_leased_to_a_live_server_is_never_requeued_by_another_until_its_lease_expires(store: JobStore):
    job = store.submit("alice", "{}", 30.0)
    store.claim_next("first", lease_seconds=3600)
    assert store.requeue_abandoned("second") == 0, "the first server vouches for its run"
    assert store.requeue_abandoned("first") == 0, "a server never abandons its own jobs"
    assert store.renew("second", 3600) == 0 and store.renew("first", -1) == 1
    assert store.requeue_abandoned("second") == 1, "the first server's lease has expired"
    after = store.get(job.id, None)
    assert (after.state, after.lease_owner, after.error) == ("queued", None, "its server stopped during the run; re-queued")


def test_an_abandoned_job_that_has_used_its_attempts_fails_with_the_reason(store: JobStore):
    job = store.submit("alice", "{}", 30.0)
    for _ in range(2):
        store.claim_next("crashing", lease_seconds=-1)
        store.requeue_abandoned("other", max_attempts=2)
    after = store.get(job.id, None)
    assert (after.state, after.attempts) == ("failed", 2)
    assert after.error == "its server stopped during each of its runs; gave up after 2 attempts"


def test_a_lease_names_a_server_that_is_dead_only_when_its_process_on_this_machine_is_gone():
    here = lease.server_name()
    assert not lease.is_dead(here)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    gone = lease.server_name(child.pid)
    child.wait()
    assert lease.is_dead(gone), "the process has ended"
    assert lease.is_dead(here.replace(f":{os.getpid()}:", f":{os.getpid()}:9")), "same pid, another start time: a new process"
    assert not lease.is_dead("0123456789ab:1:1:elsewhere"), "a server on another machine is judged by its lease only"


def test_jobs_are_listed_newest_first_per_owner_with_a_total(store: JobStore):
    mine = [store.submit("alice", "{}", 30.0).id for _ in range(3)]
    store.submit("bob", "{}", 30.0)
    page, total = store.page("alice", limit=2, offset=0)
    rest, _ = store.page("alice", limit=2, offset=2)
    assert total == 3
    assert [j.id for j in page + rest] == mine[::-1]
    store.claim_next()
    running, count = store.page("alice", limit=10, offset=0, state="running")
    assert count == 1 and running[0].id == mine[0]


def test_progress_is_reported_for_the_latest_attempt_only(store: JobStore):
    job = store.submit("alice", "{}", 30.0)
    store.claim_next()
    store.add_progress(job.id, 1, 0, Progress(0.5, "portfolio[0]", 10.0, 12.0, 0.2))
    store.requeue_abandoned(None)
    store.claim_next()
    store.add_progress(job.id, 2, 0, Progress(0.4, "portfolio[0]", 11.0, None, None))
    store.add_progress(job.id, 2, 1, Progress(0.9, "done", 11.5, 12.0, 0.04))
    series = store.progress(job.id, 2)
    assert [(p.seq, p.stage, p.incumbent, p.bound) for p in series] == [(0, "portfolio[0]", 11.0, None), (1, "done", 11.5, 12.0)]
    assert [p.seq for p in store.progress(job.id, 2, limit=1)] == [1], "a long series is cut to its latest points"


def test_counts_by_state_list_every_state(store: JobStore):
    store.submit("alice", "{}", 30.0)
    store.submit("alice", "{}", 30.0)
    store.claim_next()
    assert store.counts_by_state() == {"queued": 1, "running": 1, "succeeded": 0, "failed": 0, "cancelled": 0}

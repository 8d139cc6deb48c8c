"""Fixtures and helpers for the REST service tests (imported by the test modules that use them).

Storage and job tests run on SQLite and on PostgreSQL: ``database_url`` is parametrised
over both. PostgreSQL is the server on 127.0.0.1:5432 (started here if it is not up);
each test gets a schema of its own, dropped afterwards, because other runs share the
database.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.main import create_app
from app.settings import ServiceSettings
from models.contract.check import check_plan
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.contract.validation import parse_problem
from tests.conftest import ROOT

SMALL = ROOT / "data" / "example-small.json"
REFERENCE = ROOT / "data" / "pace-reference.json"
#: On PYTHONPATH, its sitecustomize.py injects the fault named by PACE_TEST_FAULT into solve processes.
HOOKS = Path(__file__).resolve().parent / "hooks"

PG_HOST, PG_PORT, PG_DATABASE = "127.0.0.1", 5432, "test"
T = TypeVar("T")


def _pg_url(user: str) -> str:
    return f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"


def _pg_connectable() -> str | None:
    """The URL of the first user the server lets in (trust auth: postgres or root), if any."""
    for user in ("postgres", "root"):
        engine = create_engine(_pg_url(user), connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return _pg_url(user)
        except OperationalError:
            continue
        finally:
            engine.dispose()
    return None


def _start_postgres() -> None:
    """Start the local cluster(s) the way .ci/run does when nothing listens on 5432."""
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return
    for version in sorted(os.listdir("/etc/postgresql")):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = _pg_connectable()
    if url is None:
        _start_postgres()
        url = wait_for(_pg_connectable, timeout=60, interval=1, what="PostgreSQL to accept connections")
    return url


@contextmanager
def postgres_schema(admin_url: str) -> Iterator[str]:
    """A fresh schema, as a URL whose connections use it; dropped on exit."""
    schema = f"pace_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{admin_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pace.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_admin_url")) as url:
        yield url


def settings_for(database_url: str, **overrides: Any) -> ServiceSettings:
    """Service settings for a test: the given database, no environment involved."""
    return ServiceSettings(database_url=database_url, **overrides)


@contextmanager
def client_for(settings: ServiceSettings, **client_options: Any) -> Iterator[TestClient]:
    """A TestClient on a fresh app, with its lifespan (migrations, supervisor) running."""
    with TestClient(create_app(settings), **client_options) as client:
        yield client


def wait_for(
    probe: Callable[[], T | None], *, timeout: float, what: str | Callable[[], str], interval: float = 0.2
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what if isinstance(what, str) else what()}")
        time.sleep(interval)


def wait_for_job(get: Callable[[], dict[str, Any]], until: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
    """Poll a job (``get`` returns its JSON) until ``until(job)``; the failure shows the job as last seen."""
    last: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        last.clear()
        last.update(get())
        return dict(last) if until(last) else None

    return wait_for(probe, timeout=timeout, what=lambda: f"the job (last seen: {last})")


def finished(job: dict[str, Any]) -> bool:
    return job["state"] not in ("queued", "running")


def problem_json(path: Path = SMALL, **settings: Any) -> str:
    """A problem file's JSON, with ``settings`` overridden (e.g. a time limit)."""
    problem = parse_problem(path.read_bytes())
    problem.settings = problem.settings.model_copy(update=settings)
    return problem.model_dump_json()


def assert_checker_clean(problem: Problem | str, plan: Plan | dict[str, Any] | str) -> Plan:
    """Parse what the service returned and assert the independent checker finds nothing."""
    prob = parse_problem(problem) if isinstance(problem, str) else problem
    parsed = plan if isinstance(plan, Plan) else (Plan.model_validate_json(plan) if isinstance(plan, str) else Plan.model_validate(plan))
    violations = check_plan(prob, parsed)
    assert violations == [], "\n".join(f"{v.rule}: {v.message}" for v in violations)
    return parsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


JSON = {"content-type": "application/json"}


PACE = str(Path(sys.executable).with_name("pace"))


class Server:
    """One `pace serve` process on 127.0.0.1; its output goes to a log file shown when a test fails."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = {**os.environ, **env}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Server":
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [PACE, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, timeout=60, what=lambda: f"`pace serve` to answer; its log:\n{self.log.read_text()}")
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"`pace serve` exited with {self.process.returncode}:\n{self.log.read_text()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (read from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def process_state(pid: int) -> str:
    """The process's state letter (``R``, ``S``, ``Z`` for a zombie...); ``X`` once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"

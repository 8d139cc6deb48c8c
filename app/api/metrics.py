"""Prometheus metrics: requests, jobs by state, solve durations.

Each app has its own registry, so several apps in one process (the tests) never share
counters. Requests are labelled by route template (``/v1/jobs/{job_id}``), not by raw
path, so job ids cannot blow up the number of series; jobs by state are read from the
database at scrape time, so they are right for every server sharing it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Buckets for solve durations: sub-second small problems up to hour-long jobs.
SOLVE_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)


class _JobsByState(Collector):
    """``pace_jobs{state}`` read at scrape time, and ``pace_database_up`` (0 while it does not answer)."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts = self._counts()
        except SQLAlchemyError:
            counts = None
        yield GaugeMetricFamily("pace_database_up", "1 if the database answered this scrape", value=0 if counts is None else 1)
        if counts is not None:
            family = GaugeMetricFamily("pace_jobs", "Jobs in the database by state", labels=["state"])
            for state, count in counts.items():
                family.add_metric([state], count)
            yield family


class Metrics:
    """The service's metrics and the registry they are exposed from."""

    def __init__(self, job_counts: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pace_http_requests", "HTTP requests handled", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "pace_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"], registry=self.registry
        )
        self.solves = Histogram(
            "pace_solve_duration_seconds",
            "Wall time of solves, by kind (sync or job) and outcome",
            ["kind", "outcome"],
            buckets=SOLVE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_JobsByState(job_counts))

    def observe_solve(self, kind: str, outcome: str, seconds: float) -> None:
        self.solves.labels(kind=kind, outcome=outcome).observe(seconds)


class RequestMetrics:
    """ASGI middleware counting every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(method=scope["method"], route=template, status=str(status)).inc()
            self.metrics.latency.labels(method=scope["method"], route=template).observe(time.perf_counter() - began)

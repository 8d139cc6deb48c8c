"""What the routes get from the app: its services, built once by :func:`app.main.create_app`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.api.auth import KeyRing
from app.api.metrics import Metrics
from app.api.ratelimit import RateLimiter
from app.db.store import JobStore
from app.execution.supervisor import Supervisor
from app.services.jobs import JobService
from app.services.solving import SolveService
from app.settings import ServiceSettings


@dataclass(frozen=True)
class Services:
    settings: ServiceSettings
    store: JobStore
    keys: KeyRing
    limiter: RateLimiter
    metrics: Metrics
    supervisor: Supervisor
    jobs: JobService
    solving: SolveService


def services(request: Request) -> Services:
    return request.app.state.services


AppServices = Annotated[Services, Depends(services)]

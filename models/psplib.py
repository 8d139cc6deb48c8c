"""PSPLIB single-mode RCPSP instances (``.sm`` files) as PACE problems (SPEC §6).

PSPLIB (Kolisch & Sprecher 1997) is the public yardstick for the scheduling core: the
j30 set has proven optimal makespans for all 480 instances. The mapping:

- one mandatory trial per job, id ``J<job number>`` (``J2`` .. ``J31`` in j30), with one
  option ``single`` of one stage lasting the job's duration in months and demanding the
  job's request of each renewable resource ``R1`` .. ``Rk`` in every month (zero requests
  omitted);
- each renewable resource is a role whose capacity is ``availability`` named people of
  FTE 1.0 (``R1-01``, ``R1-02``, ...), costing nothing, without skills, regions, leave or
  a limit on concurrent trials in practice (``max_concurrent_trials`` = the capacity);
  no flex, no services, no budget;
- precedence arcs as predecessors with lag 0: PSPLIB's "successor starts when the job
  finishes" is exactly PACE's ``start_B >= end_A + 1`` with months as time units;
- the horizon starts in ``2000-01`` and has the file's ``horizon`` months (in PSPLIB the
  sum of all durations, so any serial schedule fits), more if the durations need it;
- objective ``makespan``.

Jobs of duration 0 cannot be trials (a stage lasts at least a month) and use no time, so
they are contracted: each predecessor of such a job becomes a predecessor of each of its
successors. This drops the dummy source and sink (jobs 1 and N) and would handle any
other zero-duration job the same way; none exists in j30 (all 480 files checked).
Nonrenewable and doubly constrained resources (not used by j30) are rejected.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from models.problem import (
    ExecutionOption,
    Horizon,
    Objective,
    Predecessor,
    Problem,
    Stage,
    Staff,
    Trial,
)

HORIZON_START = "2000-01"
OPTIMUM_CSV = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "psplib" / "j30-optimum.csv"
"""Default location of the proven optimal makespans of j30 (``../shared/benchmarks/psplib``)."""


class PsplibError(ValueError):
    """A ``.sm`` file that cannot be read; the message says which section and why."""


@dataclass
class _Job:
    number: int
    duration: int = 0
    requests: list[int] = field(default_factory=list)
    successors: list[int] = field(default_factory=list)


def parse_sm(text: str, name: str = "psplib") -> Problem:
    """The PACE problem of a PSPLIB single-mode ``.sm`` instance given as text."""
    horizon = _number(text, r"horizon\s*:\s*(\d+)", "horizon")
    renewable = _number(text, r"-\s*renewable\s*:\s*(\d+)", "renewable resources")
    for kind in ("nonrenewable", "doubly constrained"):
        if _number(text, rf"-\s*{kind}\s*:\s*(\d+)", f"{kind} resources") > 0:
            raise PsplibError(f"{kind} resources are not supported (single-mode renewable RCPSP only)")
    jobs = _jobs(text, renewable)
    capacities = _availabilities(text, renewable)
    roles = [f"R{k + 1}" for k in range(renewable)]

    predecessors = _contracted_predecessors(jobs)
    trials = [
        Trial(
            id=f"J{job.number}",
            name=f"job {job.number}",
            mandatory=True,
            predecessors=[Predecessor(trial=f"J{p}", lag=0) for p in predecessors[job.number]],
            options=[
                ExecutionOption(
                    id="single",
                    stages=[
                        Stage(
                            name="work",
                            months=job.duration,
                            demand={role: float(q) for role, q in zip(roles, job.requests) if q > 0},
                        )
                    ],
                )
            ],
        )
        for job in jobs.values()
        if job.duration > 0
    ]
    staff = [
        Staff(id=f"{role}-{i + 1:02d}", role=role, fte=1.0, monthly_cost=0.0, max_concurrent_trials=max(1, capacity))
        for role, capacity in zip(roles, capacities)
        for i in range(capacity)
    ]
    months = max(horizon, sum(job.duration for job in jobs.values()), 1)
    return Problem(
        name=name,
        horizon=Horizon(start=HORIZON_START, months=months),
        roles=roles,
        staff=staff,
        trials=trials,
        objective=Objective(kind="makespan"),
    )


def load_sm(path: str | Path) -> Problem:
    """The PACE problem of a ``.sm`` file, named after the file (``j301_1``)."""
    path = Path(path)
    return parse_sm(path.read_text(encoding="utf-8", errors="replace"), name=path.stem)


def known_optimum(name: str, csv_path: str | Path = OPTIMUM_CSV) -> int:
    """The proven optimal makespan (months) of a j30 instance such as ``j301_1`` or ``j301_1.sm``."""
    instance = Path(name).stem
    with open(csv_path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["instance"] == instance:
                return int(row["optimal_makespan"])
    raise KeyError(f"no known optimum for {instance!r} in {csv_path}")


def _number(text: str, pattern: str, what: str) -> int:
    match = re.search(pattern, text)
    if match is None:
        raise PsplibError(f"no {what} line found")
    return int(match.group(1))


def _section(text: str, header: str) -> list[list[int]]:
    """Rows of integers of a section, from its header to the next line of asterisks."""
    start = text.find(header)
    if start < 0:
        raise PsplibError(f"section {header!r} not found")
    rows = []
    for line in text[start + len(header) :].splitlines():
        if line.startswith("*"):
            break
        fields = line.split()
        if fields and all(f.isdigit() for f in fields):
            rows.append([int(f) for f in fields])
    return rows


def _jobs(text: str, renewable: int) -> dict[int, _Job]:
    jobs: dict[int, _Job] = {}
    for row in _section(text, "PRECEDENCE RELATIONS:"):
        number, modes, count = row[0], row[1], row[2]
        if modes != 1:
            raise PsplibError(f"job {number} has {modes} modes (single-mode .sm files only)")
        if len(row) != 3 + count:
            raise PsplibError(f"job {number} announces {count} successors but lists {len(row) - 3}")
        jobs[number] = _Job(number, successors=row[3:])
    for row in _section(text, "REQUESTS/DURATIONS:"):
        if len(row) != 3 + renewable:
            raise PsplibError(f"job {row[0]}: expected {3 + renewable} numbers in REQUESTS/DURATIONS, got {len(row)}")
        if row[0] not in jobs:
            raise PsplibError(f"job {row[0]} has a duration but no precedence line")
        jobs[row[0]].duration, jobs[row[0]].requests = row[2], row[3:]
    unknown = {s for job in jobs.values() for s in job.successors} - set(jobs)
    if unknown:
        raise PsplibError(f"successors {sorted(unknown)} are not jobs")
    return jobs


def _availabilities(text: str, renewable: int) -> list[int]:
    rows = _section(text, "RESOURCEAVAILABILITIES:")
    if len(rows) != 1 or len(rows[0]) < renewable:
        raise PsplibError("RESOURCEAVAILABILITIES: expected one row of availabilities")
    return rows[0][:renewable]


def _contracted_predecessors(jobs: dict[int, _Job]) -> dict[int, list[int]]:
    """Direct predecessors among jobs of positive duration, looking through zero-duration jobs."""
    direct: dict[int, set[int]] = {number: set() for number in jobs}
    for job in jobs.values():
        for successor in job.successors:
            direct[successor].add(job.number)
    resolved: dict[int, list[int]] = {}

    def real(number: int, seen: frozenset[int]) -> set[int]:
        """Positive-duration jobs that ``number`` waits for, directly or through zero-duration jobs."""
        if number in seen:
            raise PsplibError(f"precedence cycle through job {number}")
        out: set[int] = set()
        for p in direct[number]:
            out |= {p} if jobs[p].duration > 0 else real(p, seen | {number})
        return out

    for number, job in jobs.items():
        if job.duration > 0:
            resolved[number] = sorted(real(number, frozenset()))
    return resolved

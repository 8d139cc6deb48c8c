"""PSPLIB j30 import: every job, resource, capacity, duration and arc of the file arrives.

The expected values are read from the files here by a deliberately naive parser
(fixed section order of the j30 files), independent of :mod:`models.psplib`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from models.problem import parse_problem
from models.psplib import PsplibError, known_optimum, load_sm, parse_sm

SAMPLES = ["j301_1", "j3010_5", "j3025_7", "j3048_10"]


def _naive(path: Path) -> dict:
    """Durations, requests, successors and availabilities of a j30 file, by line position."""
    lines = path.read_text().splitlines()
    start = lines.index("PRECEDENCE RELATIONS:") + 2
    successors = {int(f[0]): [int(x) for x in f[3:]] for f in (lines[i].split() for i in range(start, start + 32))}
    start = lines.index("REQUESTS/DURATIONS:") + 3
    rows = [[int(x) for x in lines[i].split()] for i in range(start, start + 32)]
    availability = [int(x) for x in lines[lines.index("RESOURCEAVAILABILITIES:") + 2].split()]
    horizon = int(next(line for line in lines if line.startswith("horizon")).split(":")[1])
    return {
        "successors": successors,
        "duration": {r[0]: r[2] for r in rows},
        "requests": {r[0]: r[3:] for r in rows},
        "availability": availability,
        "horizon": horizon,
    }


@pytest.mark.parametrize("name", SAMPLES)
def test_file_maps_to_problem(name: str, psplib_dir: Path) -> None:
    path = psplib_dir / "j30" / f"{name}.sm"
    expected = _naive(path)
    problem = load_sm(path)

    assert problem.name == name
    assert problem.objective.kind == "makespan"
    assert problem.horizon.start == "2000-01" and problem.horizon.months == expected["horizon"]
    assert problem.roles == ["R1", "R2", "R3", "R4"]
    assert not problem.flex and not problem.services and not problem.regional_roles
    assert problem.budget.total is None and not problem.budget.per_year

    for k, role in enumerate(problem.roles):
        people = [p for p in problem.staff if p.role == role]
        assert len(people) == expected["availability"][k]
        assert all(p.fte == 1.0 and p.monthly_cost == 0 and not p.skills and not p.leave for p in people)
        assert all(p.max_concurrent_trials == expected["availability"][k] for p in people)

    assert [t.id for t in problem.trials] == [f"J{j}" for j in range(2, 32)]
    for trial in problem.trials:
        job = int(trial.id[1:])
        assert trial.mandatory and [o.id for o in trial.options] == ["single"]
        (stage,) = trial.options[0].stages
        assert stage.months == expected["duration"][job]
        wanted = {f"R{k + 1}": float(q) for k, q in enumerate(expected["requests"][job]) if q}
        assert stage.demand == wanted

    arcs = {(a, b) for a, succ in expected["successors"].items() for b in succ if a != 1 and b != 32}
    imported = {(int(p.trial[1:]), int(t.id[1:])) for t in problem.trials for p in t.predecessors}
    assert imported == arcs
    assert all(p.lag == 0 for t in problem.trials for p in t.predecessors)
    for first in expected["successors"][1]:
        assert not next(t for t in problem.trials if t.id == f"J{first}").predecessors

    assert parse_problem(problem.model_dump()) == problem


def test_every_j30_file_imports(psplib_dir: Path) -> None:
    files = sorted((psplib_dir / "j30").glob("*.sm"))
    assert len(files) == 480
    for path in files:
        problem = load_sm(path)
        assert len(problem.trials) == 30 and len(problem.roles) == 4
        assert problem.horizon.months == sum(t.options[0].duration for t in problem.trials)


def test_known_optimum(psplib_dir: Path) -> None:
    assert known_optimum("j301_1") == 43
    assert known_optimum("j3048_10.sm") == 54
    with open(psplib_dir / "j30-optimum.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 480
    assert all(known_optimum(row["instance"]) == int(row["optimal_makespan"]) for row in rows)
    with pytest.raises(KeyError):
        known_optimum("j999_1")


def _edit(text: str, job: int, duration: int) -> str:
    """``text`` with the duration of ``job`` in REQUESTS/DURATIONS replaced."""
    lines = text.splitlines()
    start = lines.index("REQUESTS/DURATIONS:") + 3
    for i in range(start, len(lines)):
        fields = lines[i].split()
        if fields and fields[0] == str(job):
            fields[2] = str(duration)
            lines[i] = "  ".join(fields)
    return "\n".join(lines)


def test_zero_duration_job_is_contracted(psplib_dir: Path) -> None:
    """A real job of duration 0 (none in j30) disappears; its predecessors pass to its successors.

    In j301_1 job 5 follows job 4 and precedes job 20, which also follows jobs 11 and 18."""
    text = (psplib_dir / "j30" / "j301_1.sm").read_text()
    problem = parse_sm(_edit(text, 5, 0), name="j301_1-zero")
    ids = [t.id for t in problem.trials]
    assert "J5" not in ids and len(ids) == 29
    j20 = next(t for t in problem.trials if t.id == "J20")
    assert sorted(p.trial for p in j20.predecessors) == ["J11", "J18", "J4"]
    assert problem.horizon.months == 158  # the file's horizon still bounds the shorter sum
    parse_problem(problem.model_dump())


def test_horizon_grows_when_durations_need_it(psplib_dir: Path) -> None:
    text = (psplib_dir / "j30" / "j301_1.sm").read_text().replace("horizon                       :  158", "horizon : 10")
    assert parse_sm(text).horizon.months == 158


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  - nonrenewable              :  0   N", "  - nonrenewable              :  2   N", "nonrenewable"),
        ("   2        1          3           6  11  15", "   2        2          3           6  11  15", "modes"),
        ("   2        1          3           6  11  15", "   2        1          3           6  11  99", "not jobs"),
        ("RESOURCEAVAILABILITIES:", "RESOURCES AVAILABLE:", "RESOURCEAVAILABILITIES"),
    ],
)
def test_malformed_files_are_refused(old: str, new: str, message: str, psplib_dir: Path) -> None:
    text = (psplib_dir / "j30" / "j301_1.sm").read_text()
    assert old in text
    with pytest.raises(PsplibError, match=message):
        parse_sm(text.replace(old, new))

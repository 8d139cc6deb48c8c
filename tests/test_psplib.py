"""PSPLIB import: every job, resource, capacity, duration and arc of the file arrives,
for every single-mode size (j30, j60, j90, j120).

The expected values are read from the files here by a deliberately naive parser
(fixed section order of the .sm files), independent of :mod:`models.tools.psplib`, and
schedules are checked against precedences and capacities by a naive loop over months.
"""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import pytest

from models.contract.problem import Horizon
from models.contract.validation import parse_problem
from models.tools.psplib import MAX_MONTHS, PsplibError, generate_sm, known_optimum, load_sm, parse_sm, serial_schedule

SAMPLES = ["j301_1", "j3010_5", "j3025_7", "j3048_10"]
DATA = Path(__file__).resolve().parent.parent / "data" / "psplib"
#: The instances shipped in data/psplib: name -> non-dummy jobs.
SHIPPED = {
    "gen-j60-1": 60,
    "gen-j60-2": 60,
    "gen-j90-1": 90,
    "gen-j90-2": 90,
    "gen-j120-1": 120,
    "gen-j120-2": 120,
    "j1201_1": 120,
}
#: The generator's arguments of each generated file (as its README and header say).
GENERATED = {
    "gen-j60-1": (60, 601, 1.5, 0.5, 0.5),
    "gen-j60-2": (60, 602, 1.8, 1.0, 0.2),
    "gen-j90-1": (90, 901, 1.5, 0.5, 0.5),
    "gen-j90-2": (90, 902, 2.1, 0.75, 0.3),
    "gen-j120-1": (120, 1201, 1.5, 0.25, 0.5),
    "gen-j120-2": (120, 1202, 1.8, 0.5, 0.2),
}


def _naive(path: Path) -> dict:
    """Durations, requests, successors and availabilities of a .sm file, by line position."""
    lines = path.read_text().splitlines()
    jobs = int(next(line for line in lines if line.startswith("jobs (incl.")).split(":")[1])
    start = lines.index("PRECEDENCE RELATIONS:") + 2
    successors = {int(f[0]): [int(x) for x in f[3:]] for f in (lines[i].split() for i in range(start, start + jobs))}
    start = lines.index("REQUESTS/DURATIONS:") + 3
    rows = [[int(x) for x in lines[i].split()] for i in range(start, start + jobs)]
    availability = [int(x) for x in lines[lines.index("RESOURCEAVAILABILITIES:") + 2].split()]
    horizon = int(next(line for line in lines if line.startswith("horizon")).split(":")[1])
    return {
        "jobs": jobs,
        "successors": successors,
        "duration": {r[0]: r[2] for r in rows},
        "requests": {r[0]: r[3:] for r in rows},
        "availability": availability,
        "horizon": horizon,
    }


def _schedule_errors(starts: dict[int, int], expected: dict) -> list[str]:
    """Precedence and capacity violations of job start times (months), checked month by month."""
    errors = []
    duration, requests = expected["duration"], expected["requests"]
    real = {j for j, d in duration.items() if d > 0}

    def real_successors(job: int, seen: frozenset[int] = frozenset()) -> set[int]:
        out: set[int] = set()
        for s in expected["successors"][job]:
            out |= {s} if s in real else real_successors(s, seen | {job})
        return out

    for a in real:
        for b in real_successors(a):
            if starts[b] < starts[a] + duration[a]:
                errors.append(f"job {b} starts {starts[b]} before job {a} ends {starts[a] + duration[a]}")
    end = max(starts[j] + duration[j] for j in real)
    for month in range(end):
        for k, cap in enumerate(expected["availability"]):
            use = sum(requests[j][k] for j in real if starts[j] <= month < starts[j] + duration[j])
            if use > cap:
                errors.append(f"R{k + 1} uses {use} > {cap} in month {month}")
    return errors


def _plan_starts(problem) -> dict[int, int]:
    """The quick schedule behind a problem's horizon, recomputed from the problem itself."""
    durations = {int(t.id[1:]): t.options[0].duration for t in problem.trials}
    requests = {
        int(t.id[1:]): [int(t.options[0].stages[0].demand.get(r, 0)) for r in problem.roles] for t in problem.trials
    }
    capacities = [sum(1 for p in problem.staff if p.role == r) for r in problem.roles]
    predecessors = {int(t.id[1:]): [int(p.trial[1:]) for p in t.predecessors] for t in problem.trials}
    return serial_schedule(durations, requests, capacities, predecessors)


def _check_mapping(problem, expected: dict) -> None:
    jobs = expected["jobs"]
    roles = [f"R{k + 1}" for k in range(len(expected["availability"]))]
    assert problem.objective.kind == "makespan"
    assert problem.horizon.start == "2000-01"
    assert problem.roles == roles
    assert not problem.flex and not problem.services and not problem.regional_roles
    assert problem.budget.total is None and not problem.budget.per_year

    for k, role in enumerate(problem.roles):
        people = [p for p in problem.staff if p.role == role]
        assert len(people) == expected["availability"][k]
        assert all(p.fte == 1.0 and p.monthly_cost == 0 and not p.skills and not p.leave for p in people)
        assert all(p.max_concurrent_trials == expected["availability"][k] for p in people)

    assert [t.id for t in problem.trials] == [f"J{j}" for j in range(2, jobs)]
    for trial in problem.trials:
        job = int(trial.id[1:])
        assert trial.mandatory and [o.id for o in trial.options] == ["single"]
        (stage,) = trial.options[0].stages
        assert stage.months == expected["duration"][job]
        wanted = {f"R{k + 1}": float(q) for k, q in enumerate(expected["requests"][job]) if q}
        assert stage.demand == wanted

    arcs = {(a, b) for a, succ in expected["successors"].items() for b in succ if a != 1 and b != jobs}
    imported = {(int(p.trial[1:]), int(t.id[1:])) for t in problem.trials for p in t.predecessors}
    assert imported == arcs
    assert all(p.lag == 0 for t in problem.trials for p in t.predecessors)
    for first in expected["successors"][1]:
        assert not next(t for t in problem.trials if t.id == f"J{first}").predecessors

    # the horizon is the makespan of a feasible schedule: at least the critical path,
    # at most the file's horizon (the sum of the durations), inside PACE's limit
    starts = _plan_starts(problem)
    assert _schedule_errors(starts, expected) == []
    assert problem.horizon.months == max(starts[int(t.id[1:])] + t.options[0].duration for t in problem.trials)
    assert problem.horizon.months <= min(expected["horizon"], MAX_MONTHS)
    assert parse_problem(problem.model_dump()) == problem


@pytest.mark.parametrize("name", SAMPLES)
def test_file_maps_to_problem(name: str, psplib_dir: Path) -> None:
    path = psplib_dir / "j30" / f"{name}.sm"
    problem = load_sm(path)
    assert problem.name == name
    _check_mapping(problem, _naive(path))
    assert problem.horizon.months >= known_optimum(name)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_size_maps_to_problem(name: str) -> None:
    """j60, j90 and j120 (sum of durations above PACE's 240 months in every PSPLIB file) import."""
    path = DATA / f"{name}.sm"
    expected = _naive(path)
    assert expected["jobs"] - 2 == SHIPPED[name]
    problem = load_sm(path)
    assert problem.name == name and len(problem.trials) == SHIPPED[name]
    _check_mapping(problem, expected)


def test_shipped_sizes_need_the_quick_schedule() -> None:
    """Without it the files' own horizons (sums of durations) would not fit PACE's horizon."""
    horizons = {name: _naive(DATA / f"{name}.sm")["horizon"] for name in SHIPPED}
    assert all(h > MAX_MONTHS for h in horizons.values()), horizons
    with pytest.raises(ValueError):
        Horizon(start="2000-01", months=horizons["j1201_1"])


def test_real_j120_instance_is_psplibs_j1201_1() -> None:
    """data/psplib/j1201_1.sm: PSPLIB's j1201_1 (122 jobs, NC 1.5, RF 0.25), spot-checked."""
    expected = _naive(DATA / "j1201_1.sm")
    assert expected["availability"] == [14, 12, 13, 9]
    assert expected["horizon"] == sum(expected["duration"].values()) == 667
    assert expected["successors"][1] == [2, 3, 4] and expected["successors"][2] == [12, 65, 75]
    assert expected["duration"][2] == 6 and expected["requests"][2] == [9, 0, 0, 0]
    assert expected["duration"][121] == 9 and expected["requests"][121] == [6, 0, 0, 0]
    assert sum(len(s) for s in expected["successors"].values()) == 183  # NC = 183 / 122 = 1.5
    assert all(sum(1 for q in r if q) == 1 for j, r in expected["requests"].items() if 1 < j < 122)  # RF 0.25


def test_every_j30_file_imports(psplib_dir: Path) -> None:
    files = sorted((psplib_dir / "j30").glob("*.sm"))
    assert len(files) == 480
    for path in files:
        problem = load_sm(path)
        assert len(problem.trials) == 30 and len(problem.roles) == 4
        total = sum(t.options[0].duration for t in problem.trials)
        assert known_optimum(path.stem) <= problem.horizon.months <= total


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_files_are_reproducible(name: str) -> None:
    jobs, seed, nc, rf, rs = GENERATED[name]
    text = generate_sm(jobs, seed, nc, rf, rs, name=f"{name} (models.tools.psplib.generate_sm({jobs}, {seed}, {nc}, {rf}, {rs}))")
    assert text == (DATA / f"{name}.sm").read_text()


@pytest.mark.parametrize(("jobs", "nc", "rf", "rs"), [(30, 1.5, 0.25, 0.2), (60, 1.8, 0.5, 0.5), (90, 2.1, 1.0, 0.7), (120, 1.8, 0.75, 0.3)])
def test_generator_follows_progen_rules(jobs: int, nc: float, rf: float, rs: float, tmp_path: Path) -> None:
    path = tmp_path / "g.sm"
    path.write_text(generate_sm(jobs, 7, nc, rf, rs))
    e = _naive(path)
    n = jobs + 2
    succ = e["successors"]
    pred: dict[int, list[int]] = {j: [] for j in succ}
    for a, bs in succ.items():
        for b in bs:
            assert b > a
            pred[b].append(a)
    assert succ[1] == [2, 3, 4] and sorted(pred[n]) == [n - 3, n - 2, n - 1]
    assert all(pred[j] for j in range(2, n + 1)) and all(succ[j] for j in range(1, n))
    assert all(len(succ[j]) <= 3 and len(pred[j]) <= 3 for j in range(2, n))
    assert abs(sum(len(s) for s in succ.values()) - round(nc * n)) <= 0.1 * n
    # no redundant arc: no arc a -> b that is also a longer path a -> ... -> b
    for a in succ:
        for b in succ[a]:
            stack, seen = [s for s in succ[a] if s != b], set()
            while stack:
                v = stack.pop()
                assert v != b, f"arc {a}->{b} is redundant"
                if v not in seen:
                    seen.add(v)
                    stack.extend(succ[v])
    uses = max(1, round(rf * 4))
    assert all(sum(1 for q in e["requests"][j] if q) == uses for j in range(2, n))
    assert all(1 <= e["duration"][j] <= 10 for j in range(2, n))
    assert all(e["availability"][k] >= max(e["requests"][j][k] for j in range(2, n)) for k in range(4))
    assert generate_sm(jobs, 7, nc, rf, rs) == path.read_text()
    assert generate_sm(jobs, 8, nc, rf, rs) != path.read_text()


@pytest.mark.parametrize("seed", range(20))
def test_serial_schedule_is_feasible(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    path = tmp_path / "r.sm"
    path.write_text(generate_sm(rng.choice([30, 60]), seed, rng.choice([1.5, 1.8, 2.1]), rng.choice([0.25, 0.5, 1.0]),
                                rng.choice([0.2, 0.5])))
    expected = _naive(path)
    problem = load_sm(path)
    starts = _plan_starts(problem)
    assert _schedule_errors(starts, expected) == []
    assert problem.horizon.months == max(starts[j] + expected["duration"][j] for j in starts)


def test_quick_schedule_is_close_to_the_optimum_on_j30(psplib_dir: Path) -> None:
    """The horizon stays small (the time-indexed model with it): measured 2.0 % above the
    proven optimum on average over j30, 319 of 480 at it, at most 16.9 % above."""
    with open(psplib_dir / "j30-optimum.csv", newline="") as handle:
        optimum = {row["instance"]: int(row["optimal_makespan"]) for row in csv.DictReader(handle)}
    excess = [load_sm(psplib_dir / "j30" / f"{name}.sm").horizon.months / optimum[name] - 1 for name in sorted(optimum)[::8]]
    assert max(excess) <= 0.25 and sum(excess) / len(excess) <= 0.05


def test_instance_needing_more_than_240_months_is_refused() -> None:
    text = generate_sm(120, 0, 1.5, 1.0, 0.1)  # its quick schedule takes 275 months
    with pytest.raises(PsplibError, match=r"takes \d+ months; PACE plans at most 240 months"):
        parse_sm(text)


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
    assert problem.horizon.months <= 158 - 3  # at most the sum of the remaining durations
    parse_problem(problem.model_dump())


def test_horizon_does_not_depend_on_the_files_horizon_line(psplib_dir: Path) -> None:
    text = (psplib_dir / "j30" / "j301_1.sm").read_text()
    short = text.replace("horizon                       :  158", "horizon : 10")
    assert short != text
    assert parse_sm(short).horizon.months == parse_sm(text).horizon.months


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  - nonrenewable              :  0   N", "  - nonrenewable              :  2   N", "nonrenewable"),
        ("   2        1          3           6  11  15", "   2        2          3           6  11  15", "modes"),
        ("   2        1          3           6  11  15", "   2        1          3           6  11  99", "not jobs"),
        ("RESOURCEAVAILABILITIES:", "RESOURCES AVAILABLE:", "RESOURCEAVAILABILITIES"),
        ("   12   13    4   12", "   12   13    1   12", r"job 26 requests 4 of resource R3, of which only 1 exist"),
    ],
)
def test_malformed_files_are_refused(old: str, new: str, message: str, psplib_dir: Path) -> None:
    text = (psplib_dir / "j30" / "j301_1.sm").read_text()
    assert old in text
    with pytest.raises(PsplibError, match=message):
        parse_sm(text.replace(old, new))


def test_readme_names_every_shipped_file() -> None:
    readme = (DATA / "README.md").read_text()
    assert set(re.findall(r"`([\w-]+)\.sm`", readme)) == set(SHIPPED)

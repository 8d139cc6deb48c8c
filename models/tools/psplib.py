"""PSPLIB single-mode RCPSP instances (``.sm`` files) as PACE problems (SPEC §6).

PSPLIB (Kolisch & Sprecher 1997) is the public yardstick for the scheduling core: the
j30 set has proven optimal makespans for all 480 instances; j60, j90 (480 each) and
j120 (600) have the same format. The mapping:

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
- the horizon starts in ``2000-01`` and has as many months as the shortest of a few
  quick feasible schedules (:func:`serial_schedule`: the serial schedule generation
  scheme under five priority rules) takes. Any feasible schedule's makespan admits the
  optimum, and it keeps every size inside PACE's 240-month horizon, which the file's
  own ``horizon`` (the sum of all durations, durations being 1-10) exceeds from 60 jobs
  up: about 330, 500 and 660 months for j60, j90 and j120 (667 for j1201_1; 158 for
  j301_1);
- objective ``makespan``.

Jobs of duration 0 cannot be trials (a stage lasts at least a month) and use no time, so
they are contracted: each predecessor of such a job becomes a predecessor of each of its
successors. This drops the dummy source and sink (jobs 1 and N) and would handle any
other zero-duration job the same way; none exists in j30 (all 480 files checked).
Nonrenewable and doubly constrained resources (not used by the single-mode sets) are
rejected, and so is a job requesting more of a resource than is available (no schedule
exists) or an instance whose quick schedule needs more than 240 months.

:func:`generate_sm` writes seeded ProGen-like instances in the same format (see
``data/psplib/README.md``): no j60/j90 file of PSPLIB itself is in this repository.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.contract.problem import (
    ExecutionOption,
    Horizon,
    Objective,
    Predecessor,
    Problem,
    Service,
    Stage,
    Staff,
    Trial,
)

HORIZON_START = "2000-01"
MAX_MONTHS: int = next(m.le for m in Horizon.model_fields["months"].metadata if hasattr(m, "le"))
"""PACE's longest horizon (``Horizon.months``): a quick schedule must fit in it."""
OPTIMUM_CSV = Path(__file__).resolve().parents[2] / "data" / "psplib" / "j30-optimum.csv"
"""Default location of the proven optimal makespans of j30 (``data/psplib``, beside the j30 set)."""


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
    _number(text, r"horizon\s*:\s*(\d+)", "horizon")
    renewable = _number(text, r"-\s*renewable\s*:\s*(\d+)", "renewable resources")
    for kind in ("nonrenewable", "doubly constrained"):
        if _number(text, rf"-\s*{kind}\s*:\s*(\d+)", f"{kind} resources") > 0:
            raise PsplibError(f"{kind} resources are not supported (single-mode renewable RCPSP only)")
    jobs = _jobs(text, renewable)
    capacities = _availabilities(text, renewable)
    roles = [f"R{k + 1}" for k in range(renewable)]

    predecessors = _contracted_predecessors(jobs)
    real = {number: job for number, job in jobs.items() if job.duration > 0}
    for job in real.values():
        for k, (q, cap) in enumerate(zip(job.requests, capacities)):
            if q > cap:
                raise PsplibError(f"job {job.number} requests {q} of resource R{k + 1}, of which only {cap} exist")
    starts = serial_schedule(
        {n: j.duration for n, j in real.items()},
        {n: j.requests for n, j in real.items()},
        capacities,
        predecessors,
    )
    months = max((starts[n] + real[n].duration for n in real), default=1)
    if months > MAX_MONTHS:
        raise PsplibError(
            f"the quickest schedule found takes {months} months; PACE plans at most {MAX_MONTHS} months"
        )
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
        for job in real.values()
    ]
    return scheduling_problem(name, months, roles, capacities, trials)


def scheduling_problem(
    name: str, months: int, roles: list[str], capacities: Sequence[int], trials: list[Trial], services: Sequence[Service] = ()
) -> Problem:
    """A PSPLIB instance as a problem: each renewable resource a role of ``capacity`` people
    of FTE 1.0 at no cost, objective makespan (the single- and multi-mode mappings alike)."""
    staff = [
        Staff(id=f"{role}-{i + 1:02d}", role=role, fte=1.0, monthly_cost=0.0, max_concurrent_trials=max(1, capacity))
        for role, capacity in zip(roles, capacities)
        for i in range(capacity)
    ]
    return Problem(
        name=name,
        horizon=Horizon(start=HORIZON_START, months=max(1, months)),
        roles=roles,
        staff=staff,
        services=list(services),
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


# -- a quick feasible schedule -----------------------------------------------------------

#: Priority rules of the serial schedule generation scheme (Kolisch 1996): among the jobs
#: whose predecessors are all scheduled, the one with the smallest key goes next.
#: LFT/LST: latest finish/start in the precedence-only schedule of length "sum of
#: durations"; MTS: most total successors; GRPW: greatest rank positional weight
#: (own duration plus direct successors'); SPT: shortest processing time.
PRIORITY_RULES = ("LFT", "LST", "MTS", "GRPW", "SPT")


def serial_schedule(
    durations: Mapping[int, int],
    requests: Mapping[int, Sequence[int]],
    capacities: Sequence[int],
    predecessors: Mapping[int, Sequence[int]],
) -> dict[int, int]:
    """Start times of a feasible schedule: the shortest of the serial schedule generation
    scheme under each rule of :data:`PRIORITY_RULES`.

    Each job (duration >= 1, requests per resource) starts at the earliest time after its
    predecessors' finishes at which its requests fit the resources left in every period
    it runs; ties in a rule go to the lower job number, so the result is deterministic.
    Every request must be at most the capacity (else no schedule exists: ValueError).
    """
    if not durations:
        return {}
    for n, need in requests.items():
        if any(q > cap for q, cap in zip(need, capacities)):
            raise ValueError(f"job {n} requests {list(need)}, more than the capacities {list(capacities)}")
    predecessors = {n: list(predecessors.get(n, ())) for n in durations}
    successors: dict[int, list[int]] = {n: [] for n in durations}
    for n, preds in predecessors.items():
        for p in preds:
            successors[p].append(n)
    order = _topological(durations, predecessors)
    bound = sum(durations.values())
    latest_finish: dict[int, int] = {}
    for n in reversed(order):
        latest_finish[n] = min((latest_finish[s] - durations[s] for s in successors[n]), default=bound)
    reach: dict[int, int] = {}  # bitset of all (transitive) successors
    index = {n: i for i, n in enumerate(order)}
    for n in reversed(order):
        bits = 0
        for s in successors[n]:
            bits |= reach[s] | (1 << index[s])
        reach[n] = bits
    keys: dict[str, Callable[[int], tuple[int, int]]] = {
        "LFT": lambda n: (latest_finish[n], n),
        "LST": lambda n: (latest_finish[n] - durations[n], n),
        "MTS": lambda n: (-reach[n].bit_count(), n),
        "GRPW": lambda n: (-(durations[n] + sum(durations[s] for s in successors[n])), n),
        "SPT": lambda n: (durations[n], n),
    }
    best: dict[int, int] | None = None
    best_makespan = 0
    for rule in PRIORITY_RULES:
        starts = _serial_sgs(durations, requests, capacities, predecessors, successors, keys[rule])
        starts = _justified(starts, durations, requests, capacities, predecessors, successors)
        makespan = max(starts[n] + durations[n] for n in durations)
        if best is None or makespan < best_makespan:
            best, best_makespan = starts, makespan
    assert best is not None
    return best


def _justified(
    starts: dict[int, int],
    durations: Mapping[int, int],
    requests: Mapping[int, Sequence[int]],
    capacities: Sequence[int],
    predecessors: Mapping[int, Sequence[int]],
    successors: Mapping[int, Sequence[int]],
    rounds: int = 10,
) -> dict[int, int]:
    """Forward-backward improvement (double justification, Valls, Ballestin & Quintanilla
    2005): schedule the jobs backwards, latest finish first, then forwards again, earliest
    start first. Each pass is a serial schedule whose list follows a feasible schedule, so
    the makespan never grows; repeated while it shrinks."""
    def span(schedule: Mapping[int, int]) -> int:
        return max(schedule[n] + durations[n] for n in durations)

    best = starts
    for _ in range(rounds):
        finish = {n: best[n] + durations[n] for n in durations}
        back = _serial_sgs(durations, requests, capacities, successors, predecessors, lambda n: (-finish[n], n))
        back_span = span(back)
        right = {n: back_span - back[n] - durations[n] for n in durations}
        forward = _serial_sgs(durations, requests, capacities, predecessors, successors, lambda n: (right[n], n))
        if span(forward) >= span(best):
            break
        best = forward
    return best


def _topological(durations: Mapping[int, int], predecessors: Mapping[int, Sequence[int]]) -> list[int]:
    waiting = {n: len(predecessors.get(n, ())) for n in durations}
    successors: dict[int, list[int]] = {n: [] for n in durations}
    for n in durations:
        for p in predecessors.get(n, ()):
            successors[p].append(n)
    ready = sorted(n for n, w in waiting.items() if w == 0)
    order: list[int] = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for s in successors[n]:
            waiting[s] -= 1
            if waiting[s] == 0:
                ready.append(s)
        ready.sort()
    if len(order) != len(durations):
        raise PsplibError("precedence cycle among the jobs")
    return order


def _serial_sgs(
    durations: Mapping[int, int],
    requests: Mapping[int, Sequence[int]],
    capacities: Sequence[int],
    predecessors: Mapping[int, Sequence[int]],
    successors: Mapping[int, Sequence[int]],
    key: Callable[[int], tuple[int, int]],
) -> dict[int, int]:
    horizon = sum(durations.values())
    free = [[c] * horizon for c in capacities]
    waiting = {n: len(predecessors.get(n, ())) for n in durations}
    eligible = {n for n, w in waiting.items() if w == 0}
    starts: dict[int, int] = {}
    while eligible:
        n = min(eligible, key=key)
        eligible.remove(n)
        d, need = durations[n], requests[n]
        t = max((starts[p] + durations[p] for p in predecessors.get(n, ())), default=0)
        while any(q and min(free[k][t : t + d]) < q for k, q in enumerate(need)):
            t += 1
        for k, q in enumerate(need):
            if q:
                row = free[k]
                for u in range(t, t + d):
                    row[u] -= q
        starts[n] = t
        for s in successors[n]:
            waiting[s] -= 1
            if waiting[s] == 0:
                eligible.add(s)
    return starts


# -- seeded ProGen-like instances --------------------------------------------------------


def generate_sm(
    jobs: int,
    seed: int,
    network_complexity: float = 1.5,
    resource_factor: float = 0.5,
    resource_strength: float = 0.5,
    resources: int = 4,
    name: str | None = None,
) -> str:
    """A single-mode RCPSP instance in PSPLIB's ``.sm`` format, drawn like ProGen's.

    It follows the generator behind PSPLIB (Kolisch, Sprecher & Drexl 1995, "Characterization
    and generation of a general class of resource-constrained project scheduling problems",
    Management Science 41(10)) with the parameters of the j30-j120 sets, everything drawn
    from ``random.Random(seed)`` in a fixed order (same arguments, same text):

    - ``jobs`` non-dummy jobs between a dummy source (job 1) and sink (job ``jobs + 2``),
      durations uniform in 1..10;
    - a network with 3 start and 3 finish jobs, at most 3 successors and 3 predecessors per
      job, every job on a path from source to sink, no redundant arc, and
      ``network_complexity`` x (``jobs`` + 2) arcs (dummy arcs included) as closely as those
      rules allow (PSPLIB: 1.5, 1.8, 2.1);
    - ``resources`` renewable resources; each job requests ``round(resource_factor x
      resources)`` of them (at least one, PSPLIB: factor 0.25-1), 1..10 units each;
    - availability ``K_min + round(resource_strength x (K_max - K_min))`` per resource,
      ``K_min`` the largest single request and ``K_max`` the peak use of the earliest-start
      schedule (PSPLIB: strength 0.2-0.7, 0.1-0.5 for j120);
    - horizon = sum of durations, due date = critical path length, tardiness cost 0.
    """
    if jobs < 6:
        raise ValueError("generate_sm needs at least 6 jobs (3 start and 3 finish jobs)")
    rng = random.Random(seed)
    n = jobs
    source, sink = 1, n + 2
    real = list(range(2, n + 2))
    duration = {j: rng.randint(1, 10) for j in real}
    duration[source] = duration[sink] = 0
    start_jobs, finish_jobs = real[:3], real[-3:]
    most = 3
    succ: dict[int, set[int]] = {j: set() for j in range(1, n + 3)}
    pred: dict[int, set[int]] = {j: set() for j in range(1, n + 3)}

    def link(a: int, b: int) -> None:
        succ[a].add(b)
        pred[b].add(a)

    for j in start_jobs:
        link(source, j)
    for j in finish_jobs:
        link(j, sink)
    # every non-start job gets a predecessor among earlier, non-finish jobs
    for j in real[3:]:
        choices = [i for i in real if i < j and i not in finish_jobs and len(succ[i]) < most]
        link(rng.choice(choices or [i for i in real if i < j and i not in finish_jobs]), j)
    # every non-finish job gets a successor among later, non-start jobs; where all of them
    # already have the most predecessors, one takes over the arc of a predecessor that has
    # other successors (and only if neither works, the limit or redundancy gives way)
    for i in reversed(real):  # the latest first: they have the fewest jobs to choose from
        if i in finish_jobs or succ[i]:
            continue
        later = [j for j in real if j > i and j not in start_jobs]
        rng.shuffle(later)
        target_job = next((j for j in later if len(pred[j]) < most and not _redundant(i, j, succ, pred)), None)
        if target_job is None:
            for j in later:
                donors = sorted(p for p in pred[j] if len(succ[p]) > 1 and not _redundant(i, j, succ, pred, p))
                if donors:
                    donor = rng.choice(donors)
                    succ[donor].discard(j)
                    pred[j].discard(donor)
                    target_job = j
                    break
        if target_job is None:
            target_job = min(later, key=lambda j: len(pred[j]))
        link(i, target_job)
    # more arcs, none redundant, until the wanted complexity
    target = round(network_complexity * (n + 2))
    arcs = sum(len(v) for v in succ.values())
    tries = 0
    while arcs < target and tries < 200 * n:
        tries += 1
        i = rng.choice(real[:-3])
        j = rng.choice([x for x in real if x > i and x not in start_jobs] or [sink])
        if j == sink or j in succ[i] or len(succ[i]) >= most or len(pred[j]) >= most:
            continue
        if _redundant(i, j, succ, pred):
            continue
        link(i, j)
        arcs += 1
    # requests
    uses = max(1, min(resources, round(resource_factor * resources)))
    request = {source: [0] * resources, sink: [0] * resources}
    for j in real:
        chosen = set(rng.sample(range(resources), uses))
        request[j] = [rng.randint(1, 10) if k in chosen else 0 for k in range(resources)]
    # availabilities from the earliest-start schedule
    early: dict[int, int] = {}
    for j in range(1, n + 3):
        early[j] = max((early[p] + duration[p] for p in pred[j]), default=0)
    length = max(early[j] + duration[j] for j in range(1, n + 3))
    capacity = []
    for k in range(resources):
        use = [0] * max(1, length)
        for j in real:
            for t in range(early[j], early[j] + duration[j]):
                use[t] += request[j][k]
        lo = max(request[j][k] for j in real)
        hi = max(use)
        capacity.append(lo + round(resource_strength * (hi - lo)))
    modes = {j: [(duration[j], request[j])] for j in duration}
    return format_psplib(name or f"generated j{n}", seed, n, {j: sorted(succ[j]) for j in succ}, modes, capacity, [], length)


def _redundant(
    i: int, j: int, succ: Mapping[int, set[int]], pred: Mapping[int, set[int]], without: int | None = None
) -> bool:
    """Whether arc i -> j would be implied by, or make redundant, an existing path (the
    arc ``without`` -> j left out, when it is about to be removed)."""
    def successors(v: int) -> set[int]:
        return succ[v] - {j} if v == without else succ[v]

    reach_i = _closure(i, successors)
    if j in reach_i:  # already i ->...-> j
        return True
    reach_j = _closure(j, successors) | {j}
    before_i = _closure(i, lambda v: pred[v] - {without} if v == j else pred[v]) | {i}
    # an existing arc a -> b with a before-or-at i and b after-or-at j becomes redundant
    return any(b in reach_j for a in before_i for b in successors(a) if not (a == i and b == j))


def _closure(start: int, edges: Callable[[int], set[int]]) -> set[int]:
    seen: set[int] = set()
    stack = list(edges(start))
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack.extend(edges(v))
    return seen


def format_psplib(
    basedata: str,
    seed: int,
    n: int,
    successors: Mapping[int, Sequence[int]],
    modes: Mapping[int, Sequence[tuple[int, Sequence[int]]]],
    capacity: Sequence[int],
    stock: Sequence[int],
    due: int,
) -> str:
    """PSPLIB's ``.sm`` and ``.mm`` layout (column widths as in the j30 files): ``modes[j]``
    lists job j's modes as (duration, renewable then non-renewable amounts); a ``.sm`` file
    is the case of one mode per job and no ``stock``. ``due`` is the project's due date
    and MPM time."""
    stars = "*" * 72
    r, m = len(capacity), len(stock)
    horizon = sum(max(d for d, _ in rows) for rows in modes.values())
    names = "".join(f"  R{k + 1:2d}" for k in range(r)) + "".join(f"  N{k + 1:2d}" for k in range(m))
    lines = [
        stars,
        f"file with basedata            : {basedata}",
        f"initial value random generator: {seed}",
        stars,
        "projects                      :  1",
        f"jobs (incl. supersource/sink ):  {n + 2}",
        f"horizon                       :  {horizon}",
        "RESOURCES",
        f"  - renewable                 :  {r}   R",
        f"  - nonrenewable              :  {m}   N",
        "  - doubly constrained        :  0   D",
        stars,
        "PROJECT INFORMATION:",
        "pronr.  #jobs rel.date duedate tardcost  MPM-Time",
        f"    1 {n:6d} {0:6d} {due:8d} {0:8d} {due:8d}",
        stars,
        "PRECEDENCE RELATIONS:",
        "jobnr.    #modes  #successors   successors",
    ]
    for j in range(1, n + 3):
        succ = "".join(f"{s:4d}" for s in successors[j])
        lines.append(f"{j:4d}{len(modes[j]):9d}{len(successors[j]):11d}        {succ}".rstrip())
    lines += [stars, "REQUESTS/DURATIONS:", "jobnr. mode duration" + names, "-" * 72]
    for j in range(1, n + 3):
        for index, (d, amounts) in enumerate(modes[j]):
            head = f"{j:3d}" if index == 0 else "   "
            lines.append(f"{head}{index + 1:7d}{d:6d}   " + "".join(f"{q:5d}" for q in amounts))
    lines += [stars, "RESOURCEAVAILABILITIES:", names, "".join(f"{c:5d}" for c in [*capacity, *stock]), stars]
    return "\n".join(lines) + "\n"


# -- reading the file ----------------------------------------------------------------------


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

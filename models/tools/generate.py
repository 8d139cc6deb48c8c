"""Seeded generator of realistic sample portfolios (SPEC §6).

``generate(staff, trials, months, seed, start)`` returns a :class:`~models.contract.problem.Problem`
that looks like the portfolio of a medical-dermatology sponsor run with a CRO in a
hybrid FSP/FSO model. Everything is drawn from one ``random.Random(seed)``, in a fixed
order, so the same arguments always give the same JSON. The reference instance
``data/pace-reference.json`` is ``generate(500, 30, 36, seed=7)``.

What is drawn, from what, and why it is realistic
-------------------------------------------------

Named pool (``staff`` people)
    Headcount per role is fixed by :data:`ROLE_SHARE` (largest-remainder rounding,
    at least one person per role): CRAs are the biggest group (30 %), then CTAs,
    data managers, start-up specialists and trial managers, as in an FSP contract
    where site monitoring is most of the work. Each person draws

    - FTE 1.0 (80 %), 0.8, 0.6 or 0.5 (part-timers are common in the pool);
    - a full-time monthly cost uniform in the role's EUR band (:data:`ROLE_COST`,
      fully loaded FSP rates), positioned in the band by region (North America at
      the top, APAC at the bottom) and charged pro rata to the FTE;
    - source ``sponsor`` with a role-dependent probability (medical monitors and
      regulatory mostly in-house, CRAs mostly CRO): about 30 % overall;
    - a region (EU 50 %, NA 30 %, APAC 20 %; for the regional roles CRA, SSU and
      CTA the mean of these shares and where the portfolio's and the mandatory
      trials' work is, because a CRO staffs monitors where the sites are);
    - 1 (40 %), 2 (40 %) or 3 (20 %) indication skills (medical monitors, who are
      dermatologists, 1/2/3 with 10/40/50 %); for CRAs and medical monitors, whose
      assignments require the trial's indication, the first skill is drawn from the
      mean of the base shares, the portfolio's demand per indication and the
      mandatory trials' demand per indication (the CRO staffed the pool for the
      work it has);
    - with probability 0.16 for CTA, PROG, CRA, CTM and MW (about 10 % of the pool)
      one typical secondary role (CTA->CRA, PROG->BIOS, CRA->SSU, CTM->CRA, MW->REG);
    - a late start (4 %) or an early departure (4 %) inside the horizon;
    - 0-2 leave months per calendar year (probabilities 35/45/20 %), July, August
      and December twice as likely;
    - a limit of 2-4 concurrent trials.

Trials (``trials`` of them)
    Phases I/II/III/IV in proportions 15/35/35/15 %. Each trial has four stages
    (start-up, enrolment, treatment, close-out) whose lengths are uniform in
    per-phase ranges (:data:`STAGE_MONTHS`) that add up to 8-14 months (phase I),
    14-24 (II), 20-30 (III) and 12-20 (IV). Sites and patients are uniform in
    per-phase ranges (:data:`SITES`, :data:`PATIENTS`). FTE demand per role and stage
    is a per-phase profile for a typical trial (:data:`DEMAND`: CRA demand in
    enrolment/treatment, SSU in start-up, DM/BIOS/PROG/MW peaking at close-out for
    database lock, analysis and the clinical study report), scaled by the trial's
    sites (CRA, SSU, CTA) or patients (DM, PROG, PV) relative to the typical trial.
    Value is uniform in per-phase EUR ranges (:data:`VALUE`, phase III highest).

    40 % are mandatory: 60 % of those are *ongoing* (already running when the
    horizon opens: the elapsed part, up to 60 % of the trial, is cut off; one
    ``standard`` option; start fixed at the horizon start) and the rest *committed*
    (full length, planned start uniform in the first six months as the earliest
    start, latest start 2-6 months later). Committed trials are not all put at the
    horizon start because their start-up peaks (SSU, REG) would then coincide, which
    no real portfolio plans. Optional trials are pipeline candidates with an earliest
    start uniform over the months in which their standard option still fits. An
    optional phase III trial takes, with probability 0.6, the mandatory phase II trial
    with the earliest readout as predecessor (same compound and indication, lag 2-4
    months), shortened within the phase III range to fit the horizon, when possible.
    Deadlines leave 0-2 (ongoing) or 1-6 months of slack after the standard option
    run from the earliest start, so they are achievable; the tardiness penalty per
    month is 0.8-1.5 % (mandatory) or 0.3-0.8 % (optional) of the value.

    Execution options: ``standard`` (named pool, some SMO-supported sites, CRO
    network sites for phase I and some later trials, central-lab kits); with
    probability 0.6 for phases II-IV ``dct-hybrid`` (enrolment 20-35 % shorter, CRA
    demand 25-40 % lower in enrolment/treatment, home/remote patient visits from the
    DCT service, fewer SMO sites); with probability 0.5 (0.3 for phase I)
    ``full-service`` (FSO: only CTM and MM oversight stays in the pool, central-lab
    kits still use the shared lab, and a fixed price of 1.35-1.6x the standard
    option's staff and site costs, i.e. the CRO's margin).

Calibration, so that the instance is interesting *and* feasible
    - All demand and service units are multiplied by one factor chosen so that the
      whole portfolio (standard options, every trial run once) needs 80-90 % of the
      pool's available FTE-months: optional trials compete, and 10x staff and 10x
      trials give trials of the same size and a similar load. FTE are then rounded
      to 0.05 and service units to whole site-months, visits and kits.
    - Flex per role: rate 1.4-1.8x the role's mean full-time cost, up to 10-15 % of
      the role's pool FTE.
    - Mandatory trials must be coverable: for every role and month, the demand of
      the mandatory trials (standard option, earliest start) must fit the named
      people of that role available that month *who hold the required skill and
      region* plus half of the flex limit (a max-flow check, see
      :func:`coverage_violations`). While it does not, the best of these repairs is
      applied to one of the committed trials with the most demand in the worst
      role-month: move its planned start two months later, or make it optional
      (pipeline); when no repair helps (ongoing trials alone do not fit), all demand
      is scaled down by 5 %. About one reference-size instance in five loses one or
      two mandatory trials this way; 10x instances practically never do.
    - Service capacity: 60-80 % of the peak monthly use if every trial ran at its
      earliest start with its standard option (the DCT service: of the use if every
      DCT-capable trial chose ``dct-hybrid``), never below 1.25x the mandatory
      trials' peak, so services bind sometimes but never block the mandatory plan.
      The owned site network grows by up to 30 % over the horizon (a monthly series).
    - Budget per calendar year: 70-85 % of what running everything would cost in
      that year (staff at the role's mean cost up to the pool, flex rate beyond),
      never below 1.2x the cost of the mandatory plan, so choices matter but the
      mandatory trials always fit.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from models.contract.problem import (
    Budget,
    ExecutionOption,
    Flex,
    Horizon,
    Objective,
    Phase,
    Predecessor,
    Problem,
    Service,
    ServiceKind,
    Settings,
    Stage,
    Staff,
    Trial,
    month_at,
    month_index,
)

ROLES: tuple[str, ...] = ("CRA", "CTM", "DM", "BIOS", "PROG", "MW", "REG", "PV", "SSU", "CTA", "MM")
"""Clinical research associate, clinical trial manager, data manager, biostatistician,
statistical programmer, medical writer, regulatory, pharmacovigilance, site start-up
specialist, clinical trial assistant, medical monitor."""

ROLE_SHARE: dict[str, float] = {
    "CRA": 0.30, "CTA": 0.12, "DM": 0.10, "SSU": 0.09, "CTM": 0.09, "PROG": 0.07,
    "BIOS": 0.06, "MW": 0.05, "REG": 0.04, "PV": 0.04, "MM": 0.04,
}
ROLE_COST: dict[str, tuple[float, float]] = {
    "CRA": (9_000, 12_000), "CTM": (12_000, 16_000), "DM": (8_500, 11_500),
    "BIOS": (13_000, 17_000), "PROG": (10_000, 14_000), "MW": (10_000, 13_500),
    "REG": (10_000, 13_000), "PV": (8_000, 11_000), "SSU": (8_000, 10_500),
    "CTA": (5_000, 7_000), "MM": (16_000, 22_000),
}
"""Full-time monthly cost band per role, EUR."""
SPONSOR_SHARE: dict[str, float] = {
    "CRA": 0.20, "CTA": 0.25, "DM": 0.25, "SSU": 0.20, "CTM": 0.35, "PROG": 0.30,
    "BIOS": 0.35, "MW": 0.30, "REG": 0.50, "PV": 0.40, "MM": 0.60,
}
SECONDARY: dict[str, str] = {"CTA": "CRA", "PROG": "BIOS", "CRA": "SSU", "CTM": "CRA", "MW": "REG"}
SECONDARY_PROBABILITY = 0.16
REGIONAL_ROLES: tuple[str, ...] = ("CRA", "SSU", "CTA")
SKILLED_ROLES: tuple[str, ...] = ("CRA", "MM")
"""Roles whose trial assignments require the trial's indication skill."""
EXTRA_SKILLS: dict[str, dict[int, float]] = {"MM": {0: 0.1, 1: 0.4, 2: 0.5}}
"""Chances of 0/1/2 indication skills beyond the first where not {0: 0.4, 1: 0.4, 2: 0.2}:
medical monitors are dermatologists who cover several indications."""

REGION_WEIGHT: dict[str, float] = {"EU": 0.50, "NA": 0.30, "APAC": 0.20}
REGION_COST_POSITION: dict[str, float] = {"EU": 0.5, "NA": 0.75, "APAC": 0.25}
"""Centre of a person's cost inside the role's band, by region."""

INDICATIONS: dict[str, tuple[str, float]] = {
    "atopic_dermatitis": ("AD", 0.30),
    "psoriasis": ("PSO", 0.22),
    "hidradenitis_suppurativa": ("HS", 0.14),
    "chronic_hand_eczema": ("CHE", 0.12),
    "prurigo_nodularis": ("PN", 0.12),
    "alopecia_areata": ("AA", 0.10),
}
"""Indication -> (study-code abbreviation, share of the portfolio and of the pool's skills)."""

STAGES: tuple[str, ...] = ("start-up", "enrolment", "treatment", "close-out")
PHASES: tuple[Phase, ...] = ("I", "II", "III", "IV")
PHASE_SHARE: dict[Phase, float] = {"I": 0.15, "II": 0.35, "III": 0.35, "IV": 0.15}
STAGE_MONTHS: dict[Phase, tuple[tuple[int, int], ...]] = {
    "I": ((2, 3), (2, 4), (2, 4), (2, 3)),
    "II": ((3, 5), (5, 8), (4, 7), (2, 4)),
    "III": ((4, 6), (7, 10), (6, 9), (3, 5)),
    "IV": ((2, 4), (4, 7), (4, 6), (2, 3)),
}
SITES: dict[Phase, tuple[int, int]] = {"I": (1, 3), "II": (20, 60), "III": (60, 150), "IV": (30, 100)}
PATIENTS: dict[Phase, tuple[int, int]] = {"I": (20, 60), "II": (100, 300), "III": (300, 800), "IV": (200, 1000)}
VALUE: dict[Phase, tuple[float, float]] = {
    "I": (5e6, 20e6), "II": (20e6, 80e6), "III": (80e6, 400e6), "IV": (10e6, 40e6),
}
TRIAL_REGIONS: dict[Phase, tuple[tuple[tuple[str, ...], float], ...]] = {
    "I": ((("EU",), 0.55), (("NA",), 0.35), (("APAC",), 0.10)),
    "II": ((("EU",), 0.30), (("NA",), 0.15), (("EU", "NA"), 0.45), (("EU", "NA", "APAC"), 0.10)),
    "III": ((("EU", "NA"), 0.35), (("EU", "NA", "APAC"), 0.55), (("EU", "APAC"), 0.10)),
    "IV": ((("EU",), 0.35), (("NA",), 0.20), (("EU", "NA"), 0.30), (("APAC",), 0.15)),
}

DEMAND: dict[Phase, dict[str, tuple[float, float, float, float]]] = {
    "I": {
        "CRA": (0.2, 0.7, 0.7, 0.35), "SSU": (0.6, 0.2, 0.0, 0.0), "CTA": (0.25, 0.45, 0.45, 0.25),
        "CTM": (0.45, 0.45, 0.45, 0.45), "DM": (0.25, 0.45, 0.45, 0.9), "BIOS": (0.3, 0.3, 0.3, 0.95),
        "PROG": (0.1, 0.35, 0.35, 1.0), "MW": (0.55, 0.15, 0.15, 0.8), "REG": (0.6, 0.1, 0.1, 0.25),
        "PV": (0.15, 0.25, 0.25, 0.15), "MM": (0.25, 0.3, 0.3, 0.25),
    },
    "II": {
        "CRA": (1.05, 3.5, 2.8, 1.4), "SSU": (2.0, 1.2, 0.0, 0.0), "CTA": (0.9, 1.3, 1.3, 0.7),
        "CTM": (0.9, 0.9, 0.9, 0.9), "DM": (0.55, 0.9, 0.9, 1.8), "BIOS": (0.45, 0.45, 0.45, 1.55),
        "PROG": (0.25, 0.55, 0.9, 1.6), "MW": (0.8, 0.25, 0.25, 1.35), "REG": (1.0, 0.35, 0.25, 0.35),
        "PV": (0.15, 0.45, 0.45, 0.25), "MM": (0.4, 0.45, 0.45, 0.4),
    },
    "III": {
        "CRA": (2.8, 8.4, 7.0, 3.5), "SSU": (4.8, 3.2, 0.0, 0.0), "CTA": (1.75, 2.65, 2.65, 1.3),
        "CTM": (1.3, 1.75, 1.75, 1.3), "DM": (0.9, 1.8, 1.8, 2.7), "BIOS": (0.8, 0.8, 0.8, 2.3),
        "PROG": (0.35, 0.9, 1.5, 2.6), "MW": (1.35, 0.4, 0.4, 2.05), "REG": (1.85, 0.6, 0.35, 0.6),
        "PV": (0.25, 0.85, 0.85, 0.45), "MM": (0.6, 0.75, 0.75, 0.6),
    },
    "IV": {
        "CRA": (1.4, 4.2, 3.5, 1.75), "SSU": (3.0, 2.0, 0.0, 0.0), "CTA": (1.3, 1.75, 1.75, 0.9),
        "CTM": (0.9, 1.3, 1.3, 0.9), "DM": (0.55, 1.1, 1.1, 1.8), "BIOS": (0.45, 0.45, 0.45, 1.55),
        "PROG": (0.25, 0.55, 0.9, 1.6), "MW": (0.7, 0.25, 0.25, 1.35), "REG": (0.6, 0.25, 0.25, 0.35),
        "PV": (0.25, 0.85, 0.85, 0.45), "MM": (0.3, 0.4, 0.4, 0.3),
    },
}
"""FTE per month of each role in each stage of a typical trial of the phase (sites and
patients at the middle of their ranges), before the portfolio scale factor."""
SITE_DRIVEN: frozenset[str] = frozenset({"CRA", "SSU", "CTA"})
PATIENT_DRIVEN: frozenset[str] = frozenset({"DM", "PROG", "PV"})
OVERSIGHT: dict[str, float] = {"CTM": 0.3, "MM": 0.15}
"""FTE the sponsor keeps on a full-service (FSO) trial, per month, at most the standard demand."""

SERVICES: tuple[tuple[str, str, ServiceKind, str, tuple[float, float]], ...] = (
    ("smo", "SMO site management", "site_management", "site-month", (2_000, 2_600)),
    ("site-network", "CRO research-site network", "site_network", "site-month", (7_000, 9_000)),
    ("dct", "Decentralised-trial services (home nursing, remote visits, eConsent)", "dct",
     "patient-visit", (350, 500)),
    ("central-lab", "Central laboratory", "central_lab", "kit", (180, 260)),
)
"""Service id, name, kind, unit, unit-cost band in EUR."""

MANDATORY_SHARE = 0.40
ONGOING_SHARE = 0.60
MIN_MONTHS = 12

T = TypeVar("T")


@dataclass
class _Draft:
    """What the generator knows about a trial beyond the :class:`Trial` it becomes."""

    trial: Trial
    compound: str
    stage_months: list[int]
    sites: int
    patients: int
    ongoing: bool


def generate(staff: int = 500, trials: int = 30, months: int = 36, seed: int = 7, start: str = "2027-01") -> Problem:
    """A realistic, feasible sample portfolio (see the module docstring for what is drawn).

    Deterministic in its arguments. Raises ``ValueError`` when the pool is smaller than
    the number of roles, there is no trial, or the horizon is shorter than a year.
    """
    if staff < len(ROLES):
        raise ValueError(f"staff must be at least {len(ROLES)} (one person per role), got {staff}")
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    if months < MIN_MONTHS:
        raise ValueError(f"months must be at least {MIN_MONTHS}, got {months}")
    rng = random.Random(seed)
    drafts = _draw_trials(rng, trials, months, start)
    pool = _draw_staff(rng, staff, months, start, [d.trial for d in drafts])
    problem = Problem(
        name=f"PACE sample portfolio ({staff} staff, {trials} trials, {months} months, seed {seed})",
        horizon=Horizon(start=start, months=months),
        roles=list(ROLES),
        regional_roles=list(REGIONAL_ROLES),
        staff=pool,
        flex=_draw_flex(rng, pool),
        trials=[d.trial for d in drafts],
        objective=Objective(kind="value"),
        settings=Settings(time_limit=60.0, mip_gap=0.01),
    )
    demand = _load(problem, [(t, t.options[0]) for t in problem.trials])[0]
    scale = rng.uniform(0.80, 0.90) * float(_staff_capacity(problem).sum() / demand.sum())
    _calibrate(rng, problem, drafts, scale)
    # Fields were filled by assignment, which pydantic does not check: validate the whole.
    return Problem.model_validate(problem.model_dump())


# --------------------------------------------------------------------------- trials


def _largest_remainder(total: int, shares: Sequence[float], minimum: int = 0) -> list[int]:
    """Integer counts proportional to ``shares`` that add up to ``total`` (each >= minimum)."""
    base = [minimum] * len(shares)
    rest = total - minimum * len(shares)
    exact = [rest * s / sum(shares) for s in shares]
    counts = [b + math.floor(e) for b, e in zip(base, exact)]
    order = sorted(range(len(shares)), key=lambda i: math.floor(exact[i]) - exact[i])
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _pick(rng: random.Random, weights: Mapping[T, float]) -> T:
    """One key drawn with probability proportional to its weight."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _fit(lengths: list[int], limit: int) -> list[int]:
    """Stage lengths shrunk, in proportion and each >= 1, to add up to ``limit`` if longer."""
    if sum(lengths) <= limit:
        return lengths
    return _largest_remainder(limit, lengths, minimum=1)


def _draw_trials(rng: random.Random, count: int, months: int, start: str) -> list[_Draft]:
    """Phases, lengths, sizes, options and windows of every trial (demand before scaling)."""
    phases = [p for p, n in zip(PHASES, _largest_remainder(count, [PHASE_SHARE[p] for p in PHASES])) for _ in range(n)]
    rng.shuffle(phases)
    mandatory = set(rng.sample(range(count), round(MANDATORY_SHARE * count)))
    ongoing = set(rng.sample(sorted(mandatory), round(ONGOING_SHARE * len(mandatory))))
    width = max(2, len(str(count)))
    compounds = [f"DRM-{n}" for n in rng.sample(range(1000, 10000), max(3, count // 5))]
    indications = {name: weight for name, (_, weight) in INDICATIONS.items()}
    drafts: list[_Draft] = []
    for i, phase in enumerate(phases):
        indication = _pick(rng, indications)
        regions = list(_pick(rng, dict(TRIAL_REGIONS[phase])))
        lengths = _fit([rng.randint(lo, hi) for lo, hi in STAGE_MONTHS[phase]], months - (0 if i in mandatory else 1))
        sites = rng.randint(*SITES[phase])
        patients = rng.randint(*PATIENTS[phase])
        value = round(rng.uniform(*VALUE[phase]), -5)
        trial = Trial(
            id=f"T{i + 1:0{width}d}",
            phase=phase,
            indication=indication,
            regions=regions,
            value=value,
            mandatory=i in mandatory,
            required_skills={role: [indication] for role in SKILLED_ROLES},
            options=[],
        )
        draft = _Draft(trial, rng.choice(compounds), lengths, sites, patients, i in ongoing)
        _add_options(rng, draft)
        _set_window(rng, draft, months, start)
        drafts.append(draft)
    _link_phases(rng, drafts, months, start)
    for i, draft in enumerate(drafts):
        # Study code as sponsors write it: compound, indication, phase digit and a sequence number.
        trial = draft.trial
        trial.name = f"{draft.compound} {INDICATIONS[trial.indication][0]}-{PHASES.index(trial.phase) + 1}{i + 1:02d}"
    return drafts


def _standard_stages(draft: _Draft) -> list[Stage]:
    """Stages of the standard option: demand profile scaled by sites/patients, service units."""
    phase = draft.trial.phase
    site_factor = draft.sites / sum(SITES[phase]) * 2
    patient_factor = draft.patients / sum(PATIENTS[phase]) * 2
    network_sites = draft.sites if phase == "I" else 0
    smo_sites = 0 if phase == "I" else round(draft.sites * 0.3)
    stages = []
    for k, (name, length) in enumerate(zip(STAGES, draft.stage_months)):
        demand: dict[str, float] = {}
        for role in ROLES:
            factor = site_factor if role in SITE_DRIVEN else patient_factor if role in PATIENT_DRIVEN else 1.0
            fte = DEMAND[phase][role][k] * factor
            if fte > 0:
                demand[role] = fte
        services: dict[str, float] = {}
        if name in ("enrolment", "treatment"):
            services["central-lab"] = draft.patients * (0.3 if name == "enrolment" else 0.5)
            if smo_sites:
                services["smo"] = smo_sites
            if network_sites:
                services["site-network"] = network_sites
        stages.append(Stage(name=name, months=length, demand=demand, services=services))
    return stages


def _add_options(rng: random.Random, draft: _Draft) -> None:
    """The standard option, and for committed/optional trials possibly DCT-hybrid and FSO."""
    trial = draft.trial
    standard = _standard_stages(draft)
    if trial.phase != "I" and rng.random() < 0.4:
        # Some later-phase trials also use a few owned research sites of the CRO.
        network = rng.randint(2, 6)
        for stage in standard:
            if "central-lab" in stage.services:
                stage.services["site-network"] = network
    trial.options = [ExecutionOption(id="standard", name="Standard (FSP pool)", stages=standard)]
    if draft.ongoing:
        return
    if trial.phase != "I" and rng.random() < 0.6:
        shorter = rng.uniform(0.65, 0.80)
        fewer_cra = rng.uniform(0.60, 0.75)
        stages = []
        for stage in standard:
            copy = stage.model_copy(deep=True)
            if stage.name == "enrolment":
                copy.months = max(1, round(stage.months * shorter))
            if stage.name in ("enrolment", "treatment"):
                copy.demand["CRA"] = stage.demand["CRA"] * fewer_cra
                copy.services["dct"] = draft.patients * (0.25 if stage.name == "enrolment" else 0.5)
                if "smo" in copy.services:
                    copy.services["smo"] = round(copy.services["smo"] * 0.7)
            stages.append(copy)
        trial.options.append(ExecutionOption(id="dct-hybrid", name="DCT hybrid", stages=stages))
    if rng.random() < (0.3 if trial.phase == "I" else 0.5):
        stages = [
            Stage(
                name=stage.name,
                months=stage.months,
                demand={role: min(fte, stage.demand.get(role, 0.0)) for role, fte in OVERSIGHT.items()},
                services={s: u for s, u in stage.services.items() if s == "central-lab"},
            )
            for stage in standard
        ]
        # Priced later, once demand is scaled: see _price_fso.
        trial.options.append(ExecutionOption(id="full-service", name="Full-service outsourcing (FSO)", stages=stages))


def _set_window(rng: random.Random, draft: _Draft, months: int, start: str) -> None:
    """Earliest/latest start and deadline; cuts the elapsed part of ongoing trials."""
    trial = draft.trial
    if draft.ongoing:
        duration = trial.options[0].duration
        elapsed = rng.randint(1, max(1, int(duration * 0.6)))
        if duration - elapsed < 3:
            elapsed = max(0, duration - 3)
        trial.options[0].stages = _cut(trial.options[0].stages, elapsed)
        trial.earliest_start = trial.latest_start = start
        end = trial.options[0].duration - 1
        trial.deadline = month_at(start, min(months - 1, end + rng.randint(0, 2)))
    elif trial.mandatory:
        duration = trial.options[0].duration
        earliest = rng.randint(0, min(5, months - duration))
        trial.earliest_start = month_at(start, earliest)
        trial.latest_start = month_at(start, min(months - duration, earliest + rng.randint(2, 6)))
        trial.deadline = month_at(start, min(months - 1, earliest + duration - 1 + rng.randint(1, 6)))
    else:
        duration = trial.options[0].duration
        earliest = rng.randint(1, months - duration)
        _set_optional_window(rng, trial, earliest, months, start)
    trial.tardiness_penalty = round(
        trial.value * (rng.uniform(0.008, 0.015) if trial.mandatory else rng.uniform(0.003, 0.008)), -3
    )


def _set_optional_window(rng: random.Random, trial: Trial, earliest: int, months: int, start: str) -> None:
    """A pipeline trial may start from ``earliest``; its deadline leaves 1-6 months of slack."""
    end = earliest + trial.options[0].duration - 1
    trial.earliest_start = month_at(start, earliest)
    trial.deadline = month_at(start, min(months - 1, end + rng.randint(1, 6)))


def _cut(stages: list[Stage], elapsed: int) -> list[Stage]:
    """The stages left after ``elapsed`` months (a partly elapsed stage keeps its remainder)."""
    left = []
    for stage in stages:
        if elapsed >= stage.months:
            elapsed -= stage.months
            continue
        copy = stage.model_copy(deep=True)
        copy.months -= elapsed
        elapsed = 0
        left.append(copy)
    return left


def _link_phases(rng: random.Random, drafts: list[_Draft], months: int, start: str) -> None:
    """Optional phase III trials that wait for the readout of a mandatory phase II trial.

    The phase II trial with the earliest readout that leaves room for a phase III of minimum
    length is taken; the phase III's stages are shortened (within the phase III range) to
    fit the horizon. Repairs never delay a predecessor (see :func:`_repair`), so the
    successor's earliest start (readout + lag) stays exact."""
    shortest = sum(lo for lo, _ in STAGE_MONTHS["III"])
    phase_two = [d for d in drafts if d.trial.phase == "II" and d.trial.mandatory]
    phase_two.sort(key=lambda d: (_readout(d.trial, start), d.trial.id))
    for draft in drafts:
        trial = draft.trial
        if trial.phase != "III" or trial.mandatory or not phase_two or rng.random() >= 0.6:
            continue
        lag = rng.randint(2, 4)
        before = phase_two[0]
        earliest = _readout(before.trial, start) + lag
        if earliest + shortest > months:
            continue
        phase_two.pop(0)
        trial.predecessors = [Predecessor(trial=before.trial.id, lag=lag)]
        trial.indication = before.trial.indication
        trial.required_skills = {role: [trial.indication] for role in SKILLED_ROLES}
        draft.compound = before.compound
        if earliest + sum(draft.stage_months) > months:
            draft.stage_months = _fit(draft.stage_months, months - earliest)
            _add_options(rng, draft)
        _set_optional_window(rng, trial, earliest, months, start)


def _readout(trial: Trial, start: str) -> int:
    """First month after the trial, run from its earliest start with its standard option."""
    return month_index(str(trial.earliest_start), start) + trial.options[0].duration


# --------------------------------------------------------------------------- staff


def _draw_staff(rng: random.Random, count: int, months: int, start: str, trials: list[Trial]) -> list[Staff]:
    """The named pool; regions and skills of CRAs/MMs lean towards where the portfolio's work is."""
    counts = _largest_remainder(count, [ROLE_SHARE[r] for r in ROLES], minimum=1)
    base_skills = {name: weight for name, (_, weight) in INDICATIONS.items()}
    mandatory = [t for t in trials if t.mandatory]
    skill_weights = {
        role: _blend(base_skills, _indication_demand(trials, role), _indication_demand(mandatory, role))
        for role in SKILLED_ROLES
    }
    region_weights = {
        role: _blend(REGION_WEIGHT, _region_demand(trials, role), _region_demand(mandatory, role))
        for role in REGIONAL_ROLES
    }
    labels = [month_at(start, m) for m in range(months)]
    pool: list[Staff] = []
    for role, n in zip(ROLES, counts):
        width = max(3, len(str(n)))
        low, high = ROLE_COST[role]
        for k in range(n):
            region = _pick(rng, region_weights.get(role, REGION_WEIGHT))
            fte = _pick(rng, {1.0: 0.80, 0.8: 0.10, 0.6: 0.05, 0.5: 0.05})
            position = min(1.0, max(0.0, REGION_COST_POSITION[region] + rng.uniform(-0.3, 0.3)))
            first = _pick(rng, skill_weights.get(role, base_skills))
            extra = _pick(rng, EXTRA_SKILLS.get(role, {0: 0.4, 1: 0.4, 2: 0.2}))
            others = [s for s in base_skills if s != first]
            skills = [first] + _sample_weighted(rng, others, [base_skills[s] for s in others], extra)
            person = Staff(
                id=f"{role}-{k + 1:0{width}d}",
                role=role,
                fte=fte,
                monthly_cost=round((low + (high - low) * position) * fte, -1),
                source="sponsor" if rng.random() < SPONSOR_SHARE[role] else "cro",
                region=region,
                skills=sorted(skills),
                max_concurrent_trials=_pick(rng, {2: 0.30, 3: 0.45, 4: 0.25}),
            )
            if role in SECONDARY and rng.random() < SECONDARY_PROBABILITY:
                person.secondary_roles = [SECONDARY[role]]
            first_month, last_month = 0, months - 1
            window = rng.random()
            if window < 0.04:
                first_month = rng.randint(2, months // 2)
                person.available_from = labels[first_month]
            elif window < 0.08:
                last_month = rng.randint(months // 2, months - 2)
                person.available_to = labels[last_month]
            person.leave = _draw_leave(rng, labels, first_month, last_month)
            pool.append(person)
    return pool


def _sample_weighted(rng: random.Random, items: list[T], weights: list[float], k: int) -> list[T]:
    """``k`` distinct items drawn with probability proportional to ``weights``."""
    items, weights, chosen = list(items), list(weights), []
    for _ in range(k):
        i = rng.choices(range(len(items)), weights=weights)[0]
        chosen.append(items.pop(i))
        weights.pop(i)
    return chosen


def _draw_leave(rng: random.Random, labels: list[str], first: int, last: int) -> list[str]:
    """0-2 leave months per calendar year of the horizon (``labels``: its months), inside the
    person's window ``first..last``; July, August, December twice as likely (holidays)."""
    leave: list[str] = []
    for year in sorted({label[:4] for label in labels}):
        candidates = [label for label in labels[first : last + 1] if label[:4] == year]
        wanted = _pick(rng, {0: 0.35, 1: 0.45, 2: 0.20})
        weights = [2.0 if label[5:] in ("07", "08", "12") else 1.0 for label in candidates]
        leave.extend(_sample_weighted(rng, candidates, weights, min(wanted, len(candidates))))
    return sorted(leave)


def _blend(base: dict[str, float], *demands: dict[str, float]) -> dict[str, float]:
    """The mean of the base distribution and each (normalised, non-empty) demand distribution."""
    parts = [base] + [d for d in demands if sum(d.values()) > 0]
    return {k: sum(p.get(k, 0.0) / sum(p.values()) for p in parts) / len(parts) for k in base}


def _indication_demand(trials: list[Trial], role: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for trial in trials:
        out[trial.indication] += sum(s.months * s.demand.get(role, 0.0) for s in trial.options[0].stages)
    return out


def _region_demand(trials: list[Trial], role: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for trial in trials:
        work = sum(s.months * s.demand.get(role, 0.0) for s in trial.options[0].stages)
        for region in trial.regions:
            out[region] += work / len(trial.regions)
    return out


# --------------------------------------------------------------------------- calibration


def _draw_flex(rng: random.Random, pool: list[Staff]) -> list[Flex]:
    flex = []
    for role in ROLES:
        people = [p for p in pool if p.role == role]
        pool_fte = sum(p.fte for p in people)
        mean_cost = sum(p.monthly_cost for p in people) / pool_fte
        flex.append(
            Flex(
                role=role,
                monthly_rate=round(mean_cost * rng.uniform(1.4, 1.8), -2),
                max_fte=max(0.5, round(pool_fte * rng.uniform(0.10, 0.15), 1)),
            )
        )
    return flex


def _scaled(trial: Trial, scale: float) -> Trial:
    """A copy of ``trial`` with every FTE demand and service unit multiplied by ``scale``,
    FTE rounded to 0.05 and units to whole site-months, visits and kits, as planners write them."""
    copy = trial.model_copy(deep=True)
    for option in copy.options:
        for stage in option.stages:
            demand = {r: round(v * scale * 20) / 20 for r, v in stage.demand.items()}
            services = {s: float(round(u * scale)) for s, u in stage.services.items()}
            stage.demand = {r: v for r, v in demand.items() if v > 0}
            stage.services = {s: u for s, u in services.items() if u > 0}
    return copy


def _calibrate(rng: random.Random, problem: Problem, drafts: list[_Draft], scale: float) -> None:
    """Scale demand, make the mandatory plan coverable, then price FSO, size services and budget."""
    problem.trials = [_scaled(d.trial, scale) for d in drafts]
    availability = _availability(problem)
    while gaps := _coverage_gaps(problem, availability, flex_share=0.5):
        repair = _repair(problem, availability, drafts, gaps)
        if repair is None:
            scale *= 0.95
        else:
            repair(drafts[repair.index].trial)
        problem.trials = [_scaled(d.trial, scale) for d in drafts]
    costs = _mean_cost(problem)
    problem.services = [
        Service(id=sid, name=name, kind=kind, unit=unit, capacity=0.0, unit_cost=round(rng.uniform(*band), -1))
        for sid, name, kind, unit, band in SERVICES
    ]
    for trial in problem.trials:
        _price_fso(rng, problem, trial, costs)
    _size_services(rng, problem)
    _set_budget(rng, problem)


@dataclass
class _Repair:
    """Delay a committed trial's planned start by two months, or make it optional."""

    index: int
    delay: bool
    horizon: Horizon

    def __call__(self, trial: Trial) -> None:
        if not self.delay:
            trial.mandatory = False
            return
        start = self.horizon.start
        earliest = month_index(str(trial.earliest_start), start) + 2
        latest = min(month_index(str(trial.latest_start), start) + 2, self.horizon.months - trial.options[0].duration)
        trial.earliest_start, trial.latest_start = month_at(start, earliest), month_at(start, latest)
        trial.deadline = month_at(start, month_index(str(trial.deadline), start) + 2)


def _repair(
    problem: Problem, availability: list[np.ndarray], drafts: list[_Draft], gaps: dict[tuple[str, int], float]
) -> _Repair | None:
    """The repair that most reduces the uncoverable FTE of the mandatory plan, trying the five
    committed trials with the most demand in the worst role-month; None if none helps.

    Delaying is preferred on ties, and allowed while the planned start stays in the first
    ten months, the trial still ends inside the horizon by its deadline and no other trial
    waits for it."""
    role, month = max(gaps, key=lambda key: gaps[key])
    r = problem.roles.index(role)
    months = problem.horizon.months
    predecessors = {p.trial for t in problem.trials for p in t.predecessors}
    loads = [
        (float(_load(problem, [(t, t.options[0])])[0][r, month]), i)
        for i, (t, d) in enumerate(zip(problem.trials, drafts))
        if t.mandatory and not d.ongoing
    ]
    best, best_gap = None, sum(gaps.values()) - 1e-6
    for load, i in sorted(loads, reverse=True)[:5]:
        if load <= 0:
            break
        trial = problem.trials[i]
        earliest, deadline = _earliest(problem, trial), problem.index(str(trial.deadline))
        repairs = [_Repair(i, False, problem.horizon)]
        if earliest + 2 <= 9 and deadline + 2 <= months - 1 and trial.id not in predecessors:
            repairs.insert(0, _Repair(i, True, problem.horizon))
        for repair in repairs:
            saved = trial.model_copy(deep=True)
            repair(trial)
            gap = sum(_coverage_gaps(problem, availability, flex_share=0.5).values())
            problem.trials[i] = saved
            if gap < best_gap:
                best, best_gap = repair, gap
    return best


def _price_fso(rng: random.Random, problem: Problem, trial: Trial, costs: dict[str, float]) -> None:
    """FSO price: the CRO's margin (1.35-1.6x) on the staff and site costs the option takes over."""
    unit_cost = {s.id: s.unit_cost for s in problem.services}
    standard = trial.options[0]
    inhouse = sum(
        stage.months
        * (
            sum(fte * costs[role] for role, fte in stage.demand.items())
            + sum(units * unit_cost[s] for s, units in stage.services.items() if s != "central-lab")
        )
        for stage in standard.stages
    )
    for option in trial.options:
        if option.id == "full-service":
            option.fixed_cost = round(inhouse * rng.uniform(1.35, 1.60), -4)


def _size_services(rng: random.Random, problem: Problem) -> None:
    """Capacities that bind for the whole portfolio but leave room for the mandatory plan."""
    everything = _load(problem, [(t, t.options[0]) for t in problem.trials])[1]
    mandatory = _load(problem, [(t, t.options[0]) for t in problem.trials if t.mandatory])[1]
    all_dct = _load(problem, [(t, o) for t in problem.trials for o in t.options if o.id == "dct-hybrid"])[1]
    months = problem.horizon.months
    for k, service in enumerate(problem.services):
        use = all_dct if service.kind == "dct" else everything
        base = max(rng.uniform(0.6, 0.8) * use[k].max(), 1.25 * mandatory[k].max())
        if service.kind == "site_network":
            growth = rng.uniform(0.0, 0.3)
            service.capacity = [float(math.ceil(base * (1 + growth * m / (months - 1)))) for m in range(months)]
        else:
            service.capacity = float(math.ceil(base))


def _set_budget(rng: random.Random, problem: Problem) -> None:
    """Per calendar year: 70-85 % of running everything, at least 1.2x the mandatory plan."""
    everything = _yearly_cost(problem, [(t, t.options[0]) for t in problem.trials])
    mandatory = _yearly_cost(problem, [(t, t.options[0]) for t in problem.trials if t.mandatory])
    problem.budget = Budget(
        per_year={
            year: math.ceil(max(rng.uniform(0.70, 0.85) * everything[year], 1.2 * mandatory.get(year, 0.0)) / 1e5)
            * 1e5
            for year in sorted(everything)
        }
    )


# --------------------------------------------------------------------------- schedules and checks


def _staff_capacity(problem: Problem) -> np.ndarray:
    """FTE of named staff available per primary role (rows, ``problem.roles``) and month."""
    capacity = np.zeros((len(problem.roles), problem.horizon.months))
    for person, available in zip(problem.staff, _availability(problem)):
        capacity[problem.roles.index(person.role)] += person.fte * available
    return capacity


def _availability(problem: Problem) -> list[np.ndarray]:
    """Per person, 1.0 in the months they can work (inside their window, not on leave)."""
    months = problem.horizon.months
    out = []
    for person in problem.staff:
        mask = np.ones(months)
        if person.available_from is not None:
            mask[: max(0, min(months, problem.index(person.available_from)))] = 0.0
        if person.available_to is not None:
            mask[max(0, problem.index(person.available_to) + 1) :] = 0.0
        for month in person.leave:
            if 0 <= problem.index(month) < months:
                mask[problem.index(month)] = 0.0
        out.append(mask)
    return out


def _earliest(problem: Problem, trial: Trial) -> int:
    return 0 if trial.earliest_start is None else max(0, problem.index(trial.earliest_start))


def _load(
    problem: Problem, picks: Sequence[tuple[Trial, ExecutionOption]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Demand (roles x months), service units (services x months) and fixed cost per month of
    running each picked trial with the picked option from its earliest start."""
    months = problem.horizon.months
    demand = np.zeros((len(problem.roles), months))
    services = np.zeros((len(problem.services), months))
    fixed = np.zeros(months)
    service_index = {s.id: k for k, s in enumerate(problem.services)}
    for trial, option in picks:
        month = _earliest(problem, trial)
        fixed[month : month + option.duration] += option.fixed_cost / option.duration
        for stage in option.stages:
            span = slice(month, month + stage.months)
            for role, fte in stage.demand.items():
                demand[problem.roles.index(role), span] += fte
            for service, units in stage.services.items():
                if service in service_index:
                    services[service_index[service], span] += units
            month += stage.months
    return demand, services, fixed


def _mean_cost(problem: Problem) -> dict[str, float]:
    """FTE-weighted mean full-time monthly cost per role."""
    cost: dict[str, float] = defaultdict(float)
    fte: dict[str, float] = defaultdict(float)
    for person in problem.staff:
        cost[person.role] += person.monthly_cost
        fte[person.role] += person.fte
    return {role: cost[role] / fte[role] for role in fte}


def _yearly_cost(problem: Problem, picks: Sequence[tuple[Trial, ExecutionOption]]) -> dict[str, float]:
    """Cost per calendar year of a schedule: demand up to the pool at the role's mean cost,
    beyond it at the flex rate, plus service units and fixed costs."""
    demand, services, fixed = _load(problem, picks)
    capacity = _staff_capacity(problem)
    mean = _mean_cost(problem)
    rate = {f.role: f.monthly_rate for f in problem.flex}
    per_month = fixed.copy()
    for r, role in enumerate(problem.roles):
        inside = np.minimum(demand[r], capacity[r])
        per_month += inside * mean[role] + (demand[r] - inside) * rate[role]
    per_month += np.array([s.unit_cost for s in problem.services]) @ services
    years: dict[str, float] = defaultdict(float)
    for m, amount in enumerate(per_month):
        years[problem.month(m)[:4]] += float(amount)
    return dict(years)


def coverage_violations(problem: Problem, flex_share: float = 1.0) -> list[str]:
    """Role-months where the mandatory trials, run with their first (standard) option from
    their earliest start, need more FTE than the named people of that role available that
    month *who hold the required skills and region* plus ``flex_share`` of the flex limit.

    People are counted in their primary role only, so an empty list certifies that the
    mandatory trials can be staffed (up to the per-person limit on concurrent trials).
    """
    return [
        f"{role} {problem.month(month)}: {gap:.2f} FTE of mandatory demand cannot be covered"
        for (role, month), gap in sorted(
            _coverage_gaps(problem, _availability(problem), flex_share).items(), key=lambda kv: kv[0][1]
        )
    ]


def _coverage_gaps(
    problem: Problem, availability: list[np.ndarray], flex_share: float
) -> dict[tuple[str, int], float]:
    """(role, month) -> uncoverable FTE of the mandatory plan (max-flow, see coverage_violations);
    ``availability`` is :func:`_availability` of the problem."""
    months = problem.horizon.months
    mandatory = [(t, _load(problem, [(t, t.options[0])])[0]) for t in problem.trials if t.mandatory]
    flex = {f.role: f.max_fte * flex_share for f in problem.flex}
    gaps: dict[tuple[str, int], float] = {}
    for r, role in enumerate(problem.roles):
        regional = role in problem.regional_roles
        # Demand types: trials with the same required skills and regions are interchangeable.
        types: dict[tuple[frozenset[str], frozenset[str] | None], np.ndarray] = defaultdict(lambda: np.zeros(months))
        for trial, load in mandatory:
            skills = frozenset(trial.required_skills.get(role, []))
            types[(skills, frozenset(trial.regions) if regional and trial.regions else None)] += load[r]
        if not types:
            continue
        type_keys = list(types)
        # Supply: people serving exactly the same demand types are interchangeable; flex serves all.
        signatures: dict[frozenset[int], np.ndarray] = defaultdict(lambda: np.zeros(months))
        for person, available in zip(problem.staff, availability):
            if person.role == role:
                signature = frozenset(
                    k
                    for k, (needed, regions) in enumerate(type_keys)
                    if needed <= set(person.skills) and (regions is None or person.region in regions)
                )
                signatures[signature] += person.fte * available
        signatures[frozenset(range(len(type_keys)))] += flex.get(role, 0.0)
        total = sum(types.values())
        if len(type_keys) == 1:  # one kind of demand (most roles): no flow problem to solve
            short = total - signatures[frozenset({0})]
            gaps.update({(role, m): float(short[m]) for m in range(months) if short[m] > 1e-6})
            continue
        for month in range(months):
            if total[month] <= 1e-9:
                continue
            supply = [(sorted(sig), float(fte[month])) for sig, fte in signatures.items() if sig]
            flow = _bipartite_max_flow(supply, [float(types[k][month]) for k in type_keys])
            if flow < total[month] - 1e-6:
                gaps[(role, month)] = float(total[month] - flow)
    return gaps


def _bipartite_max_flow(supply: list[tuple[list[int], float]], demand: list[float]) -> float:
    """Max flow from supply nodes (each: the demand nodes it may serve, its capacity) to
    demand nodes (their requirement), by Dinic's algorithm on a graph of a few dozen nodes."""
    n_supply = len(supply)
    source, sink = n_supply + len(demand), n_supply + len(demand) + 1
    head: list[list[int]] = [[] for _ in range(sink + 1)]
    to: list[int] = []
    cap: list[float] = []

    def edge(u: int, v: int, c: float) -> None:
        head[u].append(len(to))
        to.append(v)
        cap.append(c)
        head[v].append(len(to))
        to.append(u)
        cap.append(0.0)

    for i, (targets, fte) in enumerate(supply):
        edge(source, i, fte)
        for j in targets:
            edge(i, n_supply + j, math.inf)
    for j, need in enumerate(demand):
        edge(n_supply + j, sink, need)

    flow = 0.0
    while True:
        level = [-1] * (sink + 1)
        level[source] = 0
        queue = [source]
        for u in queue:
            for e in head[u]:
                if cap[e] > 1e-12 and level[to[e]] < 0:
                    level[to[e]] = level[u] + 1
                    queue.append(to[e])
        if level[sink] < 0:
            return flow
        cursor = [0] * (sink + 1)

        def push(u: int, limit: float) -> float:
            if u == sink:
                return limit
            while cursor[u] < len(head[u]):
                e = head[u][cursor[u]]
                v = to[e]
                if cap[e] > 1e-12 and level[v] == level[u] + 1:
                    pushed = push(v, min(limit, cap[e]))
                    if pushed > 0:
                        cap[e] -= pushed
                        cap[e ^ 1] += pushed
                        return pushed
                cursor[u] += 1
            return 0.0

        while (pushed := push(source, math.inf)) > 0:
            flow += pushed

"""Seeded generator of realistic sample portfolios (SPEC §6).

``generate(staff, trials, months, seed, start)`` returns a :class:`~models.problem.Problem`
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
      CTA the weights are blended half-half with where the portfolio's sites are,
      because a CRO staffs monitors where the sites are);
    - 1 (40 %), 2 (40 %) or 3 (20 %) indication skills; for CRAs and medical
      monitors, whose assignments require the trial's indication, the first skill
      is blended half-half with the portfolio's demand per indication;
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
    horizon opens: the elapsed part is cut off, one ``standard`` option, start fixed
    at the horizon start) and the rest *committed* (full length, earliest start the
    horizon start, latest start 2-6 months later). Optional trials are pipeline
    candidates with an earliest start uniform over the months in which their
    standard option still fits. An optional phase III trial takes, with probability
    0.6, a mandatory phase II trial of a new indication as predecessor (same
    compound and indication, lag 2-4 months for the readout) when the pair fits.
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
      trials give trials of the same size and a similar load.
    - Flex per role: rate 1.4-1.8x the role's mean full-time cost, up to 10-15 % of
      the role's pool FTE.
    - Mandatory trials must be coverable: for every role and month, the demand of
      the mandatory trials (standard option, earliest start) must fit the named
      people of that role available that month *who hold the required skill and
      region* plus half of the flex limit (a max-flow check, see
      :func:`coverage_violations`). While it does not, the committed mandatory trial
      with the most demand in the worst role-month becomes optional; an instance
      whose ongoing trials alone do not fit gets a smaller scale factor.
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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.problem import (
    Budget,
    ExecutionOption,
    Flex,
    Horizon,
    Objective,
    Phase,
    Predecessor,
    Problem,
    Service,
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
        "CRA": (0.3, 1.0, 1.0, 0.5), "SSU": (0.5, 0.0, 0.0, 0.0), "CTA": (0.3, 0.5, 0.5, 0.3),
        "CTM": (0.5, 0.5, 0.5, 0.5), "DM": (0.3, 0.5, 0.5, 1.0), "BIOS": (0.2, 0.2, 0.2, 0.6),
        "PROG": (0.1, 0.3, 0.3, 0.8), "MW": (0.4, 0.1, 0.1, 0.6), "REG": (0.5, 0.1, 0.1, 0.2),
        "PV": (0.2, 0.3, 0.3, 0.2), "MM": (0.3, 0.4, 0.4, 0.3),
    },
    "II": {
        "CRA": (1.5, 5.0, 4.0, 2.0), "SSU": (2.0, 0.5, 0.0, 0.0), "CTA": (1.0, 1.5, 1.5, 0.8),
        "CTM": (1.0, 1.0, 1.0, 1.0), "DM": (0.6, 1.0, 1.0, 2.0), "BIOS": (0.3, 0.3, 0.3, 1.0),
        "PROG": (0.2, 0.5, 0.5, 1.5), "MW": (0.6, 0.2, 0.2, 1.0), "REG": (0.8, 0.3, 0.2, 0.3),
        "PV": (0.2, 0.5, 0.5, 0.3), "MM": (0.5, 0.6, 0.6, 0.5),
    },
    "III": {
        "CRA": (4.0, 12.0, 10.0, 5.0), "SSU": (5.0, 1.5, 0.0, 0.0), "CTA": (2.0, 3.0, 3.0, 1.5),
        "CTM": (1.5, 2.0, 2.0, 1.5), "DM": (1.0, 2.0, 2.0, 3.0), "BIOS": (0.5, 0.5, 0.5, 1.5),
        "PROG": (0.3, 0.8, 0.8, 2.5), "MW": (1.0, 0.3, 0.3, 1.5), "REG": (1.5, 0.5, 0.3, 0.5),
        "PV": (0.3, 1.0, 1.0, 0.5), "MM": (0.8, 1.0, 1.0, 0.8),
    },
    "IV": {
        "CRA": (2.0, 6.0, 5.0, 2.5), "SSU": (3.0, 1.0, 0.0, 0.0), "CTA": (1.5, 2.0, 2.0, 1.0),
        "CTM": (1.0, 1.5, 1.5, 1.0), "DM": (0.6, 1.2, 1.2, 2.0), "BIOS": (0.3, 0.3, 0.3, 1.0),
        "PROG": (0.2, 0.5, 0.5, 1.5), "MW": (0.5, 0.2, 0.2, 1.0), "REG": (0.5, 0.2, 0.2, 0.3),
        "PV": (0.3, 1.0, 1.0, 0.5), "MM": (0.4, 0.5, 0.5, 0.4),
    },
}
"""FTE per month of each role in each stage of a typical trial of the phase (sites and
patients at the middle of their ranges), before the portfolio scale factor."""
SITE_DRIVEN: frozenset[str] = frozenset({"CRA", "SSU", "CTA"})
PATIENT_DRIVEN: frozenset[str] = frozenset({"DM", "PROG", "PV"})
OVERSIGHT: dict[str, float] = {"CTM": 0.3, "MM": 0.15}
"""FTE the sponsor keeps on a full-service (FSO) trial, per month, at most the standard demand."""

SERVICES: tuple[tuple[str, str, str, str, tuple[float, float]], ...] = (
    ("smo", "SMO site management", "site_management", "site-month", (2_000, 2_600)),
    ("site-network", "CRO research-site network", "site_network", "site-month", (7_000, 9_000)),
    ("dct", "Decentralised-trial services (home nursing, remote visits, eConsent)", "dct",
     "patient-visit", (350, 500)),
    ("central-lab", "Central laboratory", "central_lab", "kit", (180, 260)),
)
"""Service id, name, kind, unit, unit-cost band in EUR."""

REFERENCE_STAFF_PER_TRIAL = 500 / 30
MANDATORY_SHARE = 0.40
ONGOING_SHARE = 0.60
MIN_MONTHS = 12


@dataclass
class _Draft:
    """What the generator knows about a trial beyond the :class:`Trial` it becomes."""

    trial: Trial
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
    month_at(start, 0)  # a malformed start fails in Horizon below with a precise message
    rng = random.Random(seed)
    horizon = Horizon(start=start, months=months)

    drafts = _draw_trials(rng, trials, months, start)
    pool = _draw_staff(rng, staff, months, start, [d.trial for d in drafts])
    capacity = staff_capacity(pool, horizon)
    raw = demand_matrix([d.trial for d in drafts], horizon)
    scale = rng.uniform(0.80, 0.90) * capacity.sum() / raw.sum()
    flex = _draw_flex(rng, pool)
    problem = Problem(
        name=f"PACE sample portfolio ({staff} staff, {trials} trials, {months} months, seed {seed})",
        horizon=horizon,
        roles=list(ROLES),
        regional_roles=list(REGIONAL_ROLES),
        staff=pool,
        services=[],
        flex=flex,
        trials=[],
        objective=Objective(kind="value"),
        settings=Settings(time_limit=60.0, mip_gap=0.01),
    )
    _calibrate(rng, problem, drafts, scale)
    return problem


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


def _pick(rng: random.Random, weights: dict) -> object:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _fit(lengths: list[int], limit: int) -> list[int]:
    """Stage lengths shrunk proportionally (each >= 1) so that they add up to at most ``limit``."""
    if sum(lengths) <= limit:
        return lengths
    factor = limit / sum(lengths)
    fitted = [max(1, math.floor(n * factor)) for n in lengths]
    while sum(fitted) > limit:
        fitted[fitted.index(max(fitted))] -= 1
    return fitted


def _draw_trials(rng: random.Random, count: int, months: int, start: str) -> list[_Draft]:
    """Phases, lengths, sizes, options and windows of every trial (demand before scaling)."""
    phases = [p for p, n in zip(PHASES, _largest_remainder(count, [PHASE_SHARE[p] for p in PHASES])) for _ in range(n)]
    rng.shuffle(phases)
    mandatory = set(rng.sample(range(count), round(MANDATORY_SHARE * count)))
    ongoing = set(sorted(mandatory)[: round(ONGOING_SHARE * len(mandatory))])
    width = max(2, len(str(count)))
    compounds = [f"DRM-{n}" for n in rng.sample(range(1000, 10000), max(3, count // 5))]
    indications = {name: weight for name, (_, weight) in INDICATIONS.items()}
    drafts: list[_Draft] = []
    for i, phase in enumerate(phases):
        indication = str(_pick(rng, indications))
        regions = list(_pick(rng, dict(TRIAL_REGIONS[phase])))  # type: ignore[arg-type]
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
        trial.name = f"{rng.choice(compounds)} {INDICATIONS[indication][0]}-{PHASES.index(phase) + 1}{i + 1:02d}"
        draft = _Draft(trial, lengths, sites, patients, i in ongoing)
        _add_options(rng, draft)
        _set_window(rng, draft, months, start)
        drafts.append(draft)
    _link_phases(rng, drafts, months, start)
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
        demand = {}
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
        trial.earliest_start = start
        trial.latest_start = month_at(start, min(months - duration, rng.randint(2, 6)))
        trial.deadline = month_at(start, min(months - 1, duration - 1 + rng.randint(1, 6)))
    else:
        duration = trial.options[0].duration
        earliest = rng.randint(1, months - duration)
        _set_optional_window(rng, trial, earliest, months, start)
    trial.tardiness_penalty = round(
        trial.value * (rng.uniform(0.008, 0.015) if trial.mandatory else rng.uniform(0.003, 0.008)), -3
    )


def _set_optional_window(rng: random.Random, trial: Trial, earliest: int, months: int, start: str) -> None:
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
    """Optional phase III trials that wait for the readout of a mandatory phase II trial."""
    phase_two = [d.trial for d in drafts if d.trial.phase == "II" and d.trial.mandatory]
    phase_two.sort(key=lambda t: t.options[0].duration)
    for draft in drafts:
        trial = draft.trial
        if trial.phase != "III" or trial.mandatory or not phase_two or rng.random() >= 0.6:
            continue
        lag = rng.randint(2, 4)
        predecessor = phase_two[0]
        earliest = predecessor.options[0].duration + lag
        if earliest + trial.options[0].duration > months:
            continue
        phase_two.pop(0)
        trial.predecessors = [Predecessor(trial=predecessor.id, lag=lag)]
        trial.indication = predecessor.indication
        trial.required_skills = {role: [trial.indication] for role in SKILLED_ROLES}
        trial.name = f"{str(predecessor.name).split()[0]} {INDICATIONS[trial.indication][0]}-3{trial.id[1:][-2:]}"
        _set_optional_window(rng, trial, earliest, months, start)


# --------------------------------------------------------------------------- staff


def _draw_staff(rng: random.Random, count: int, months: int, start: str, trials: list[Trial]) -> list[Staff]:
    """The named pool; regions and skills of CRAs/MMs lean towards where the portfolio's work is."""
    counts = _largest_remainder(count, [ROLE_SHARE[r] for r in ROLES], minimum=1)
    base_skills = {name: weight for name, (_, weight) in INDICATIONS.items()}
    skill_weights = {role: _blend(base_skills, _indication_demand(trials, role)) for role in SKILLED_ROLES}
    region_weights = {role: _blend(REGION_WEIGHT, _region_demand(trials, role)) for role in REGIONAL_ROLES}
    years = sorted({month_at(start, m)[:4] for m in range(months)})
    pool: list[Staff] = []
    for role, n in zip(ROLES, counts):
        width = max(3, len(str(n)))
        low, high = ROLE_COST[role]
        for k in range(n):
            region = str(_pick(rng, region_weights.get(role, REGION_WEIGHT)))
            fte = float(_pick(rng, {1.0: 0.80, 0.8: 0.10, 0.6: 0.05, 0.5: 0.05}))
            position = min(1.0, max(0.0, REGION_COST_POSITION[region] + rng.uniform(-0.3, 0.3)))
            first = str(_pick(rng, skill_weights.get(role, base_skills)))
            extra = int(_pick(rng, {0: 0.4, 1: 0.4, 2: 0.2}))
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
                max_concurrent_trials=int(_pick(rng, {2: 0.30, 3: 0.45, 4: 0.25})),
            )
            if role in SECONDARY and rng.random() < SECONDARY_PROBABILITY:
                person.secondary_roles = [SECONDARY[role]]
            first_month, last_month = 0, months - 1
            window = rng.random()
            if window < 0.04:
                first_month = rng.randint(2, months // 2)
                person.available_from = month_at(start, first_month)
            elif window < 0.08:
                last_month = rng.randint(months // 2, months - 2)
                person.available_to = month_at(start, last_month)
            person.leave = _draw_leave(rng, years, region, start, first_month, last_month)
            pool.append(person)
    return pool


def _sample_weighted(rng: random.Random, items: list[str], weights: list[float], k: int) -> list[str]:
    """``k`` distinct items drawn with probability proportional to ``weights``."""
    items, weights, chosen = list(items), list(weights), []
    for _ in range(k):
        i = rng.choices(range(len(items)), weights=weights)[0]
        chosen.append(items.pop(i))
        weights.pop(i)
    return chosen


def _draw_leave(
    rng: random.Random, years: list[str], region: str, start: str, first: int, last: int
) -> list[str]:
    leave: list[str] = []
    for year in years:
        candidates = [
            m for m in range(first, last + 1) if month_at(start, m)[:4] == year
        ]
        wanted = int(_pick(rng, {0: 0.35, 1: 0.45, 2: 0.20}))
        weights = [2.0 if month_at(start, m)[5:] in ("07", "08", "12") else 1.0 for m in candidates]
        picked = _sample_weighted(rng, [str(m) for m in candidates], weights, min(wanted, len(candidates)))
        leave.extend(month_at(start, int(m)) for m in picked)
    del region
    return sorted(leave)


def _blend(base: dict[str, float], demand: dict[str, float]) -> dict[str, float]:
    """Half the base distribution, half the demand distribution (base alone without demand)."""
    total = sum(demand.values())
    if total <= 0:
        return dict(base)
    return {k: 0.5 * base[k] / sum(base.values()) + 0.5 * demand.get(k, 0.0) / total for k in base}


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
    """A copy of ``trial`` with every FTE demand and service unit multiplied by ``scale``."""
    copy = trial.model_copy(deep=True)
    for option in copy.options:
        for stage in option.stages:
            stage.demand = {r: round(v * scale, 2) for r, v in stage.demand.items() if round(v * scale, 2) > 0}
            stage.services = {s: round(u * scale, 1) for s, u in stage.services.items() if round(u * scale, 1) > 0}
    return copy


def _calibrate(rng: random.Random, problem: Problem, drafts: list[_Draft], scale: float) -> None:
    """Scale demand, make the mandatory plan coverable, then price FSO, size services and budget."""
    while True:
        problem.trials = [_scaled(d.trial, scale) for d in drafts]
        gaps = _coverage_gaps(problem, flex_share=0.5)
        if not gaps:
            break
        role, month = max(gaps, key=gaps.get)  # type: ignore[arg-type]
        committed = [
            (t.options[0].stages and _demand_at(t, role, month), i)
            for i, (t, d) in enumerate(zip(problem.trials, drafts))
            if t.mandatory and not d.ongoing
        ]
        committed = [(load, i) for load, i in committed if load > 0]
        if committed:
            drafts[max(committed)[1]].trial.mandatory = False
        else:
            scale *= 0.95
    costs = {role: cost for role, cost in _mean_cost(problem).items()}
    unit_costs = {sid: round(rng.uniform(*band), -1) for sid, _, _, _, band in SERVICES}
    for trial in problem.trials:
        _price_fso(rng, trial, costs, unit_costs)
    _size_services(rng, problem, unit_costs)
    _set_budget(rng, problem)


def _demand_at(trial: Trial, role: str, month: int) -> float:
    """FTE of ``role`` that ``trial`` (standard option from its earliest start) needs in ``month``."""
    offset = month - _earliest(trial)
    for stage in trial.options[0].stages:
        if 0 <= offset < stage.months:
            return stage.demand.get(role, 0.0)
        offset -= stage.months
    return 0.0


def _earliest(trial: Trial) -> int:
    return 0 if trial.earliest_start is None else -1  # replaced below


def _price_fso(rng: random.Random, trial: Trial, costs: dict[str, float], unit_costs: dict[str, float]) -> None:
    """FSO price: the CRO's margin (1.35-1.6x) on the staff and site costs the option takes over."""
    standard = trial.options[0]
    for option in trial.options:
        if option.id != "full-service":
            continue
        inhouse = sum(
            stage.months * (
                sum(fte * costs[role] for role, fte in stage.demand.items())
                + sum(u * unit_costs[s] for s, u in stage.services.items() if s != "central-lab")
            )
            for stage in standard.stages
        )
        option.fixed_cost = round(inhouse * rng.uniform(1.35, 1.60), -4)

"""The plan (SPEC §3): the JSON contract every later tool (API, reports, checker) reads.

Months are ``YYYY-MM``; ``start``/``end`` are inclusive. Money is in the problem's
currency units; FTE are full-time equivalents per month. An assignment's FTE is given to
``FTE_DECIMALS`` decimals (1e-9 FTE) and never exceeds its person's FTE, so every plan the
engine emits reads back as a previous plan or a pin without float noise (a solver's
``1.0000000000000002`` is written ``1.0``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["optimal", "feasible", "infeasible", "no_solution", "error"]

#: Decimals an assignment's FTE is written with: fine enough that the rounding never shows in
#: a sum checked to 1e-6, coarse enough to wipe out double-precision noise.
FTE_DECIMALS = 9


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrialCost(_Out):
    staff: float = 0.0
    flex: float = 0.0
    services: float = 0.0
    external: float = Field(0.0, description="The option's fixed cost")

    @property
    def total(self) -> float:
        return self.staff + self.flex + self.services + self.external


class TrialCoverage(_Out):
    """FTE-months of the trial's demand covered by named staff, by flex, and left uncovered."""

    named: float = 0.0
    flex: float = 0.0
    uncovered: float = 0.0


class TrialPlan(_Out):
    id: str
    run: bool
    option: str | None = None
    start: str | None = None
    end: str | None = Field(None, description="Last active month (inclusive)")
    months_late: int = 0
    cost: float = Field(0.0, description="Total of cost_split")
    cost_split: TrialCost = Field(default_factory=TrialCost)
    coverage: TrialCoverage = Field(default_factory=TrialCoverage)
    value: float = Field(0.0, description="Discounted value delivered (objective `value`)")


class Assignment(_Out):
    """One contiguous block: a person works ``fte`` on a trial in a role every month from start to end."""

    staff: str
    trial: str
    role: str
    start: str
    end: str
    fte: float = Field(gt=0)


class RoleMonth(_Out):
    """A role in a month, counted over everyone who can work it: people whose primary role it
    is and people who hold it as a secondary role, each with their full FTE while available
    (window, no leave). A person able to work two roles counts in the capacity of both, so
    capacities do not add up across roles (the pool as a whole is what :attr:`Kpis.mean_utilisation`
    measures)."""

    role: str
    month: str
    capacity: float = Field(
        description="FTE of the named people able to work this role (primary or secondary), available that month: "
        "capacity_primary + capacity_secondary"
    )
    capacity_primary: float = Field(0.0, description="Of capacity, FTE of people whose primary role this is")
    capacity_secondary: float = Field(0.0, description="Of capacity, FTE of people who hold this role as a secondary role")
    demand: float
    assigned: float = Field(description="Named-staff FTE assigned in this role, by people in their primary or a secondary role")
    assigned_secondary: float = Field(0.0, description="Of assigned, FTE worked by people for whom this is a secondary role")
    spare: float = Field(
        0.0,
        description="FTE of the people able to work this role left unassigned that month (on no trial in any role): "
        "what could still be put on this role, region and skills permitting",
    )
    flex: float
    shortfall: float
    utilisation: float = Field(
        0.0, description="assigned / capacity: the share of everyone able to work the role used on it (0 when capacity is 0); never above 1"
    )
    marginal_value: float | None = Field(
        None,
        description="What one more FTE of this role in this month would save, the plan's starts and options held "
        "fixed: the dual of the portfolio stage's coverage row (the rate of the dearest staff cost step or flex in "
        "use, plus its cost against a binding budget), in currency per FTE-month. A role with people to spare still "
        "has a positive value (one more FTE would replace the dearest person in use); 0 where the role has no "
        "demand that month; null where the model cannot tell (no trial could need the role that month, the plan's "
        "schedule outside the portfolio stage's model, money not in the objective, or no time left for the LP)",
    )


class ServiceMonth(_Out):
    service: str
    month: str
    used: float
    capacity: float


class ServiceVolume(_Out):
    """Units of a service with a contract volume used over the whole horizon (every month's
    units plus the options' ``service_totals``), against that volume."""

    service: str
    used: float
    contract_volume: float


class YearSpend(_Out):
    """A year's spend against its budget and, when ``settings.budget_step`` asks for it,
    what more budget that year would buy: the portfolio stage solved again with the year's
    budget (and the total, if one is set) raised by ``extra_budget``, from the plan's own
    schedule, against the same stage solved without it for the same time."""

    year: str
    spend: float
    budget: float | None = None
    extra_budget: float | None = Field(None, description="Money added to this year's budget to estimate what more budget buys")
    objective_gain: float | None = Field(
        None,
        description="How much better the objective got with extra_budget (objective units, never negative): "
        "what the portfolio stage, which prices staffing optimistically, found with it over the same "
        "stage without it, both searched from the plan's schedule for the same time; null where not estimated",
    )
    objective_gain_bound: float | None = Field(
        None, description="The most extra_budget could gain over the plan the estimate started from, by the raised run's bound"
    )
    marginal_value: float | None = Field(
        None, description="objective_gain / extra_budget: what one more unit of this year's budget is worth, on average over the step"
    )


class BudgetReport(_Out):
    per_year: list[YearSpend] = Field(default_factory=list)
    total: float = 0.0
    total_budget: float | None = None


FactKind = Literal[
    "predecessor_not_run",
    "pinned",
    "no_start",
    "objective_rule",
    "predecessor_ends",
    "roles_short",
    "service_full",
    "budget_year",
    "budget_total",
    "fits",
    "not_worth",
    "may_pay",
    "late_unavoidable",
]


class Fact(_Out):
    """One claim an explanation makes, stated so that it can be recomputed from the problem
    and the plan's own tables (its trials, assignments, role- and service-months and budget
    lines), with the trial's other decisions held where the plan put them.

    *Free* below means what the plan leaves free, with everything else held: a person's
    spare FTE in a month is their FTE (0 outside their window and on leave) less the FTE the
    plan assigns them that month; a role's unused flex is ``flex.max_fte`` less the
    role-month's ``flex``; a service's room is its capacity less its ``used`` units; a year's
    room is its budget less its ``spend``. For a trial the plan runs (a late one), its own
    assignments, units and flex share are given back first (its share of a role-month's flex
    is pro rata to the demand each trial has left there after its named staff, the rule of
    §2 that ``TrialCoverage.flex`` follows), and its own spend is taken off each year's. A person *able to serve*
    the trial in a role holds the role (primary or secondary), the trial's required skills
    for it and, for a regional role, one of the trial's regions; they count in a month where
    they have spare FTE and, unless already on the trial, work on fewer distinct trials than
    their ``max_concurrent_trials``. The trial's demand and units at a start are its option's
    stages laid from that month. ``option``/``start`` name the start a claim is about.

    - ``predecessor_not_run``: predecessor ``trial`` does not run in the plan.
    - ``pinned``: for a trial left out, a trial pin of the problem says ``run: false``; for a
      late trial, a trial pin fixes its option or start, and no start its pin allows in its
      window and the horizon ends it less late.
    - ``no_start``: no option and start lies in the trial's window and the horizon after
      every predecessor's end (as the plan has it) plus its lag.
    - ``objective_rule``: the objective (``rule``) runs no optional trial the problem does not
      force: under ``cost`` and ``makespan`` an optional trial only adds cost or months.
    - ``predecessor_ends``: at the start, predecessor ``trial`` ends in ``months[0]`` (as the
      plan has it), and the start is not after that month plus the lag ``amount``.
    - ``roles_short``: in each of ``months``, the trial's demand of the ``roles`` together is
      more than the spare FTE of the people able to serve it in any of them plus their unused
      flex; ``amount`` is the largest such excess, in FTE.
    - ``service_full``: in each of ``months`` the trial needs more units of ``service`` than
      its room; ``amount`` is the largest excess, in units.
    - ``budget_year`` / ``budget_total``: the year's (``year``) or the total spend plus the
      trial's least cost there exceeds the budget by ``amount``. The *least cost* is its
      option's fixed cost and service units at their prices, plus each role-month's demand at
      the lowest rate among the flex rate (where flex is unused) and the people able to serve
      it with spare FTE: no roster can cost less.
    - ``fits``: at the start no rule above binds.
    - ``not_worth``: under objective ``value``, at every start that fits, the trial's
      discounted value less its least cost and tardiness penalty is at most 0; ``amount`` is
      the best of them (at ``option``/``start``).
    - ``may_pay``: at the start the trial fits, and its gain by the objective's own formula
      (``value``: discounted value less least cost and tardiness; ``weighted_completion``: the
      weighted months it saves against counting as left out, less ``penalty_scale`` times
      its least cost and tardiness) is positive: up to ``amount``. A plan with the trial
      there may be better than this one.
    - ``late_unavoidable``: the trial cannot end before ``months[0]`` whatever else happens
      (its window, and each predecessor chain at its earliest starts with its shortest
      options), which is ``amount`` months past its deadline.
    """

    kind: FactKind
    option: str | None = None
    start: str | None = Field(None, description="The start month the claim is about (YYYY-MM)")
    trial: str | None = Field(None, description="The predecessor a predecessor fact is about")
    roles: list[str] = Field(default_factory=list)
    service: str | None = None
    year: str | None = None
    months: list[str] = Field(default_factory=list)
    amount: float | None = None
    rule: str | None = Field(None, description="The objective kind an objective_rule fact is about")


class Explanation(_Out):
    """Why a trial is left out or late (or why a problem has no plan), in a sentence, with the
    facts that sentence rests on."""

    trial: str | None = None
    reason: str
    facts: list[Fact] = Field(default_factory=list, description="The claims the reason makes, each recomputable from the plan")


class ExtraFte(_Out):
    role: str
    month: str
    fte: float = Field(gt=0, description="FTE of the role to add that month")


class ExtraUnits(_Out):
    service: str
    month: str | None = Field(None, description="The month whose capacity is raised; null: the service's contract volume")
    units: float = Field(gt=0, description="Units to add")


class Relaxation(_Out):
    """A change to an infeasible problem after which the portfolio stage finds a plan: the
    least of its ``kind`` it can find (extra money in a ``budget`` relaxation, FTE-months in
    ``capacity``, units in ``services``, months of slip in ``deadlines``; ``combined`` weighs
    them all, money and units at their price in FTE-months at the mean staff rate). Extra FTE is bought as flex at ``flex_rate`` (the
    role's flex rate, or its dearest person's rate where it has no flex), and its cost counts
    against the budget. ``verified`` says whether the engine, solving the problem with the
    change applied, found a plan (None: not tried in the time left); where the least change
    alone gave none, a scaled one that did is reported with its ``scale``. Apply it with
    ``models.formulation.elastic.apply_relaxation``."""

    kind: Literal["budget", "capacity", "services", "deadlines", "combined"]
    summary: str = Field(description="The change in plain words")
    budget_per_year: dict[str, float] = Field(default_factory=dict, description="Year -> money to add to its budget")
    budget_total: float = Field(0.0, description="Money to add to the total budget")
    extra_fte: list[ExtraFte] = Field(default_factory=list)
    flex_rate: dict[str, float] = Field(default_factory=dict, description="Role -> rate the extra FTE is bought at")
    extra_units: list[ExtraUnits] = Field(default_factory=list, description="Service capacity or contract volume to add")
    deadline_slips: dict[str, int] = Field(default_factory=dict, description="Trial -> months its deadline moves later")
    scale: float = Field(
        1.0, description="Money and FTE as a multiple of the portfolio stage's least change (above 1 where staffing needed more)"
    )
    verified: bool | None = None


class StageTiming(_Out):
    """Wall time of one stage: ``seconds`` in all, of which ``build_seconds`` building the
    Pyomo model and ``solver_seconds`` inside HiGHS (the rest is handing over and reading back).
    ``alongside`` names the stage this one ran beside on a second thread: its seconds
    overlap that stage's and add nothing to the solve's wall time. ``nodes`` counts the
    branch-and-bound nodes HiGHS explored (the work reproducible mode limits)."""

    stage: str
    seconds: float
    build_seconds: float = 0.0
    solver_seconds: float = 0.0
    status: str = ""
    variables: int = 0
    constraints: int = 0
    alongside: str = ""
    nodes: int = 0


class Kpis(_Out):
    """Headline figures of a plan. ``total_cost`` is total spend; ``value_delivered`` the
    running trials' discounted value (whatever the objective); a trial is on time with 0
    months late (or no deadline); ``makespan_months`` is the last running trial's end index
    + 1; ``mean_utilisation`` is how busy the named pool is: FTE-months assigned over
    FTE-months available (each person's FTE in each month of their window off leave),
    so a person able to work two roles counts once."""

    total_cost: float = 0.0
    value_delivered: float = 0.0
    trials_run: int = 0
    trials_on_time: int = 0
    mean_utilisation: float = Field(0.0, description="Named staff FTE-months assigned / FTE-months available")
    makespan_months: int = 0
    flex_fte_months: float = 0.0
    shortfall_fte_months: float = 0.0


class Churn(_Out):
    """How much of an earlier plan a later one changed, from ``since`` on (the freeze; the
    whole horizon when None): what a planner who publishes the plan to its people reads.

    A trial *changed* if it runs in one plan and not the other, or runs in both with another
    option or start (a trial the earlier plan does not list is new, not changed). A person is *reassigned* if their work from ``since`` differs at all: a
    trial, role or month they work in, or its FTE. Work is compared cell by cell (person,
    trial, role, month): an earlier block is *kept* if each of its months from ``since`` has
    the same FTE in the later plan; FTE-months *kept* are the FTE both plans give each cell,
    FTE-months *moved* the FTE taken off cells plus the FTE put on (a block handed from one
    person to another moves twice its FTE-months)."""

    since: str | None = Field(None, description="First month compared (the freeze); null: the whole horizon")
    trials_changed: int = 0
    trials: list[str] = Field(default_factory=list, description="The trials changed")
    people_reassigned: int = 0
    people_with_work: int = Field(0, description="People with work from `since` in either plan")
    blocks_previous: int = Field(0, description="The earlier plan's assignment blocks with months from `since`")
    blocks_kept: int = 0
    fte_months_previous: float = Field(0.0, description="The earlier plan's FTE-months from `since`")
    fte_months_kept: float = 0.0
    fte_months_moved: float = 0.0


class PlanChanges(Churn):
    """What a re-plan changed against its previous plan (``pins.previous_plan``) from the freeze
    on, and what stability cost: the best re-plan the engine found with any number of changes,
    and how much objective the returned plan gives up against it to change less."""

    stability: str = Field(description="The stability rule applied (settings.stability), in words")
    chosen: str = Field(description="Which re-plan was returned (e.g. 'previous plan kept')")
    best_objective: float | None = Field(None, description="The best re-plan found, whatever it changed")
    stability_cost: float | None = Field(
        None, description="How much worse the returned plan's objective is than best_objective (objective units, >= 0)"
    )
    candidates: list[str] = Field(
        default_factory=list, description="The re-plans the stability rule compared (those within its tolerance), each with its objective and changes"
    )


class PortfolioRef(_Out):
    """Which portfolio a plan was made for: the problem's ``name`` and its ``fingerprint``, a
    SHA-256 of the portfolio itself (everything but ``pins`` and ``settings``, which say how it
    was asked rather than what it is; see :func:`models.contract.identity.fingerprint`). Two
    problems with the same fingerprint describe the same world."""

    name: str
    fingerprint: str = Field(description="sha256 hex of the problem without pins and settings")
    trials: int = Field(0, description="Trials in the problem")
    staff: int = Field(0, description="Named people in the problem")


class Plan(_Out):
    status: Status
    message: str = ""
    objective: float | None = None
    best_bound: float | None = None
    gap: float | None = Field(None, description="Relative gap |objective - bound| / max(1, |objective|)")
    solve_seconds: float = 0.0
    solver: str = "highs"
    stages: list[StageTiming] = Field(default_factory=list)
    trials: list[TrialPlan] = Field(default_factory=list)
    assignments: list[Assignment] = Field(default_factory=list)
    role_months: list[RoleMonth] = Field(default_factory=list)
    service_months: list[ServiceMonth] = Field(default_factory=list)
    service_volumes: list[ServiceVolume] = Field(
        default_factory=list, description="Each service with a contract volume: units used over the horizon against it"
    )
    budget: BudgetReport = Field(default_factory=BudgetReport)
    explanations: list[Explanation] = Field(default_factory=list)
    relaxations: list[Relaxation] = Field(
        default_factory=list, description="For an infeasible problem: changes after which a plan exists, the least of each kind"
    )
    kpis: Kpis = Field(default_factory=Kpis)
    changes: PlanChanges | None = Field(None, description="For a re-plan (a previous plan given): what it changed and what stability cost")
    portfolio: PortfolioRef | None = Field(None, description="The portfolio this plan was made for (None in plans made before plans carried it)")

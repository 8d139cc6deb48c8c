"""Engine settings: every solver option, time share and tolerance in one place."""

from __future__ import annotations

from dataclasses import dataclass

from models.contract.problem import Settings

#: Fewest nodes a HiGHS run gets in reproducible mode, however short its share of the limit.
MIN_NODES = 100


@dataclass(frozen=True)
class EngineSettings:
    """How the two-stage solve spends its time and what it calls close enough.

    ``portfolio_share`` of the time left goes to each portfolio round; the staffing stage,
    shedding, insertion and later rounds get what is left. Round 0, whose incumbent decides the plan, may go on to
    ``portfolio_share_max`` while its own gap is above ``extend_gap``: stopping it far from
    its bound (on the reference, before it has beaten the constructive plan) wastes the
    rest, since a plan that needs no repair ends the solve. ``tolerance`` is the absolute
    FTE/units slack under which a number counts as zero when reading solutions back.
    ``money_scale`` multiplies currency in the portfolio model so HiGHS sees coefficients
    near 1 (values are in the hundreds of millions). The staffing MIP runs only when it has
    at most ``staffing_mip_max_pairs`` (person, segment) candidates; the greedy roster is
    always built and the cheaper of the two is kept. ``cost_tiers`` None prices labour in
    the portfolio stage on the exact cheapest-first curve of each group (tightest bound);
    a number splits each group into that many equal tiers priced at their cheapest member
    (a smaller, quicker MIP whose bound is then tightened by the exact curve's LP).
    Portfolios up to ``staff_heuristic_beside_below`` (staff x trials) staff the constructive
    plan on a second thread while round 0 runs in HiGHS; larger ones staff it last, and only
    if a roster fits in the time left (a roster there takes tens of seconds). Portfolios up
    to ``lp_roster_below`` (staff x trials) also get the month-by-month LP roster
    (:mod:`models.heuristics.lp_roster`; about 2 s on the reference) beside the greedy one.
    With ``labour_cuts`` the portfolio stage prices labour by cuts on one variable per
    month instead of one column per cost step and month (:mod:`models.formulation.labour_cuts`): up to
    ``cut_prime_share`` of a round's time goes into cutting its LP relaxation (at most
    ``cut_rounds_lp`` LPs), then the MIP is solved, priced exactly and cut again, at most
    ``cut_rounds`` times. Portfolios up to ``named_pricing_below`` (staff x trials) price
    each month over named people (eligibility and availability exact: a tighter bound);
    larger ones over capacity groups (at the reference's size the named cuts made each MIP
    run 21-30 s). With ``bound_search``, round 0's model is searched on for a
    tighter bound on the other core (up to ``named_bound_below`` staff x trials, with cuts
    from the named month LPs at each optimum it proves) until the plan is proven within
    ``mip_gap`` of the bound, or until the deadline: the limit is the planner's budget for
    proving the plan.
    With ``reproducible`` the same problem gives the same plan on every run of one
    machine, whatever its load: no stage races another on a second thread, and every
    HiGHS run is limited by work (``nodes_per_second`` branch-and-bound nodes per second of
    its nominal share of the limit, :meth:`work_limit`) instead of by the clock, which then
    only guards the planner's limit.
    With ``diagnose`` an infeasible problem is diagnosed (which rules bind, the least changes
    that fix it); off when the engine checks such a change by solving the changed problem.
    With ``budget_step``, each year's budget is raised by that share in turn after the plan
    is found, to estimate what more budget would buy (:mod:`models.pipeline.budget`).
    With ``replan_start`` (a re-plan, ``pins.previous_plan`` given) the previous plan, kept
    where it still holds, is the first candidate and round 0's warm start, and the best
    schedule is staffed again keeping its roster (:mod:`models.pipeline.replan`); without it
    the previous plan only supplies the freeze: a re-plan from scratch, which
    ``bench/replan.py`` compares against.
    Repair rounds run HiGHS without presolve unless ``repair_presolve``: on the reference's
    dense cut model, presolve and the restarts it triggers took most of a round's 6-8 s,
    and without them HiGHS finished the same rounds in 2-4 s.
    """

    time_limit: float = 60.0
    mip_gap: float = 0.01
    threads: int | None = None
    seed: int = 0
    portfolio_share: float = 0.6
    portfolio_share_max: float = 0.85
    extend_gap: float = 0.05
    staffing_gap: float = 0.005
    cost_tiers: int | None = None
    repair_rounds: int = 4
    staff_heuristic_beside_below: int = 100_000
    tolerance: float = 1e-6
    money_scale: float = 1e-4
    staffing_mip_max_pairs: int = 3000
    lp_roster_below: int = 100_000
    labour_cuts: bool = True
    cut_prime_share: float = 0.3
    cut_rounds_lp: int = 60
    cut_rounds: int = 12
    named_pricing_below: int = 5_000
    named_bound_below: int = 100_000
    bound_search: bool = True
    repair_presolve: bool = False
    reproducible: bool = False
    nodes_per_second: float = 200.0
    diagnose: bool = True
    budget_step: float | None = None
    replan_start: bool = True

    @classmethod
    def from_problem(cls, settings: Settings) -> "EngineSettings":
        return cls(
            time_limit=settings.time_limit,
            mip_gap=settings.mip_gap,
            threads=settings.threads,
            seed=settings.seed,
            reproducible=settings.reproducible,
            budget_step=settings.budget_step,
        )

    def work_limit(self, seconds: float) -> int | None:
        """In reproducible mode, the branch-and-bound nodes a HiGHS run may explore in place of
        ``seconds`` of its share of the time limit (None otherwise: the clock rules)."""
        return max(MIN_NODES, round(self.nodes_per_second * seconds)) if self.reproducible else None

    def highs_options(self) -> dict[str, object]:
        """Options passed straight to HiGHS on every call."""
        options: dict[str, object] = {"random_seed": self.seed, "output_flag": False}
        return options

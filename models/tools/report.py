"""The planner's report (SPEC §5): one self-contained HTML file that opens offline.

Planners read a plan as pictures before tables, so the report shows, from the plan
(and, when given, the problem it solves):

- the headline: status, objective, bound and gap, the KPIs;
- a Gantt chart of the trials that run: a bar per trial from its first to its last
  month, coloured by execution option; hovering names the option, the months late,
  the deadline and the predecessors (with the problem), and an arrow runs from each
  predecessor's end to the start of the trial waiting for it; late trials are outlined
  in red and their deadline marked; trials left out are listed under the chart;
- a heatmap of roles × months, switchable between utilisation, flex, shortfall and spare
  FTE; hover splits capacity into primary and secondary holders of the role and names the
  part of the work done in a secondary role;
- with the problem, a heatmap of people × months (share of each person's available FTE
  assigned, least used first) and a table of the least used people;
- budget burn per year: spend against the year's budget and, where asked, what more
  budget buys;
- service usage: units used per month against capacity, per service;
- the relaxations of an infeasible problem and the explanations, as the plan gives them.

A plan without a schedule (infeasible, no solution, error) gets its status, message and
relaxations instead of charts with nothing on them.

The charts are Plotly figures (interactive: zoom, hover, toggle) with plotly.js
embedded once, inline, so the file needs no network. Every text from the plan or
problem is HTML-escaped.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from models.contract.plan import (
    Plan,
    Relaxation,
    RoleMonth,
    ServiceMonth,
    TrialPlan,
    YearSpend,
)
from models.contract.problem import Problem, Staff, Trial

#: Colours of the execution options, in order of first appearance (Plotly's qualitative palette).
_PALETTE = ("#636EFA", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52", "#EF553B")
_LATE = "#D62728"
_DAY_MS = 86_400_000


def _first_day(month: str) -> str:
    return f"{month}-01"


def _month_after(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{y + (m == 12):04d}-{m % 12 + 1:02d}"


def _bar_length_ms(start: str, end: str) -> float:
    """A bar from the 1st of ``start`` to the 1st of the month after ``end``, in milliseconds (Plotly's date unit)."""
    days = sum(_days_in(month) for month in _months(start, _month_after(end)))
    return days * _DAY_MS


def _months(start: str, stop: str) -> list[str]:
    """``start`` up to (not including) ``stop``."""
    out = []
    y, m = int(start[:4]), int(start[5:7])
    while f"{y:04d}-{m:02d}" < stop:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _days_in(month: str) -> int:
    y, m = int(month[:4]), int(month[5:7])
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _gantt(plan: Plan, problem: Problem | None) -> go.Figure:
    trials = {t.id: t for t in problem.trials} if problem else {}
    running = sorted((t for t in plan.trials if t.run and t.start and t.end), key=lambda t: (t.start or "", t.id))
    options = list(dict.fromkeys(t.option or "?" for t in running))
    colour = {o: _PALETTE[i % len(_PALETTE)] for i, o in enumerate(options)}
    fig = go.Figure()
    for option in options:
        rows = [t for t in running if (t.option or "?") == option]
        fig.add_trace(
            go.Bar(
                name=option,
                orientation="h",
                y=[_label(t, trials) for t in rows],
                base=[_first_day(t.start or "") for t in rows],
                x=[_bar_length_ms(t.start or "", t.end or "") for t in rows],
                marker={
                    "color": colour[option],
                    "line": {"color": [_LATE if t.months_late else colour[option] for t in rows], "width": [3 if t.months_late else 0 for t in rows]},
                },
                customdata=[_hover(t, trials) for t in rows],
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    fig.update_layout(annotations=_precedence_arrows(running, trials))
    late = [t for t in running if t.months_late and trials.get(t.id) and trials[t.id].deadline]
    if late:
        fig.add_trace(
            go.Scatter(
                name="deadline (late trials)",
                mode="markers",
                y=[_label(t, trials) for t in late],
                x=[_first_day(_month_after(trials[t.id].deadline or "")) for t in late],
                customdata=[trials[t.id].deadline for t in late],
                marker={"symbol": "line-ns-open", "size": 18, "color": _LATE, "line": {"width": 3}},
                hovertemplate="must end by %{customdata}<extra></extra>",
            )
        )
    height = 160 + 26 * max(1, len(running))
    fig.update_layout(
        title="Trials: when they run, in which option",
        barmode="overlay",
        height=height,
        xaxis={"type": "date", "title": "month", "tickformat": "%Y-%m"},
        yaxis={"autorange": "reversed", "title": ""},
        legend={"title": "option"},
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def _precedence_arrows(running: list[TrialPlan], trials: dict[str, Trial]) -> list[dict[str, object]]:
    """An arrow from the end of each running predecessor's bar to the start of the trial waiting for it."""
    placed = {t.id: t for t in running}
    arrows: list[dict[str, object]] = []
    for t in running:
        for link in trials[t.id].predecessors if t.id in trials else []:
            before = placed.get(link.trial)
            if before is None or before.end is None:
                continue
            arrows.append(
                {
                    "x": _first_day(t.start or ""),
                    "y": _label(t, trials),
                    "ax": _first_day(_month_after(before.end)),
                    "ay": _label(before, trials),
                    "xref": "x",
                    "yref": "y",
                    "axref": "x",
                    "ayref": "y",
                    "showarrow": True,
                    "arrowhead": 2,
                    "arrowwidth": 1.2,
                    "arrowcolor": "#444",
                    "text": "",
                }
            )
    return arrows


def _label(trial: TrialPlan, problem_trials: dict[str, Trial]) -> str:
    name = problem_trials[trial.id].name if trial.id in problem_trials else None
    return f"{trial.id} {name}" if name else trial.id


def _hover(trial: TrialPlan, problem_trials: dict[str, Trial]) -> str:
    lines = [f"<b>{html.escape(trial.id)}</b>", f"option {html.escape(trial.option or '?')}", f"{trial.start} to {trial.end}"]
    source = problem_trials.get(trial.id)
    if trial.months_late:
        deadline = f" (deadline {source.deadline})" if source and source.deadline else ""
        lines.append(f"<b>{trial.months_late} month(s) late</b>{deadline}")
    elif source and source.deadline:
        lines.append(f"on time (deadline {source.deadline})")
    if source and source.predecessors:
        after = ", ".join(f"{html.escape(p.trial)}" + (f" + {p.lag} month(s)" if p.lag else "") for p in source.predecessors)
        lines.append(f"after {after}")
    lines.append(f"cost {trial.cost:,.0f}; value {trial.value:,.0f}")
    return "<br>".join(lines)


def _heatmap(plan: Plan) -> go.Figure | None:
    if not plan.role_months:
        return None
    roles = list(dict.fromkeys(r.role for r in plan.role_months))
    months = sorted({r.month for r in plan.role_months})
    cell = {(r.role, r.month): r for r in plan.role_months}
    measures = (
        ("utilisation", lambda r: r.utilisation, "Blues"),
        ("flex FTE", lambda r: r.flex, "Oranges"),
        ("shortfall FTE", lambda r: r.shortfall, "Reds"),
        ("spare FTE", lambda r: r.spare, "Greens"),
    )
    fig = go.Figure()
    for k, (name, read, scale) in enumerate(measures):
        z = [[read(cell[(role, m)]) if (role, m) in cell else None for m in months] for role in roles]
        text = [
            [
                _heat_text(cell[(role, m)]) if (role, m) in cell else ""
                for m in months
            ]
            for role in roles
        ]
        fig.add_trace(
            go.Heatmap(
                name=name,
                z=z,
                x=months,
                y=roles,
                colorscale=scale,
                zmin=0,
                colorbar={"title": name},
                text=text,
                hovertemplate="%{y} %{x}<br>%{text}<extra></extra>",
                visible=k == 0,
            )
        )
    buttons = [
        {"label": name, "method": "update", "args": [{"visible": [j == k for j in range(len(measures))]}, {"title": f"Roles × months: {name}"}]}
        for k, (name, _, _) in enumerate(measures)
    ]
    fig.update_layout(
        title="Roles × months: utilisation",
        updatemenus=[{"type": "buttons", "direction": "left", "buttons": buttons, "x": 1, "y": 1.02, "xanchor": "right", "yanchor": "bottom"}],
        height=160 + 28 * len(roles),
        xaxis={"type": "category", "title": "month"},
        yaxis={"autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 60, "b": 40},
    )
    return fig


def _heat_text(rm: RoleMonth) -> str:
    """A role-month in words: who could work it (primary and secondary apart), who did, what was left."""
    value = "" if rm.marginal_value is None else f"<br>one more FTE worth {rm.marginal_value:,.0f}"
    return (
        f"capacity {rm.capacity:.2f} ({rm.capacity_primary:.2f} primary + {rm.capacity_secondary:.2f} secondary)"
        f"<br>demand {rm.demand:.2f}; assigned {rm.assigned:.2f} (of it {rm.assigned_secondary:.2f} secondary)"
        f"<br>spare {rm.spare:.2f}; flex {rm.flex:.2f}; shortfall {rm.shortfall:.2f}<br>utilisation {rm.utilisation:.0%}{value}"
    )


def _more_budget(year: YearSpend) -> str:
    """What a raise of the year's budget bought, where the planner asked (``settings.budget_step``)."""
    if year.extra_budget is None or year.objective_gain is None:
        return ""
    bound = "" if year.objective_gain_bound is None else f" (at most {year.objective_gain_bound:,.0f})"
    rate = "" if year.marginal_value is None else f"<br>each unit more worth {year.marginal_value:,.3f}"
    return f"<br>{year.extra_budget:,.0f} more gave a plan better by {year.objective_gain:,.0f}{bound}{rate}"


def _budget(plan: Plan) -> go.Figure | None:
    years = plan.budget.per_year
    if not years:
        return None
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            name="spend",
            x=[y.year for y in years],
            y=[y.spend for y in years],
            marker={"color": ["#EF553B" if y.budget is not None and y.spend > y.budget + 1e-6 else "#636EFA" for y in years]},
            hovertemplate="%{x}: spend %{y:,.0f}<extra></extra>",
        )
    )
    budgeted = [y for y in years if y.budget is not None]
    if budgeted:
        fig.add_trace(
            go.Scatter(
                name="budget",
                mode="markers",
                x=[y.year for y in budgeted],
                y=[y.budget for y in budgeted],
                marker={"symbol": "line-ew-open", "size": 60, "color": "#222", "line": {"width": 3}},
                customdata=[_more_budget(y) for y in budgeted],
                hovertemplate="%{x}: budget %{y:,.0f}%{customdata}<extra></extra>",
            )
        )
    stepped = [y for y in years if y.extra_budget is not None and y.objective_gain is not None]
    if stepped:
        fig.add_trace(_budget_gain(stepped))
        fig.update_layout(yaxis2={"title": "objective gain", "overlaying": "y", "side": "right", "rangemode": "tozero", "showgrid": False})
    fig.update_layout(
        title="Budget burn per year" + ("; ◆ what more budget buys" if stepped else ""),
        xaxis={"type": "category", "title": "year"},
        yaxis={"title": "spend", "rangemode": "tozero"},
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def _budget_gain(years: list[YearSpend]) -> go.Scatter:
    """The budget step on the right axis: the objective gained with ``extra_budget`` more, a bar up to its bound."""
    return go.Scatter(
        name="gain from more budget",
        mode="markers",
        x=[y.year for y in years],
        y=[y.objective_gain for y in years],
        yaxis="y2",
        marker={"symbol": "diamond", "size": 12, "color": "#00CC96"},
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [max(0.0, (y.objective_gain_bound or 0.0) - (y.objective_gain or 0.0)) for y in years],
            "arrayminus": [0.0] * len(years),
            "color": "#00CC96",
        },
        customdata=[_more_budget(y).removeprefix("<br>") for y in years],
        hovertemplate="%{x}: %{customdata}<extra></extra>",
    )


def _budget_steps(plan: Plan) -> str:
    """The budget-step figures as a table under the chart, for reading off exact numbers."""
    years = [y for y in plan.budget.per_year if y.extra_budget is not None]
    if not years:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(y.year)}</td><td>{_number(y.budget)}</td><td>{_number(y.spend)}</td><td>{_number(y.extra_budget)}</td>"
        f"<td>{_number(y.objective_gain)}</td><td>{_number(y.objective_gain_bound)}</td><td>{_number(y.marginal_value, 3)}</td></tr>"
        for y in years
    )
    head = "<tr><th>year</th><th>budget</th><th>spend</th><th>extra budget</th><th>objective gain</th><th>gain at most</th><th>per unit</th></tr>"
    return f"<h3>What more budget buys</h3><table class='grid'>{head}{rows}</table>"


def _services(plan: Plan) -> go.Figure | None:
    if not plan.service_months:
        return None
    series: dict[str, list[ServiceMonth]] = defaultdict(list)
    for s in plan.service_months:
        series[s.service].append(s)
    fig = go.Figure()
    for k, (service, months) in enumerate(series.items()):
        months.sort(key=lambda s: s.month)
        colour = _PALETTE[k % len(_PALETTE)]
        x = [s.month for s in months]
        fig.add_trace(go.Scatter(name=f"{service} used", x=x, y=[s.used for s in months], mode="lines+markers", line={"color": colour}))
        fig.add_trace(
            go.Scatter(name=f"{service} capacity", x=x, y=[s.capacity for s in months], mode="lines", line={"color": colour, "dash": "dot"})
        )
    fig.update_layout(
        title="Service usage per month against capacity",
        xaxis={"type": "category", "title": "month"},
        yaxis={"title": "units", "rangemode": "tozero"},
        height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


@dataclass(frozen=True)
class PersonMonth:
    """One person in one month: the FTE they could give (0 on leave or outside their window), the FTE
    the plan gives them and the trials they work on. Shared by the report and the workbook's People sheet."""

    staff: str
    month: str
    available: float
    assigned: float
    trials: tuple[str, ...]

    @property
    def utilisation(self) -> float:
        """assigned / available (0 when the person is not available)."""
        return self.assigned / self.available if self.available > 0 else 0.0


def _availability(problem: Problem, person: Staff) -> list[bool]:
    """Whether the person can work in each horizon month: inside their window and not on leave."""
    n = problem.horizon.months
    lo = 0 if person.available_from is None else problem.index(person.available_from)
    hi = n - 1 if person.available_to is None else problem.index(person.available_to)
    leave = {problem.index(month) for month in person.leave}
    return [lo <= m <= hi and m not in leave for m in range(n)]


def person_months(plan: Plan, problem: Problem) -> dict[str, list[PersonMonth]]:
    """Every person of the problem, every horizon month: available FTE, assigned FTE, trials worked."""
    n = problem.horizon.months
    work: dict[tuple[str, int], float] = defaultdict(float)
    trials: dict[tuple[str, int], set[str]] = defaultdict(set)
    for block in plan.assignments:
        for m in range(max(0, problem.index(block.start)), min(n - 1, problem.index(block.end)) + 1):
            work[(block.staff, m)] += block.fte
            trials[(block.staff, m)].add(block.trial)
    out: dict[str, list[PersonMonth]] = {}
    for person in problem.staff:
        free = _availability(problem, person)
        out[person.id] = [
            PersonMonth(
                person.id,
                problem.month(m),
                person.fte if free[m] else 0.0,
                round(work[(person.id, m)], 6),
                tuple(sorted(trials[(person.id, m)])),
            )
            for m in range(n)
        ]
    return out


@dataclass(frozen=True)
class PersonUse:
    """A person over the horizon: FTE-months available and assigned, and the idle FTE-months in
    months when a role they can work bought flex or fell short: the signal that the roster left
    someone aside (region, skills or their concurrent-trial limit may be why)."""

    person: Staff
    available: float
    assigned: float
    idle_while_needed: float
    months_over: int

    @property
    def utilisation(self) -> float:
        return self.assigned / self.available if self.available > 0 else 0.0


def person_use(plan: Plan, problem: Problem, months: dict[str, list[PersonMonth]] | None = None) -> list[PersonUse]:
    """Each person's use of their FTE, least used first (ties: most idle while their roles were short)."""
    months = months if months is not None else person_months(plan, problem)
    needed = {(r.role, r.month) for r in plan.role_months if r.flex + r.shortfall > 1e-6}
    out = []
    for person in problem.staff:
        rows = months[person.id]
        roles = (person.role, *person.secondary_roles)
        idle = sum(
            max(0.0, pm.available - pm.assigned) for pm in rows if any((role, pm.month) in needed for role in roles)
        )
        over = sum(1 for pm in rows if pm.assigned > pm.available + 1e-6)
        out.append(PersonUse(person, sum(pm.available for pm in rows), sum(pm.assigned for pm in rows), idle, over))
    return sorted(out, key=lambda u: (u.utilisation, -u.idle_while_needed, u.person.id))


def _person_label(person: Staff) -> str:
    name = f" {person.name}" if person.name else ""
    return f"{person.id}{name} ({person.role})"


def _people_heatmap(uses: list[PersonUse], months: dict[str, list[PersonMonth]]) -> go.Figure | None:
    """People × months, least used first: the share of each person's available FTE the plan uses.

    Blank where the person is not available. Hundreds of people stay readable as thin rows
    whose names show on hover; the hover text is kept short because it is repeated per cell."""
    if not uses:
        return None
    columns = [pm.month for pm in months[uses[0].person.id]]
    z = [[round(pm.utilisation, 3) if pm.available > 0 else None for pm in months[u.person.id]] for u in uses]
    text = [[_person_cell(pm) for pm in months[u.person.id]] for u in uses]
    rows = len(uses)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=columns,
            y=[_person_label(u.person) for u in uses],
            text=text,
            colorscale="YlGnBu",
            zmin=0,
            zmax=1,
            colorbar={"title": "used", "tickformat": ".0%"},
            hovertemplate="%{y} %{x}<br>%{text}<extra></extra>",
            xgap=0,
            ygap=0,
        )
    )
    fig.update_layout(
        title="People × months: share of each person's available FTE assigned (least used at the top; blank: not available)",
        height=160 + max(2, min(22, 1400 // rows)) * rows,
        xaxis={"type": "category", "title": "month"},
        yaxis={"autorange": "reversed", "showticklabels": rows <= 80, "type": "category"},
        margin={"l": 10, "r": 10, "t": 60, "b": 40},
    )
    return fig


def _person_cell(pm: PersonMonth) -> str:
    if pm.available <= 0:
        return f"not available; {pm.assigned:g} FTE" if pm.assigned else "not available"
    trials = f": {' '.join(pm.trials)}" if pm.trials else ""
    return f"{pm.assigned:g} of {pm.available:g} FTE{trials}"


#: How many people the under-use table lists.
_PEOPLE_LISTED = 15


def _people_table(uses: list[PersonUse]) -> str:
    """The least used people, and anyone the plan puts above their FTE (which a valid plan never does)."""
    if not uses:
        return ""
    over = [u for u in uses if u.months_over]
    over_line = (
        "<p class='message'>Above their FTE: "
        + ", ".join(f"{html.escape(u.person.id)} ({u.months_over} month(s))" for u in over)
        + "</p>"
        if over
        else "<p>Nobody is assigned above their FTE in any month.</p>"
    )
    idle = sorted(uses, key=lambda u: (-u.idle_while_needed, u.utilisation, u.person.id))[:_PEOPLE_LISTED]
    rows = "".join(
        f"<tr><td>{html.escape(_person_label(u.person))}</td><td>{html.escape(', '.join(u.person.secondary_roles))}</td>"
        f"<td>{html.escape(u.person.region or '')}</td><td>{u.available:,.2f}</td><td>{u.assigned:,.2f}</td>"
        f"<td>{u.utilisation:.0%}</td><td>{u.idle_while_needed:,.2f}</td></tr>"
        for u in idle
    )
    head = (
        "<tr><th>person</th><th>secondary roles</th><th>region</th><th>FTE-months available</th><th>assigned</th>"
        "<th>used</th><th>idle while their roles bought flex or fell short</th></tr>"
    )
    return (
        f"<h3>Least used people (of {len(uses)})</h3><p>Ordered by the FTE-months they sat idle in months when a role "
        "they can work bought flex or fell short, then by the share of their time used; region, skills and "
        f"concurrent-trial limits may explain it.</p><table class='grid'>{head}{rows}</table>{over_line}"
    )


def _number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


#: Statuses whose plan carries a schedule; the others (infeasible, no_solution, error) have none to draw.
_SCHEDULED = ("optimal", "feasible")


def _trial_count(plan: Plan, problem: Problem | None) -> int:
    """Trials in the problem: a plan without a schedule lists none of them itself."""
    if problem is not None:
        return len(problem.trials)
    if plan.portfolio is not None and plan.portfolio.trials:
        return plan.portfolio.trials
    return len(plan.trials)


def _headline(plan: Plan, trials: int) -> str:
    if plan.status not in _SCHEDULED:
        return _no_plan_headline(plan, trials)
    k = plan.kpis
    gap = "–" if plan.gap is None else f"{plan.gap:.2%}"
    rows: Sequence[tuple[str, str]] = (
        ("status", plan.status),
        ("objective", _number(plan.objective, 2)),
        ("best bound", _number(plan.best_bound, 2)),
        ("gap", gap),
        ("total cost", _number(k.total_cost)),
        ("value delivered", _number(k.value_delivered)),
        ("trials run", f"{k.trials_run} of {trials}"),
        ("trials on time", str(k.trials_on_time)),
        ("mean utilisation", f"{k.mean_utilisation:.1%}"),
        ("makespan", f"{k.makespan_months} months"),
        ("flex", f"{k.flex_fte_months:,.2f} FTE-months"),
        ("shortfall", f"{k.shortfall_fte_months:,.2f} FTE-months"),
        ("solve time", f"{plan.solve_seconds:.1f} s"),
    )
    message = f"<p class='message'>{html.escape(plan.message)}</p>" if plan.message else ""
    return _kpis(rows) + message


def _kpis(rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(f"<div class='kpi'><span>{html.escape(name)}</span><b>{html.escape(value)}</b></div>" for name, value in rows)
    return f"<section class='kpis'>{cells}</section>"


def _no_plan_headline(plan: Plan, trials: int) -> str:
    """A plan without a schedule: what happened and to how many trials, not a row of zero KPIs."""
    rows = (("status", plan.status), ("trials in the problem", str(trials)), ("solve time", f"{plan.solve_seconds:.1f} s"))
    why = html.escape(plan.message) if plan.message else "the engine gave no reason"
    return (
        f"{_kpis(rows)}<p class='message'><b>No plan ({html.escape(plan.status)}).</b> {why}</p>"
        "<p>No schedule to show: none of the trials is placed, so there is no Gantt chart, role heatmap or budget burn.</p>"
    )


def _money(amount: float) -> str:
    return f"{amount:,.0f}"


def _relaxation_row(r: Relaxation) -> str:
    """One relaxation: its kind, the change in words and in figures, whether the engine confirmed it."""
    money = [f"{year}: +{_money(v)}" for year, v in sorted(r.budget_per_year.items())]
    if r.budget_total:
        money.append(f"total: +{_money(r.budget_total)}")
    fte: dict[str, float] = defaultdict(float)
    for extra in r.extra_fte:
        fte[extra.role] += extra.fte
    staffing = [
        f"{role} +{months:,.2f} FTE-months" + (f" at {_money(r.flex_rate[role])}" if role in r.flex_rate else "")
        for role, months in sorted(fte.items())
    ]
    units = [f"{u.service} +{u.units:,g} " + (f"in {u.month}" if u.month else "contract volume") for u in r.extra_units]
    slips = [f"{trial} +{months} month(s)" for trial, months in sorted(r.deadline_slips.items())]
    verified = {True: "yes", False: "no", None: "not tried"}[r.verified]
    cells = (
        r.kind, r.summary, "; ".join(money) or "–", "; ".join(staffing) or "–", "; ".join(units) or "–", "; ".join(slips) or "–",
        f"{r.scale:g}", verified,
    )
    return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def _relaxations(plan: Plan) -> str:
    """What would make an infeasible problem feasible, the least change of each kind the engine found."""
    if not plan.relaxations:
        if plan.status == "infeasible":
            return "<h2>What would make it feasible</h2><p>The plan lists no change after which a plan exists.</p>"
        return ""
    head = (
        "<tr><th>kind</th><th>change</th><th>budget added</th><th>staff added (rate per FTE-month)</th>"
        "<th>service units added</th><th>deadlines moved</th><th>scale</th><th>verified</th></tr>"
    )
    rows = "".join(_relaxation_row(r) for r in plan.relaxations)
    return f"<h2>What would make it feasible</h2><table class='grid'>{head}{rows}</table>"


def _left_out(plan: Plan, problem: Problem | None) -> str:
    names = {t.id: t.name for t in problem.trials} if problem else {}
    out = [t for t in plan.trials if not t.run]
    if not out:
        return ""
    items = "".join(
        f"<li>{html.escape(t.id)}{' ' + html.escape(names[t.id]) if names.get(t.id) else ''}</li>" for t in out
    )
    return f"<h3>Trials left out ({len(out)})</h3><ul class='cols'>{items}</ul>"


def _explanations(plan: Plan) -> str:
    if not plan.explanations:
        return "<h2>Explanations</h2><p>Nothing to explain: every trial runs on time.</p>"
    items = "".join(
        f"<li>{'<b>' + html.escape(e.trial) + '</b>: ' if e.trial else ''}{html.escape(e.reason)}</li>" for e in plan.explanations
    )
    return f"<h2>Explanations</h2><ul>{items}</ul>"


_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1400px;color:#222;padding:0 16px}
h1{margin-bottom:4px} .sub{color:#666;margin-top:0}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:8px;margin:16px 0}
.kpi{background:#f3f6fa;border-radius:6px;padding:8px 10px;display:flex;flex-direction:column}
.kpi span{font-size:12px;color:#555} .kpi b{font-size:18px}
.message{background:#fff8e1;padding:8px 12px;border-left:4px solid #f0b400}
ul.cols{columns:4} li{margin:2px 0}
table.grid{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
table.grid th,table.grid td{border:1px solid #dde3ea;padding:4px 8px;text-align:left;vertical-align:top}
table.grid th{background:#f3f6fa}
"""


def _chart(fig: go.Figure, k: int) -> str:
    """A figure as a div; plotly.js goes inline with the first one only."""
    return fig.to_html(full_html=False, include_plotlyjs=k == 0, config={"displaylogo": False, "responsive": True}, div_id=f"chart{k}")


def _schedule_parts(plan: Plan, problem: Problem | None) -> list[str]:
    """The charts and tables of a plan with a schedule, in reading order."""
    months = person_months(plan, problem) if problem is not None else {}
    uses = person_use(plan, problem, months) if problem is not None else []
    sections: list[tuple[go.Figure | None, str]] = [
        (_gantt(plan, problem), _left_out(plan, problem)),
        (_heatmap(plan), ""),
        (_people_heatmap(uses, months), _people_table(uses)),
        (_budget(plan), _budget_steps(plan)),
        (_services(plan), ""),
    ]
    figures = [fig for fig, _ in sections if fig is not None]
    return [(_chart(fig, figures.index(fig)) if fig is not None else "") + after for fig, after in sections]


def render_report(plan: Plan, problem: Problem | None = None) -> str:
    """The plan as one self-contained HTML page (plotly.js inline): headline, Gantt, role and people
    heatmaps, budget, services, explanations; for a plan without a schedule (infeasible, no
    solution, error) the status, its message, the relaxations and explanations instead of empty charts.

    With the problem, the Gantt names trials, shows deadlines and predecessors, and the people
    view can be drawn; without it the report shows what the plan alone says.
    """
    title = problem.name if problem else "plan"
    trials = _trial_count(plan, problem)
    parts = _schedule_parts(plan, problem) if plan.status in _SCHEDULED else []
    horizon = f"{problem.horizon.start}, {problem.horizon.months} months" if problem else ""
    sub = f"{trials} trials{'; horizon ' + horizon if horizon else ''}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>PACE plan: {html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>PACE plan: {html.escape(title)}</h1><p class='sub'>{html.escape(sub)}</p>"
        f"{_headline(plan, trials)}{''.join(parts)}{_relaxations(plan)}{_explanations(plan)}</body></html>"
    )

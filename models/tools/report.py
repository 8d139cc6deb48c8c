"""The planner's report (SPEC §5): one self-contained HTML file that opens offline.

Planners read a plan as pictures before tables, so the report shows, from the plan
(and, when given, the problem it solves):

- the headline: status, objective, bound and gap, the KPIs;
- a Gantt chart of the trials that run: a bar per trial from its first to its last
  month, coloured by execution option; hovering names the option, the months late,
  the deadline and the predecessors (with the problem), and an arrow runs from each
  predecessor's end to the start of the trial waiting for it; late trials are outlined
  in red and their deadline marked; trials left out are listed under the chart;
- a heatmap of roles × months, switchable between utilisation, flex FTE and shortfall
  FTE;
- budget burn per year: spend against the year's budget;
- service usage: units used per month against capacity, per service;
- the explanations, as the plan gives them.

The charts are Plotly figures (interactive: zoom, hover, toggle) with plotly.js
embedded once, inline, so the file needs no network. Every text from the plan or
problem is HTML-escaped.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence

import plotly.graph_objects as go

from models.contract.plan import Plan, RoleMonth, ServiceMonth, TrialPlan, YearSpend
from models.contract.problem import Problem, Trial

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
    value = "" if rm.marginal_value is None else f"<br>one more FTE worth {rm.marginal_value:,.0f}"
    return (
        f"capacity {rm.capacity:.2f}, demand {rm.demand:.2f}<br>assigned {rm.assigned:.2f}, "
        f"flex {rm.flex:.2f}, shortfall {rm.shortfall:.2f}<br>utilisation {rm.utilisation:.0%}{value}"
    )


def _more_budget(year: YearSpend) -> str:
    """What a raise of the year's budget bought, where the planner asked (``settings.budget_step``)."""
    if year.extra_budget is None or year.objective_gain is None:
        return ""
    return f"<br>{year.extra_budget:,.0f} more gave a plan better by {year.objective_gain:,.0f}"


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
    fig.update_layout(
        title="Budget burn per year",
        xaxis={"type": "category", "title": "year"},
        yaxis={"title": "spend", "rangemode": "tozero"},
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


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


def _number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _headline(plan: Plan) -> str:
    k = plan.kpis
    gap = "–" if plan.gap is None else f"{plan.gap:.2%}"
    rows: Sequence[tuple[str, str]] = (
        ("status", plan.status),
        ("objective", _number(plan.objective, 2)),
        ("best bound", _number(plan.best_bound, 2)),
        ("gap", gap),
        ("total cost", _number(k.total_cost)),
        ("value delivered", _number(k.value_delivered)),
        ("trials run", f"{k.trials_run} of {len(plan.trials)}"),
        ("trials on time", str(k.trials_on_time)),
        ("mean utilisation", f"{k.mean_utilisation:.1%}"),
        ("makespan", f"{k.makespan_months} months"),
        ("flex", f"{k.flex_fte_months:,.2f} FTE-months"),
        ("shortfall", f"{k.shortfall_fte_months:,.2f} FTE-months"),
        ("solve time", f"{plan.solve_seconds:.1f} s"),
    )
    cells = "".join(f"<div class='kpi'><span>{html.escape(name)}</span><b>{html.escape(value)}</b></div>" for name, value in rows)
    message = f"<p class='message'>{html.escape(plan.message)}</p>" if plan.message else ""
    return f"<section class='kpis'>{cells}</section>{message}"


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
"""


def render_report(plan: Plan, problem: Problem | None = None) -> str:
    """The plan as one self-contained HTML page (plotly.js inline): headline, Gantt, heatmap, budget, services, explanations.

    With the problem, the Gantt names trials, shows deadlines and predecessors; without
    it the report shows what the plan alone says.
    """
    title = problem.name if problem else "plan"
    figures = [f for f in (_gantt(plan, problem), _heatmap(plan), _budget(plan), _services(plan)) if f is not None]
    parts = []
    for k, fig in enumerate(figures):
        parts.append(
            fig.to_html(full_html=False, include_plotlyjs=k == 0, config={"displaylogo": False, "responsive": True}, div_id=f"chart{k}")
        )
        if k == 0:
            parts.append(_left_out(plan, problem))
    horizon = f"{problem.horizon.start}, {problem.horizon.months} months" if problem else ""
    sub = f"{len(plan.trials)} trials{'; horizon ' + horizon if horizon else ''}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>PACE plan: {html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>PACE plan: {html.escape(title)}</h1><p class='sub'>{html.escape(sub)}</p>"
        f"{_headline(plan)}{''.join(parts)}{_explanations(plan)}</body></html>"
    )

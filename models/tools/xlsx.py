"""Spreadsheets for planners (SPEC §5): a plan as a workbook or CSV, a problem as a workbook and back.

Planners live in spreadsheets, so a problem can be written to and read from an XLSX
workbook with one sheet per kind of row, and a plan exported the same way.

The problem workbook
    Each sheet has a header row of field names (the contract's names, see
    :mod:`models.contract.problem`), a row of help text in grey italics (the
    contract's own field descriptions where it has them), then one row per item. A
    blank cell means the field's default. Lists (roles, skills, leave months,
    regions) are comma-separated in one cell. Months are text ``YYYY-MM``; a cell that
    Excel turned into a date is read as its month. The sheets:

    - ``Problem``: one row per scalar field (``horizon.start``, ``roles``,
      ``objective.kind``, ``settings.time_limit``, ``pins.frozen_until``, ...).
    - ``Staff``, ``Flex``, ``Trials``, ``Budget`` (``year``, ``budget``),
      ``TrialPins``, ``AssignmentPins``: one row per item, one column per field.
    - ``Services``: a constant ``capacity``, or blank with one row per month on
      ``ServiceCapacity`` (``service``, ``month``, ``capacity``).
    - ``Predecessors`` (``trial``, ``predecessor``, ``lag``) and ``RequiredSkills``
      (``trial``, ``role``, ``skills``): rows of the trial they belong to.
    - ``Options`` (``trial``, ``option``, ``name``, ``fixed_cost``, then ``<service> total
      units`` columns: the option's ``service_totals``) and ``Stages``
      (``trial``, ``option``, ``stage``, ``months``, then ``<role> FTE`` and
      ``<service> units`` columns): stages in row order; a blank demand cell means
      the stage does not demand that role, a 0 that it demands 0.
    - ``PreviousPlan``: only with ``pins.previous_plan``, the earlier plan as JSON
      text cut into cells (the tool writes it; it is not meant for editing).

    Reading a workbook builds the problem's JSON document and validates it with
    :func:`models.contract.validation.parse_problem`, exactly as a JSON problem is
    validated; every error is mapped back to the cell (or row) it came from:
    ``Staff!E14: fte 1.4 is above 1``, a structure error with its field
    (``Staff!F3: monthly_cost: a value is required ...``), all reported at once. A problem written and read back is equal to the
    original (numbers are written with 16 significant digits, which every value a
    planner types keeps exactly; identifiers must not contain commas where they sit in
    a list).

The plan workbook and CSV
    ``Summary`` (status, objective, bound, gap, KPIs), ``Trials``, ``Assignments``,
    ``RoleMonths``, ``Services``, ``Budget``, ``Explanations`` and ``Relaxations`` (what
    would make an infeasible problem feasible), one row per item of
    :class:`models.contract.plan.Plan`. The CSV export is the ``Trials`` table alone
    (one row per trial, the columns of that sheet): the table planners paste into
    their own sheets; the rest is in the workbook. Number columns carry formats (money
    ``#,##0``, shares ``0.0%``, FTE ``0.00``); given the problem, names and phases stand
    beside ids and a ``People`` sheet gives each person's FTE month by month.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from models.contract.plan import Plan, Relaxation
from models.contract.problem import (
    AssignmentPin,
    Budget,
    ExecutionOption,
    FieldError,
    Flex,
    Horizon,
    Objective,
    Pins,
    Predecessor,
    Problem,
    ProblemInvalid,
    Service,
    Settings,
    Stage,
    Staff,
    Trial,
    TrialPin,
    Weights,
    is_month,
    month_at,
    month_index,
)
from models.contract.validation import parse_structure, semantic_errors
from models.tools.report import person_months

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv"
#: The most a problem workbook may unpack to: a generated portfolio ten times the reference
#: (5,000 staff, 300 trials, 36 months) is 0.4 MiB as a workbook and unpacks to 4.5 MiB.
MAX_UNPACKED_BYTES = 256 * 2**20

#: Where data starts: row 1 holds the field names, row 2 the help text.
_FIRST_ROW = 3
#: Characters of JSON per cell on ``PreviousPlan`` (Excel holds at most 32,767 in a cell).
_CHUNK = 30_000
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
_HELP_FONT = Font(italic=True, color="808080")
_DEMAND_SUFFIX = " FTE"
_UNITS_SUFFIX = " units"
_TOTAL_SUFFIX = " total units"


# --- the problem's sheets ------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """One column of a problem sheet: its header (the field name), how its cells read, its help."""

    header: str
    kind: str  # text, number, int, bool, month, list, months, raw
    help: str
    choices: tuple[str, ...] = ()


def _described(model: type, name: str, fallback: str = "") -> str:
    """The contract's own description of a field, so the template's help never drifts from it."""
    info = model.model_fields[name]  # type: ignore[attr-defined]
    return info.description or fallback


def _columns(model: type, spec: Sequence[tuple[str, str, str]]) -> tuple[_Column, ...]:
    """Columns named like ``model``'s fields; the help is the field's description or the fallback given."""
    out = []
    for name, kind, fallback in spec:
        info = model.model_fields[name]  # type: ignore[attr-defined]
        choices = tuple(getattr(info.annotation, "__args__", ())) if "Literal" in str(info.annotation) else ()
        out.append(_Column(name, kind, info.description or fallback, tuple(c for c in choices if isinstance(c, str))))
    return tuple(out)


_STAFF = _columns(
    Staff,
    [
        ("id", "text", "Unique id"),
        ("name", "text", "Optional"),
        ("role", "text", "Primary role (one of Problem roles)"),
        ("secondary_roles", "list", "Other roles, comma-separated"),
        ("fte", "number", ""),
        ("monthly_cost", "number", ""),
        ("source", "text", "cro or sponsor"),
        ("region", "text", "EU, NA, APAC, ..."),
        ("skills", "list", ""),
        ("available_from", "month", "First month available, YYYY-MM (blank: from the start)"),
        ("available_to", "month", "Last month available, YYYY-MM (blank: to the end)"),
        ("leave", "months", "Months of leave, comma-separated YYYY-MM"),
        ("max_concurrent_trials", "int", ""),
    ],
)
_SERVICES = _columns(
    Service,
    [
        ("id", "text", "Unique id"),
        ("name", "text", "Optional"),
        ("kind", "text", ""),
        ("unit", "text", "What one unit is (site-month, sample, ...)"),
        ("capacity", "number", ""),
        ("unit_cost", "number", ""),
        ("contract_volume", "number", ""),
    ],
)
_SERVICES = tuple(
    _Column(c.header, c.kind, c.help + " (blank: per month on ServiceCapacity)", c.choices) if c.header == "capacity" else c
    for c in _SERVICES
)
_SERVICE_CAPACITY = (
    _Column("service", "text", "Service id (Services sheet)"),
    _Column("month", "month", "Month YYYY-MM"),
    _Column("capacity", "number", "Units that month"),
)
_FLEX = _columns(Flex, [("role", "text", "Role"), ("monthly_rate", "number", ""), ("max_fte", "number", "")])
_TRIALS = _columns(
    Trial,
    [
        ("id", "text", "Unique id"),
        ("name", "text", "Optional"),
        ("phase", "text", ""),
        ("indication", "text", ""),
        ("regions", "list", "Regions, comma-separated"),
        ("value", "number", ""),
        ("mandatory", "bool", "TRUE: must run; FALSE: optional"),
        ("earliest_start", "month", "YYYY-MM (blank: any)"),
        ("latest_start", "month", "YYYY-MM (blank: any)"),
        ("deadline", "month", ""),
        ("tardiness_penalty", "number", ""),
        ("stopped_from", "month", "YYYY-MM: the trial stops from this month (blank: it runs to its end)"),
    ],
)
_PREDECESSORS = (
    _Column("trial", "text", "The trial that waits (Trials sheet)"),
    _Column("predecessor", "text", "The trial it waits for"),
    _Column("lag", "int", _described(Predecessor, "lag")),
)
_REQUIRED_SKILLS = (
    _Column("trial", "text", "Trial id (Trials sheet)"),
    _Column("role", "text", "Role"),
    _Column("skills", "list", "Skills every person in that role must hold, comma-separated"),
)
_OPTIONS = (
    _Column("trial", "text", "Trial id (Trials sheet)"),
    _Column("option", "text", "Option id, unique within the trial"),
    _Column("name", "text", "Optional"),
    _Column("fixed_cost", "number", _described(ExecutionOption, "fixed_cost")),
)
_STAGE_BASE = (
    _Column("trial", "text", "Trial id"),
    _Column("option", "text", "Option id (Options sheet)"),
    _Column("stage", "text", "Stage name; stages run in row order"),
    _Column("months", "int", _described(Stage, "months")),
)
_BUDGET = (
    _Column("year", "text", "Calendar year YYYY"),
    _Column("budget", "number", "Cap on that year's spend, at most 1e15"),
)
_TRIAL_PINS = _columns(
    TrialPin,
    [
        ("trial", "text", "Trial id"),
        ("run", "bool", "TRUE/FALSE (blank: free)"),
        ("option", "text", "Option id (blank: free)"),
        ("start", "month", "Start month (blank: free)"),
    ],
)
_ASSIGNMENT_PINS = _columns(
    AssignmentPin,
    [
        ("staff", "text", "Staff id"),
        ("trial", "text", "Trial id"),
        ("role", "text", "Role"),
        ("start", "month", "First month"),
        ("end", "month", "Last month"),
        ("fte", "number", ""),
    ],
)
_PREVIOUS_PLAN = (_Column("json", "raw", "The earlier plan as JSON, cut into cells (written by the tool; do not edit)"),)

#: The ``Problem`` sheet: one row per scalar field, as (dotted path, kind, help).
_SCALARS: tuple[tuple[str, str, str], ...] = (
    ("name", "text", "Portfolio name"),
    ("horizon.start", "month", "First month planned, YYYY-MM"),
    ("horizon.months", "int", _described(Horizon, "months")),
    ("roles", "list", "Roles, comma-separated (CRA, CTM, DM, ...)"),
    ("regional_roles", "list", _described(Problem, "regional_roles") + ", comma-separated"),
    ("budget.total", "number", _described(Budget, "total")),
    ("objective.kind", "text", "value, cost, makespan or weighted_completion"),
    ("objective.discount_rate", "number", _described(Objective, "discount_rate")),
    ("objective.weights.shortfall", "number", _described(Weights, "shortfall")),
    ("objective.weights.tardiness", "number", _described(Weights, "tardiness")),
    ("objective.weights.fragmentation", "number", _described(Weights, "fragmentation")),
    ("objective.penalty_scale", "number", _described(Objective, "penalty_scale")),
    ("settings.time_limit", "number", _described(Settings, "time_limit")),
    ("settings.mip_gap", "number", _described(Settings, "mip_gap")),
    ("settings.threads", "int", _described(Settings, "threads")),
    ("settings.seed", "int", _described(Settings, "seed")),
    ("settings.reproducible", "bool", _described(Settings, "reproducible")),
    ("settings.budget_step", "number", _described(Settings, "budget_step")),
    (
        "settings.stability",
        "json",
        _described(Settings, "stability") + ', as JSON, e.g. {"tolerance": 0.005}; null: off; blank: the default',
    ),
    ("pins.frozen_until", "month", "Before this month everything stays as in the previous plan (YYYY-MM)"),
)
_PROBLEM_SHEET = (
    _Column("field", "text", "Field of the problem"),
    _Column("value", "raw", "Its value (blank: the default)"),
    _Column("help", "text", "What it means"),
)

#: Sheet -> the problem's top-level list its rows land in (errors on the list itself point at the header).
_LIST_SHEETS = {"staff": "Staff", "services": "Services", "flex": "Flex", "trials": "Trials", "roles": "Problem"}


# --- writing -------------------------------------------------------------------------


def _set(cell: Cell, value: Any) -> None:
    """Write a value so it reads back as itself: text starting with '=' stays text, not a formula."""
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"


def _cell_value(kind: str, value: Any) -> Any:
    if kind == "json":
        return json.dumps(value.model_dump(mode="json") if value is not None else None)
    if value is None:
        return None
    if kind in ("list", "months"):
        return ", ".join(value) if value else None
    return value


def _sheet(wb: Workbook, title: str, columns: Sequence[_Column], rows: Iterable[Sequence[Any]]) -> Worksheet:
    """A sheet with field names, help and rows; months and lists kept as text so Excel leaves them alone."""
    ws = wb.create_sheet(title)
    for j, column in enumerate(columns, start=1):
        head = ws.cell(1, j, column.header)
        head.font, head.fill = _HEADER_FONT, _HEADER_FILL
        _set(ws.cell(2, j), column.help or None)
        ws.cell(2, j).font = _HELP_FONT
        width = max(len(column.header) + 2, 12 if column.kind != "text" else 14)
        ws.column_dimensions[get_column_letter(j)].width = min(width, 40)
    for i, row in enumerate(rows, start=_FIRST_ROW):
        for j, (column, value) in enumerate(zip(columns, row), start=1):
            cell = ws.cell(i, j)
            _set(cell, _cell_value(column.kind, value))
            if column.kind in ("month", "months", "list", "text"):
                cell.number_format = "@"
    ws.freeze_panes = ws.cell(_FIRST_ROW, 1)
    _validate_cells(ws, columns)
    return ws


def _validate_cells(ws: Worksheet, columns: Sequence[_Column]) -> None:
    """Cheap data validation: drop-downs for fixed choices, TRUE/FALSE, whole and bounded numbers."""
    last = 5000
    for j, column in enumerate(columns, start=1):
        area = f"{get_column_letter(j)}{_FIRST_ROW}:{get_column_letter(j)}{last}"
        rule: DataValidation | None = None
        if column.choices:
            rule = DataValidation(type="list", formula1='"' + ",".join(column.choices) + '"', allow_blank=True)
        elif column.kind == "bool":
            rule = DataValidation(type="list", formula1='"TRUE,FALSE"', allow_blank=True)
        elif column.kind == "int":
            rule = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0", allow_blank=True)
        elif column.header in ("fte",):
            rule = DataValidation(type="decimal", operator="between", formula1="0.001", formula2="1", allow_blank=True)
        elif column.kind == "number":
            rule = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0", allow_blank=True)
        if rule is not None:
            rule.error = f"{column.header}: {column.help}" if column.help else column.header
            rule.showErrorMessage = True
            rule.add(area)
            ws.add_data_validation(rule)


def _get(problem: Problem, path: str) -> Any:
    value: Any = problem
    for part in path.split("."):
        value = getattr(value, part)
    return value


def problem_to_xlsx(problem: Problem) -> bytes:
    """The problem as a workbook a planner can edit and :func:`problem_from_xlsx` reads back equal."""
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    ws = _sheet(wb, "Problem", _PROBLEM_SHEET, [(path, _cell_value(kind, _get(problem, path)), text) for path, kind, text in _SCALARS])
    ws.column_dimensions["A"].width = 32
    ws.column_dimensions["B"].width = 28
    ws.column_dimensions["C"].width = 90
    _sheet(wb, "Staff", _STAFF, ([getattr(s, c.header) for c in _STAFF] for s in problem.staff))
    _sheet(
        wb,
        "Services",
        _SERVICES,
        ([None if c.header == "capacity" and isinstance(s.capacity, list) else getattr(s, c.header) for c in _SERVICES] for s in problem.services),
    )
    _sheet(
        wb,
        "ServiceCapacity",
        _SERVICE_CAPACITY,
        (
            (s.id, problem.month(i), units)
            for s in problem.services
            if isinstance(s.capacity, list)
            for i, units in enumerate(s.capacity)
        ),
    )
    _sheet(wb, "Flex", _FLEX, ([getattr(f, c.header) for c in _FLEX] for f in problem.flex))
    _sheet(wb, "Trials", _TRIALS, ([getattr(t, c.header) for c in _TRIALS] for t in problem.trials))
    _sheet(wb, "Predecessors", _PREDECESSORS, ((t.id, p.trial, p.lag) for t in problem.trials for p in t.predecessors))
    _sheet(
        wb,
        "RequiredSkills",
        _REQUIRED_SKILLS,
        ((t.id, role, skills) for t in problem.trials for role, skills in t.required_skills.items()),
    )
    roles, services = _stage_keys(problem)
    _sheet(
        wb,
        "Options",
        _OPTIONS + tuple(_Column(sid + _TOTAL_SUFFIX, "number", f"Units of {sid} over the whole run (blank: none)") for sid in services),
        (
            [t.id, o.id, o.name, o.fixed_cost] + [o.service_totals.get(sid) for sid in services]
            for t in problem.trials
            for o in t.options
        ),
    )
    stage_columns = _STAGE_BASE + tuple(
        _Column(role + _DEMAND_SUFFIX, "number", f"FTE of {role} per month (blank: none)") for role in roles
    ) + tuple(_Column(sid + _UNITS_SUFFIX, "number", f"Units of {sid} per month (blank: none)") for sid in services)
    _sheet(
        wb,
        "Stages",
        stage_columns,
        (
            [t.id, o.id, stage.name, stage.months]
            + [stage.demand.get(role) for role in roles]
            + [stage.services.get(sid) for sid in services]
            for t in problem.trials
            for o in t.options
            for stage in o.stages
        ),
    )
    _sheet(wb, "Budget", _BUDGET, problem.budget.per_year.items())
    _sheet(wb, "TrialPins", _TRIAL_PINS, ([getattr(p, c.header) for c in _TRIAL_PINS] for p in problem.pins.trials))
    _sheet(
        wb, "AssignmentPins", _ASSIGNMENT_PINS, ([getattr(p, c.header) for c in _ASSIGNMENT_PINS] for p in problem.pins.assignments)
    )
    if problem.pins.previous_plan is not None:
        text = problem.pins.previous_plan.model_dump_json()
        _sheet(wb, "PreviousPlan", _PREVIOUS_PLAN, ([text[i : i + _CHUNK]] for i in range(0, len(text), _CHUNK)))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _stage_keys(problem: Problem) -> tuple[list[str], list[str]]:
    """Demand and service columns: the problem's roles and services, then any other key a stage uses."""
    roles = list(problem.roles)
    services = [s.id for s in problem.services]
    for trial in problem.trials:
        for option in trial.options:
            for stage in option.stages:
                roles += [r for r in stage.demand if r not in roles]
                services += [s for s in stage.services if s not in services]
            services += [s for s in option.service_totals if s not in services]
    return roles, services


#: The empty problem the template shows: the sample roles as demand columns, defaults elsewhere.
_TEMPLATE_ROLES = ["CRA", "CTM", "DM", "BIOS", "PROG", "MW", "REG", "PV", "SSU", "CTA", "MM"]


def problem_template() -> bytes:
    """An empty problem workbook: every sheet's field names and help, the sample roles as demand columns."""
    template = Problem.model_construct(
        name="portfolio",
        horizon=Horizon(start="2027-01", months=36),
        roles=_TEMPLATE_ROLES,
        regional_roles=[],
        staff=[],
        services=[],
        flex=[],
        trials=[],
        budget=Budget(),
        objective=Objective(),
        pins=Pins(),
        settings=Settings(),
    )
    return problem_to_xlsx(template)


# --- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class CellError:
    """One reason a workbook is not a valid problem: the cell (``Staff!E14``), the field path, why."""

    cell: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.cell}: {self.message}"


class WorkbookInvalid(ValueError):
    """A workbook that does not hold a valid problem; carries every error, each at its cell."""

    def __init__(self, errors: list[CellError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


@dataclass
class _Row:
    """One data row of a sheet: its number and its cells by header."""

    sheet: str
    number: int
    values: dict[str, Any]
    letters: dict[str, str]

    def ref(self, header: str | None = None) -> str:
        letter = self.letters.get(header, "A") if header is not None else "A"
        return f"{_sheet_ref(self.sheet)}!{letter}{self.number}"


@dataclass
class _Reader:
    """Builds the problem's JSON document from a workbook, remembering the cell behind each field path."""

    wb: Workbook
    errors: list[CellError] = field(default_factory=list)
    cells: dict[str, str] = field(default_factory=dict)
    start: str | None = None

    def rows(self, title: str, columns: Sequence[_Column], extra: Callable[[str], bool] = lambda _h: False) -> Iterator[_Row]:
        """The sheet's non-blank data rows; a header neither expected nor ``extra`` is an error."""
        if title not in self.wb.sheetnames:
            return
        ws = self.wb[title]
        grid = list(ws.iter_rows(values_only=True))
        if not grid:
            return
        headers = [str(h).strip() if h is not None else "" for h in grid[0]]
        known = {c.header for c in columns}
        letters: dict[str, str] = {}
        for j, header in enumerate(headers, start=1):
            if not header:
                continue
            letter = get_column_letter(j)
            if header in letters:
                self.error(f"{_sheet_ref(title)}!{letter}1", "", f"column '{header}' appears twice")
            elif header not in known and not extra(header):
                self.error(
                    f"{_sheet_ref(title)}!{letter}1",
                    "",
                    f"unknown column '{header}' (columns are: {', '.join(c.header for c in columns)})",
                )
            else:
                letters[header] = letter
        helps = [c.help for c in columns]
        first = 1
        if len(grid) > 1 and any(v is not None for v in grid[1]) and all(
            v is None or v in helps or (isinstance(v, str) and ("FTE of" in v or "Units of" in v)) for v in grid[1]
        ):
            first = 2
        for i in range(first, len(grid)):
            raw = grid[i]
            values = {
                headers[j]: _clean(raw[j])
                for j in range(min(len(raw), len(headers)))
                if headers[j] in letters and _clean(raw[j]) is not None
            }
            if values:
                yield _Row(title, i + 1, values, letters)

    def error(self, cell: str, path: str, message: str) -> None:
        self.errors.append(CellError(cell, path, message))

    def fields(self, row: _Row, columns: Sequence[_Column], path: str, skip: Sequence[str] = ()) -> dict[str, Any]:
        """The row's cells as the object at ``path``, each cell remembered under its field's path."""
        self.cells[path] = row.ref()
        out: dict[str, Any] = {}
        for column in columns:
            if column.header in skip:
                continue
            if column.header in row.letters:
                self.cells[f"{path}.{column.header}"] = row.ref(column.header)  # a blank required cell is named too
            if column.header in row.values:
                out[column.header] = self.read(column.kind, row.values[column.header])
        return out

    def read(self, kind: str, value: Any) -> Any:
        """A cell as the JSON value its field takes (the contract's validation judges it after)."""
        if kind == "text":
            return _text(value)
        if kind == "month":
            return _month_text(value)
        if kind in ("list", "months"):
            if isinstance(value, str):
                return [part.strip() for part in value.split(",") if part.strip()]
            return [_month_text(value) if kind == "months" else _text(value)]
        if kind == "json" and isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value  # the contract's validation names the cell and the type it wants
        return value


def _sheet_ref(title: str) -> str:
    """A sheet's name as a cell reference spells it: quoted only when it has to be (``Staff``, ``'My sheet'``)."""
    return title if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) else "'" + title.replace("'", "''") + "'"


def _clean(value: Any) -> Any:
    """Blank text counts as an empty cell."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _text(value: Any) -> Any:
    """Text cells as text; a number typed where an id belongs (trial 101) is the id '101'."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (datetime, date)):
        return _month_text(value)
    return value


def _month_text(value: Any) -> Any:
    """A month cell: text as typed, a date Excel made of '2027-01' as that month."""
    if isinstance(value, (datetime, date)):
        return f"{value.year:04d}-{value.month:02d}"
    if isinstance(value, str):
        return value.strip()
    return value


def _put(document: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = document
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def problem_from_xlsx(data: bytes) -> Problem:
    """The problem in a workbook, validated like JSON; :class:`WorkbookInvalid` with every error at its cell.

    The workbook's own errors (unknown sheets and columns, rows that belong nowhere, formulas
    without a saved value), the contract's structure errors and its rules are reported
    together, so a planner fixes a workbook in one pass (see :func:`_rule_errors`)."""
    _refuse_a_bomb(data)
    try:
        wb = load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a damaged file; all mean "not a workbook"
        raise WorkbookInvalid([CellError("workbook", "$", f"not an Excel workbook (.xlsx): {exc}")]) from None
    if "Problem" not in wb.sheetnames:
        found = ", ".join(wb.sheetnames)
        raise WorkbookInvalid([CellError("workbook", "$", f"no Problem sheet (sheets: {found}); pace template writes a problem workbook")])
    reader = _Reader(wb)
    _uncalculated_formulas(data, reader)
    document = _document(reader)
    try:
        problem = parse_structure(document)
    except ProblemInvalid as exc:
        structure = [CellError(_locate(reader.cells, e.path), e.path, _named(e.path, e.message)) for e in exc.errors]
        rules = _rule_errors(document, [e.path for e in exc.errors])
        raise WorkbookInvalid(_one_per_cell(reader.errors + structure + _at_cells(reader, rules))) from None
    errors = reader.errors + _at_cells(reader, semantic_errors(problem))
    if errors:
        raise WorkbookInvalid(_one_per_cell(errors))
    return problem


def _at_cells(reader: _Reader, errors: Sequence[FieldError]) -> list[CellError]:
    return [CellError(_locate(reader.cells, e.path), e.path, e.message) for e in errors]


def _one_per_cell(errors: list[CellError]) -> list[CellError]:
    """The first error at each cell: a formula without a value is not also a blank required cell.
    Errors about a whole row or sheet (column A, row 1) are all kept."""
    seen: set[str] = set()
    out = []
    for error in errors:
        if error.cell in seen:
            continue
        if not re.search(r"!A\d+$|![A-Z]+1$|^workbook$", error.cell):
            seen.add(error.cell)
        out.append(error)
    return out


def _field_label(path: str) -> str:
    """The field a path ends in, as the sheet names it: ``monthly_cost``, ``demand.CRA``, ``horizon.start``."""
    return re.sub(r"^.*\]\.?", "", path) or path


def _named(path: str, message: str) -> str:
    """A structure error naming its field (pydantic's messages do not): ``monthly_cost: a value is required``."""
    if message == "Field required":
        message = "a value is required (the cell is blank or the column is missing)"
    return f"{_field_label(path)}: {message}"


#: What a field in error is replaced with, in turn, to check the rest of the workbook against the rules:
#: its default (the key removed), then neutral values of each type; ``_MONTH`` stands for horizon.start.
_REMOVE, _MONTH = object(), object()
_STAND_INS: tuple[Any, ...] = (_REMOVE, 0, 1, "x", _MONTH, False, [], {})


def _rule_errors(document: dict[str, Any], broken: list[str]) -> list[FieldError]:
    """The rules' errors of a document with structure errors, every other field as the planner typed it.

    Each field in error stands in for its default or a neutral value (tried in turn until the
    structure holds); the rules then judge the whole problem, and whatever they say about a
    stood-in field (or anything inside it) is left out, since the cell is already in error.
    Where no stand-in makes the structure hold (a damaged previous plan, say), the rules are
    not checked and only the structure errors are reported."""
    trial = json.loads(json.dumps(document, default=str))
    start = document.get("horizon", {}).get("start") if isinstance(document.get("horizon"), dict) else None
    tried: dict[str, int] = {}
    pending = list(dict.fromkeys(broken))
    for _ in _STAND_INS:
        for path in pending:
            k = tried.get(path, 0)
            if k >= len(_STAND_INS) or not _stand_in(trial, path, _STAND_INS[k], start):
                return []
            tried[path] = k + 1
        try:
            problem = parse_structure(trial)
        except ProblemInvalid as exc:
            pending = list(dict.fromkeys(e.path for e in exc.errors))
            if not set(pending) <= set(tried):
                return []
            continue
        return [e for e in semantic_errors(problem) if not any(_inside(e.path, p) for p in tried)]
    return []


def _inside(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def _stand_in(document: Any, path: str, value: Any, start: Any) -> bool:
    """Put ``value`` at ``path`` (or remove the key for ``_REMOVE``); False where the path leads nowhere."""
    parts: list[str | int] = [int(i) if i else key for i, key in re.findall(r"\[(\d+)\]|\.?([^.\[\]]+)", path)]
    node = document
    for part in parts[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    last = parts[-1] if parts else None
    if isinstance(node, dict) and isinstance(last, str):
        if value is _REMOVE:
            node.pop(last, None)
        else:
            node[last] = start if value is _MONTH else json.loads(json.dumps(value))
        return True
    if isinstance(node, list) and isinstance(last, int) and last < len(node) and value is not _REMOVE:
        node[last] = start if value is _MONTH else json.loads(json.dumps(value))
        return True
    return value is _REMOVE and isinstance(node, list)


def _uncalculated_formulas(data: bytes, reader: _Reader) -> None:
    """A formula whose result the file does not hold reads as a blank cell; name it instead.

    Excel saves each formula's last result beside it; a workbook written by a program that
    does not calculate (a script, some converters) has only the formula. The workbook is read a
    second time, formulas as text, only when its sheets hold a formula at all."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        if not any(re.search(rb"<(\w+:)?f[ >]", archive.read(n)) for n in sheets):
            return
    formulas = load_workbook(io.BytesIO(data), data_only=False)
    for title in reader.wb.sheetnames:
        values, written = reader.wb[title], formulas[title]
        headers = [c.value for c in written[1]] if written.max_row >= 1 else []
        for row in written.iter_rows():
            for cell in row:
                if cell.data_type == "f" and values[cell.coordinate].value is None:
                    header = headers[cell.column - 1] if cell.column - 1 < len(headers) and headers[cell.column - 1] else "the cell"
                    reader.error(
                        f"{_sheet_ref(title)}!{cell.coordinate}",
                        "",
                        f"{header}: the formula {cell.value} has no saved value (the file was written by a program that "
                        "does not calculate); open and save it in Excel or LibreOffice, or type the value",
                    )


def _refuse_a_bomb(data: bytes) -> None:
    """A workbook is a zip archive: one that would unpack to more than ``MAX_UNPACKED_BYTES``
    is refused before openpyxl unpacks it (a 32 MB upload of zeros unpacks to gigabytes)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        return  # not a zip at all: openpyxl says so in its own words
    if unpacked > MAX_UNPACKED_BYTES:
        limit = MAX_UNPACKED_BYTES // 2**20
        raise WorkbookInvalid([CellError("workbook", "$", f"unpacks to {unpacked // 2**20:,} MiB, above the {limit:,} MiB a problem workbook may hold")])


def _locate(cells: dict[str, str], path: str) -> str:
    """The cell behind a field path, or the row or sheet of its nearest enclosing object."""
    probe = path
    while probe:
        if probe in cells:
            return cells[probe]
        shorter = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
        if shorter == probe:
            break
        probe = shorter
    return "Problem!A1" if probe not in _LIST_SHEETS else f"{_LIST_SHEETS[probe]}!A1"


def _document(reader: _Reader) -> dict[str, Any]:
    """The problem's JSON document from every sheet (unknown sheets are errors: a typo would lose data)."""
    known = {
        "Problem", "Staff", "Services", "ServiceCapacity", "Flex", "Trials", "Predecessors", "RequiredSkills",
        "Options", "Stages", "Budget", "TrialPins", "AssignmentPins", "PreviousPlan",
    }
    for title in reader.wb.sheetnames:
        if title not in known:
            reader.error(f"{_sheet_ref(title)}!A1", "", f"unknown sheet '{title}' (sheets are: {', '.join(sorted(known))})")
    document: dict[str, Any] = {}
    scalars = {path: kind for path, kind, _ in _SCALARS}
    for row in reader.rows("Problem", _PROBLEM_SHEET):
        name = _text(row.values.get("field"))
        if name is None:
            reader.error(row.ref("field"), "", "a value without a field name")
        elif name not in scalars:
            reader.error(row.ref("field"), "", f"unknown field '{name}' (fields are: {', '.join(scalars)})")
        elif "value" in row.values:
            _put(document, name, reader.read(scalars[name], row.values["value"]))
            reader.cells[name] = row.ref("value")
    start = document.get("horizon", {}).get("start")
    reader.start = start if isinstance(start, str) and is_month(start) else None
    document["staff"] = [reader.fields(row, _STAFF, f"staff[{i}]") for i, row in enumerate(reader.rows("Staff", _STAFF))]
    document["services"] = _services(reader)
    document["flex"] = [reader.fields(row, _FLEX, f"flex[{i}]") for i, row in enumerate(reader.rows("Flex", _FLEX))]
    document["trials"] = _trials(reader)
    per_year: dict[str, Any] = {}
    for row in reader.rows("Budget", _BUDGET):
        year = _text(row.values.get("year"))
        if year is None:
            reader.error(row.ref("year"), "", "a budget without a year")
            continue
        if year in per_year:
            reader.error(row.ref("year"), "", f"year {year} appears twice")
        per_year[year] = row.values.get("budget")
        reader.cells[f"budget.per_year.{year}"] = row.ref("budget")
    if per_year:
        document.setdefault("budget", {})["per_year"] = per_year
    pins = document.setdefault("pins", {})
    pins["trials"] = [reader.fields(row, _TRIAL_PINS, f"pins.trials[{i}]") for i, row in enumerate(reader.rows("TrialPins", _TRIAL_PINS))]
    pins["assignments"] = [
        reader.fields(row, _ASSIGNMENT_PINS, f"pins.assignments[{i}]")
        for i, row in enumerate(reader.rows("AssignmentPins", _ASSIGNMENT_PINS))
    ]
    chunks = list(reader.rows("PreviousPlan", _PREVIOUS_PLAN))
    if chunks:
        text = "".join(str(row.values.get("json", "")) for row in chunks)
        reader.cells["pins.previous_plan"] = chunks[0].ref("json")
        try:
            pins["previous_plan"] = json.loads(text)
        except json.JSONDecodeError as exc:
            reader.error(chunks[0].ref("json"), "pins.previous_plan", f"the previous plan is not JSON: {exc.msg}")
        except RecursionError:
            reader.error(chunks[0].ref("json"), "pins.previous_plan", "the previous plan is nested too deeply")
    return document


def _services(reader: _Reader) -> list[dict[str, Any]]:
    services: list[dict[str, Any]] = []
    by_id: dict[str, tuple[int, _Row]] = {}
    for i, row in enumerate(reader.rows("Services", _SERVICES)):
        services.append(reader.fields(row, _SERVICES, f"services[{i}]"))
        sid = services[-1].get("id")
        if isinstance(sid, str):
            by_id.setdefault(sid, (i, row))
    series: dict[str, dict[int, Any]] = {}
    for row in reader.rows("ServiceCapacity", _SERVICE_CAPACITY):
        sid, month = _text(row.values.get("service")), _month_text(row.values.get("month"))
        if sid not in by_id:
            reader.error(row.ref("service"), "", f"service '{sid}' is not on the Services sheet")
            continue
        i, owner = by_id[sid]
        if "capacity" in services[i] and not isinstance(services[i]["capacity"], list):
            reader.error(row.ref("service"), "", f"service '{sid}' has a constant capacity on {owner.ref('capacity')}; give one or the other")
            continue
        index = month_index(month, reader.start) if isinstance(month, str) and reader.start and is_month(month) else None
        if index is None or index < 0:
            where = f"from {reader.start}" if reader.start else "horizon.start is not a month"
            reader.error(row.ref("month"), "", f"'{month}' is not a month of the horizon ({where})")
            continue
        months = series.setdefault(sid, {})
        if index in months:
            reader.error(row.ref("month"), "", f"{month} is given twice for service '{sid}'")
            continue
        months[index] = row.values.get("capacity")
        reader.cells[f"services[{i}].capacity[{index}]"] = row.ref("capacity")
    for sid, months in series.items():
        i, owner = by_id[sid]
        missing = [k for k in range(max(months) + 1) if k not in months]
        if missing:
            reader.error(owner.ref("id"), "", f"service '{sid}' has no capacity for {month_at(reader.start or '2000-01', missing[0])} on ServiceCapacity")
            continue
        services[i]["capacity"] = [months[k] for k in range(len(months))]
    return services


def _trials(reader: _Reader) -> list[dict[str, Any]]:
    """Trials with their predecessors, skills, options and stages gathered from the other sheets by trial id."""
    trials: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for i, row in enumerate(reader.rows("Trials", _TRIALS)):
        trials.append(reader.fields(row, _TRIALS, f"trials[{i}]"))
        trials[-1]["options"] = []
        tid = trials[-1].get("id")
        if isinstance(tid, str):
            index.setdefault(tid, i)

    def owner(row: _Row) -> int | None:
        tid = _text(row.values.get("trial"))
        if tid not in index:
            reader.error(row.ref("trial"), "", f"trial '{tid}' is not on the Trials sheet" if tid else "the trial id is missing")
            return None
        return index[tid]

    for row in reader.rows("Predecessors", _PREDECESSORS):
        t = owner(row)
        if t is None:
            continue
        links = trials[t].setdefault("predecessors", [])
        path = f"trials[{t}].predecessors[{len(links)}]"
        link = reader.fields(row, _PREDECESSORS, path, skip=("trial", "predecessor"))
        if "predecessor" in row.values:
            link["trial"] = _text(row.values["predecessor"])
            reader.cells[f"{path}.trial"] = row.ref("predecessor")
        links.append(link)
    for row in reader.rows("RequiredSkills", _REQUIRED_SKILLS):
        t = owner(row)
        if t is None:
            continue
        role = _text(row.values.get("role"))
        if role is None:
            reader.error(row.ref("role"), "", "the role is missing")
            continue
        skills = trials[t].setdefault("required_skills", {})
        if role in skills:
            reader.error(row.ref("role"), "", f"role '{role}' is listed twice for this trial")
        skills[role] = reader.read("list", row.values["skills"]) if "skills" in row.values else []
        reader.cells[f"trials[{t}].required_skills.{role}"] = row.ref("skills")
    options: dict[tuple[int, str], int] = {}
    for row in reader.rows("Options", _OPTIONS, extra=lambda header: header.endswith(_TOTAL_SUFFIX)):
        t = owner(row)
        if t is None:
            continue
        j = len(trials[t]["options"])
        option = reader.fields(row, _OPTIONS, f"trials[{t}].options[{j}]", skip=("trial", "option"))
        if "option" in row.values:
            option["id"] = _text(row.values["option"])
            reader.cells[f"trials[{t}].options[{j}].id"] = row.ref("option")
            options.setdefault((t, option["id"]), j)
        for header, value in row.values.items():
            if header.endswith(_TOTAL_SUFFIX):
                key = header[: -len(_TOTAL_SUFFIX)]
                option.setdefault("service_totals", {})[key] = value
                reader.cells[f"trials[{t}].options[{j}].service_totals.{key}"] = row.ref(header)
        option["stages"] = []
        trials[t]["options"].append(option)
    demand = lambda header: header.endswith(_DEMAND_SUFFIX) or header.endswith(_UNITS_SUFFIX)  # noqa: E731
    for row in reader.rows("Stages", _STAGE_BASE, extra=demand):
        t = owner(row)
        if t is None:
            continue
        oid = _text(row.values.get("option"))
        if (t, oid) not in options:
            reader.error(row.ref("option"), "", f"option '{oid}' of trial '{trials[t].get('id')}' is not on the Options sheet")
            continue
        j = options[(t, oid)]
        stages = trials[t]["options"][j]["stages"]
        path = f"trials[{t}].options[{j}].stages[{len(stages)}]"
        stage = reader.fields(row, _STAGE_BASE, path, skip=("trial", "option", "stage"))
        if "stage" in row.values:
            stage["name"] = _text(row.values["stage"])
            reader.cells[f"{path}.name"] = row.ref("stage")
        for header, value in row.values.items():
            if header.endswith(_DEMAND_SUFFIX):
                key, group = header[: -len(_DEMAND_SUFFIX)], "demand"
            elif header.endswith(_UNITS_SUFFIX):
                key, group = header[: -len(_UNITS_SUFFIX)], "services"
            else:
                continue
            stage.setdefault(group, {})[key] = value
            reader.cells[f"{path}.{group}.{key}"] = row.ref(header)
        stages.append(stage)
    return trials


# --- the plan ------------------------------------------------------------------------

#: The trials table: (header, how to read it off a trial's plan), shared by the workbook and the CSV.
_TRIAL_TABLE: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("trial", lambda t: t.id),
    ("run", lambda t: t.run),
    ("option", lambda t: t.option),
    ("start", lambda t: t.start),
    ("end", lambda t: t.end),
    ("months_late", lambda t: t.months_late),
    ("cost", lambda t: t.cost),
    ("staff_cost", lambda t: t.cost_split.staff),
    ("flex_cost", lambda t: t.cost_split.flex),
    ("services_cost", lambda t: t.cost_split.services),
    ("external_cost", lambda t: t.cost_split.external),
    ("named_fte_months", lambda t: t.coverage.named),
    ("flex_fte_months", lambda t: t.coverage.flex),
    ("uncovered_fte_months", lambda t: t.coverage.uncovered),
    ("value", lambda t: t.value),
)


def plan_trials_csv(plan: Plan) -> str:
    """The plan's trials table as CSV (one row per trial): the columns of the workbook's ``Trials`` sheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([header for header, _ in _TRIAL_TABLE])
    for trial in plan.trials:
        writer.writerow(["" if (v := read(trial)) is None else v for _, read in _TRIAL_TABLE])
    return out.getvalue()


#: Number formats of the plan workbook's columns, by header: money with thousands separators,
#: shares as percentages, FTE and FTE-months to two decimals (the cells keep every digit).
_MONEY, _PERCENT, _FTE, _RATE = "#,##0", "0.0%", "0.00", "#,##0.000"
_FORMATS: dict[str, str] = {
    **dict.fromkeys(
        ("cost", "staff_cost", "flex_cost", "services_cost", "external_cost", "value", "spend", "budget", "extra_budget",
         "objective_gain", "objective_gain_bound", "budget_total", "objective", "best_bound", "total_cost",
         "value_delivered", "budget_total_spend", "budget_total_cap"),
        _MONEY,
    ),
    **dict.fromkeys(("utilisation", "gap", "mean_utilisation"), _PERCENT),
    **dict.fromkeys(
        ("capacity", "capacity_primary", "capacity_secondary", "demand", "assigned", "assigned_secondary", "spare", "flex",
         "shortfall", "fte", "available", "named_fte_months", "flex_fte_months", "uncovered_fte_months",
         "shortfall_fte_months", "extra_fte_months", "used"),
        _FTE,
    ),
}
#: Formats that differ by sheet: a role-month's marginal value is money per FTE-month, a year's a rate per unit of budget.
_SHEET_FORMATS: dict[tuple[str, str], str] = {("RoleMonths", "marginal_value"): _MONEY, ("Budget", "marginal_value"): _RATE}


def _table(wb: Workbook, title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], by_column: bool = True) -> Worksheet:
    """A sheet with a header row and one row per item, each number column in its format (``by_column``)."""
    ws = wb.create_sheet(title)
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
    formats = [_SHEET_FORMATS.get((title, h), _FORMATS.get(h)) if by_column else None for h in headers]
    for row in rows:
        ws.append(list(row))
        for cell, number_format in zip(ws[ws.max_row], formats):
            if number_format is not None:
                cell.number_format = number_format
    for j, header in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(j)].width = max(12, min(len(header) + 2, 60))
    ws.freeze_panes = "A2"
    if ws.max_row > 1:
        ws.auto_filter.ref = ws.dimensions
    return ws


def _summary(plan: Plan) -> list[tuple[str, Any]]:
    return (
        [("status", plan.status), ("message", plan.message), ("objective", plan.objective), ("best_bound", plan.best_bound),
         ("gap", plan.gap), ("solve_seconds", plan.solve_seconds)]
        + list(plan.kpis.model_dump().items())
        + [("budget_total_spend", plan.budget.total), ("budget_total_cap", plan.budget.total_budget)]
    )


def _summary_sheet(wb: Workbook, plan: Plan) -> None:
    """Field and value rows; each value in its field's format (a cost as money, a gap as a percentage)."""
    ws = _table(wb, "Summary", ["field", "value"], _summary(plan), by_column=False)
    for name, value in ws.iter_rows(min_row=2):
        number_format = _FORMATS.get(str(name.value))
        if number_format is not None:
            value.number_format = number_format
    ws.column_dimensions["B"].width = 60


def _relaxation_figures(r: Relaxation) -> tuple[Any, ...]:
    """A relaxation's change in cells: money per year and in total, FTE-months per role, months of slip per trial."""
    fte: dict[str, float] = {}
    for extra in r.extra_fte:
        fte[extra.role] = fte.get(extra.role, 0.0) + extra.fte
    return (
        r.kind,
        r.summary,
        r.verified,
        sum(r.budget_per_year.values()) + r.budget_total,
        ", ".join(f"{year}: {amount:,.0f}" for year, amount in sorted(r.budget_per_year.items())) or None,
        round(sum(fte.values()), 6),
        ", ".join(f"{role}: {months:g}" for role, months in sorted(fte.items())) or None,
        ", ".join(f"{u.service} {u.month or 'volume'}: {u.units:g}" for u in r.extra_units) or None,
        ", ".join(f"{trial}: {months}" for trial, months in sorted(r.deadline_slips.items())) or None,
        r.scale,
    )


def _people_sheet(wb: Workbook, plan: Plan, problem: Problem) -> None:
    """Person × month, one row each: FTE available (0 on leave or outside their window), assigned, the share used, trials."""
    months = person_months(plan, problem)
    _table(
        wb,
        "People",
        ["staff", "name", "role", "secondary_roles", "region", "month", "available", "assigned", "utilisation", "trials"],
        (
            (person.id, person.name, person.role, ", ".join(person.secondary_roles) or None, person.region, pm.month,
             pm.available, pm.assigned, round(pm.utilisation, 6), ", ".join(pm.trials) or None)
            for person in problem.staff
            for pm in months[person.id]
        ),
    )


def plan_to_xlsx(plan: Plan, problem: Problem | None = None) -> bytes:
    """The plan as a workbook: summary and KPIs, trials, assignments, role-months, services, budget,
    explanations, relaxations; with the problem, trial names and phases and people's names beside
    the ids, and a People sheet (each person's FTE month by month)."""
    trials = {t.id: t for t in problem.trials} if problem is not None else {}
    staff = {s.id: s for s in problem.staff} if problem is not None else {}

    def name(tid: str | None) -> str | None:
        return trials[tid].name if tid in trials else None

    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    _summary_sheet(wb, plan)
    _table(
        wb,
        "Trials",
        ["trial", "name", "phase"] + [h for h, _ in _TRIAL_TABLE[1:]],
        ([t.id, name(t.id), trials[t.id].phase if t.id in trials else None] + [read(t) for _, read in _TRIAL_TABLE[1:]] for t in plan.trials),
    )
    _table(
        wb,
        "Assignments",
        ["staff", "staff_name", "trial", "trial_name", "role", "start", "end", "fte"],
        (
            (a.staff, staff[a.staff].name if a.staff in staff else None, a.trial, name(a.trial), a.role, a.start, a.end, a.fte)
            for a in plan.assignments
        ),
    )
    _table(
        wb,
        "RoleMonths",
        ["role", "month", "capacity", "capacity_primary", "capacity_secondary", "demand", "assigned", "assigned_secondary", "spare",
         "flex", "shortfall", "utilisation", "marginal_value"],
        (
            (r.role, r.month, r.capacity, r.capacity_primary, r.capacity_secondary, r.demand, r.assigned, r.assigned_secondary,
             r.spare, r.flex, r.shortfall, r.utilisation, r.marginal_value)
            for r in plan.role_months
        ),
    )
    _table(wb, "Services", ["service", "month", "used", "capacity"], ((s.service, s.month, s.used, s.capacity) for s in plan.service_months))
    _table(
        wb,
        "Budget",
        ["year", "spend", "budget", "extra_budget", "objective_gain", "objective_gain_bound", "marginal_value"],
        ((y.year, y.spend, y.budget, y.extra_budget, y.objective_gain, y.objective_gain_bound, y.marginal_value) for y in plan.budget.per_year),
    )
    _table(wb, "Explanations", ["trial", "trial_name", "reason"], ((e.trial, name(e.trial), e.reason) for e in plan.explanations))
    wb["Explanations"].column_dimensions["C"].width = 120
    _table(
        wb,
        "Relaxations",
        ["kind", "summary", "verified", "budget_total", "budget_per_year", "extra_fte_months", "extra_fte_by_role", "extra_service_units", "deadline_slips",
         "scale"],
        (_relaxation_figures(r) for r in plan.relaxations),
    )
    wb["Relaxations"].column_dimensions["B"].width = 120
    if problem is not None:
        _people_sheet(wb, plan, problem)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()

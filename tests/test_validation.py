"""Input validation (SPEC §2): every invalid problem is refused with a precise field path and reason.

Each catalogue case takes a small valid problem, breaks it in exactly one way, sends it
through ``parse_problem`` and expects a ``ProblemInvalid`` that names the exact path and
says why.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from models.contract.problem import Problem, ProblemInvalid
from models.contract.validation import duplicate_keys, parse_problem, semantic_errors


def base_problem() -> dict[str, Any]:
    """A small valid portfolio: 12 months from 2027-01, three roles, three trials."""
    return {
        "name": "catalogue",
        "horizon": {"start": "2027-01", "months": 12},
        "roles": ["CRA", "CTM", "DM"],
        "regional_roles": ["CRA"],
        "staff": [
            {"id": "s1", "role": "CRA", "fte": 1.0, "monthly_cost": 9000, "region": "EU",
             "skills": ["AD"], "leave": ["2027-08"]},
            {"id": "s2", "role": "CTM", "secondary_roles": ["DM"], "fte": 0.8, "monthly_cost": 11000,
             "available_from": "2027-01", "available_to": "2027-12"},
            {"id": "s3", "role": "DM", "fte": 0.5, "monthly_cost": 8000},
        ],
        "services": [
            {"id": "lab", "kind": "central_lab", "capacity": 100, "unit_cost": 50},
            {"id": "dct", "kind": "dct", "capacity": [10] * 12, "unit_cost": 200},
        ],
        "flex": [{"role": "CRA", "monthly_rate": 15000, "max_fte": 2}],
        "trials": [
            {
                "id": "T1", "mandatory": True, "earliest_start": "2027-01", "latest_start": "2027-03",
                "deadline": "2027-09", "regions": ["EU"], "required_skills": {"CRA": ["AD"]},
                "options": [
                    {"id": "std", "stages": [
                        {"name": "start-up", "months": 2, "demand": {"CTM": 0.5}},
                        {"name": "conduct", "months": 4, "demand": {"CRA": 1.0, "DM": 0.3},
                         "services": {"lab": 20}},
                    ]},
                    {"id": "fso", "fixed_cost": 500000, "stages": [{"months": 5, "demand": {"CTM": 0.2}}]},
                ],
            },
            {
                "id": "T2", "value": 2e6, "predecessors": [{"trial": "T1", "lag": 1}],
                "options": [{"id": "dct", "stages": [{"months": 3, "demand": {"CRA": 0.5},
                                                       "services": {"dct": 4}}]}],
            },
            {
                "id": "T3", "value": 1e6,
                "options": [{"id": "std", "stages": [{"months": 4, "demand": {"DM": 0.2}}]}],
            },
        ],
        "budget": {"total": 5e6, "per_year": {"2027": 4e6}},
        "objective": {"kind": "value"},
        "pins": {
            "trials": [{"trial": "T1", "option": "std"}],
            "assignments": [{"staff": "s1", "trial": "T1", "role": "CRA", "start": "2027-03",
                             "end": "2027-06", "fte": 0.5}],
        },
    }


Mutation = Callable[[dict[str, Any]], None]


def put(path: str, value: Any) -> Mutation:
    """Set a value at a dotted path (list indices as numbers): ``put("staff.0.fte", 0)``."""

    def mutate(p: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = p
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def drop(path: str) -> Mutation:
    def mutate(p: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = p
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[int(last) if isinstance(node, list) else last]

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(p: dict[str, Any]) -> None:
        for m in mutations:
            m(p)

    return mutate


def append(path: str, value: Any) -> Mutation:
    def mutate(p: dict[str, Any]) -> None:
        node: Any = p
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        node.append(copy.deepcopy(value))

    return mutate


def rename_demand(stage_path: str, old: str, new: str) -> Mutation:
    def mutate(p: dict[str, Any]) -> None:
        node: Any = p
        for part in stage_path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[new] = node.pop(old)

    return mutate


T1_CONDUCT = "trials.0.options.0.stages.1"
CRA_STAFF = {"id": "s4", "role": "CRA", "monthly_cost": 9000}

# (case id, mutation, expected path, phrase the message contains)
CATALOGUE: list[tuple[str, Mutation, str, str]] = [
    # -- structure (pydantic) --------------------------------------------------------
    ("month_13_is_not_a_month", put("horizon.start", "2027-13"), "horizon.start",
     "'2027-13' is not a calendar month YYYY-MM (month 01 to 12)"),
    ("leave_month_must_be_yyyy_mm", put("staff.0.leave", ["2027-8"]), "staff[0].leave[0]",
     "'2027-8' is not a calendar month YYYY-MM"),
    ("month_with_non_ascii_digits", put("trials.0.earliest_start", "\u0662\u0660\u0662\u0667-01"),
     "trials[0].earliest_start", "is not a calendar month YYYY-MM"),
    ("month_with_a_trailing_newline", put("horizon.start", "2027-01\n"), "horizon.start", "is not a calendar month"),
    ("mandatory_given_as_a_string", put("trials.0.mandatory", "yes"), "trials[0].mandatory",
     'Input should be a valid boolean (true or false), got "yes"'),
    ("boolean_given_as_a_number", put("settings", {"reproducible": 1}), "settings.reproducible",
     "Input should be a valid boolean (true or false), got 1"),
    ("months_given_as_a_string", put("horizon.months", "12"), "horizon.months",
     'Input should be a valid integer, got "12"'),
    ("fte_given_as_a_string", put("staff.2.fte", "0.5"), "staff[2].fte", 'Input should be a valid number, got "0.5"'),
    ("number_given_as_a_boolean", put("staff.2.monthly_cost", True), "staff[2].monthly_cost",
     "Input should be a valid number, got true"),
    ("lag_above_the_longest_horizon", put("trials.1.predecessors.0.lag", 241), "trials[1].predecessors[0].lag",
     "less than or equal to 240"),
    ("name_longer_than_1000_characters", put("trials.0.name", "x" * 1001), "trials[0].name", "at most 1000 characters"),
    ("id_longer_than_128_characters", put("staff.0.id", "s" * 129), "staff[0].id", "at most 128 characters"),
    ("negative_monthly_cost", put("staff.1.monthly_cost", -1), "staff[1].monthly_cost", "greater than or equal to 0"),
    ("negative_fixed_cost", put("trials.0.options.1.fixed_cost", -5), "trials[0].options[1].fixed_cost",
     "greater than or equal to 0"),
    ("unknown_field_typo_is_refused", put("trials.1.deadine", "2027-10"), "trials[1].deadine", "Extra inputs"),
    ("missing_required_field", drop("staff.0.monthly_cost"), "staff[0].monthly_cost", "Field required"),
    ("pinned_assignment_fte_zero", put("pins.assignments.0.fte", 0), "pins.assignments[0].fte", "greater than 0"),
    ("pinned_assignment_fte_above_one", put("pins.assignments.0.fte", 1.5), "pins.assignments[0].fte",
     "less than or equal to 1"),
    ("zero_month_stage", put(f"{T1_CONDUCT}.months", 0), "trials[0].options[0].stages[1].months",
     "stage 'conduct' lasts 0 months: a stage lasts at least 1 month"),
    ("negative_month_stage", put(f"{T1_CONDUCT}.months", -3), "trials[0].options[0].stages[1].months",
     "lasts -3 months: a stage lasts at least 1 month"),
    ("unknown_objective_kind", put("objective.kind", "profit"), "objective.kind", "'value'"),
    # -- duplicate ids -------------------------------------------------------------------
    ("duplicate_role", put("roles", ["CRA", "CTM", "DM", "CTM"]), "roles[3]", "duplicate role 'CTM'"),
    ("duplicate_staff_id", put("staff.2.id", "s1"), "staff[2].id", "duplicate staff id 's1'"),
    ("duplicate_service_id", put("services.1.id", "lab"), "services[1].id", "duplicate service id 'lab'"),
    ("duplicate_trial_id", put("trials.2.id", "T2"), "trials[2].id", "duplicate trial id 'T2'"),
    ("duplicate_option_id_within_trial", put("trials.0.options.1.id", "std"), "trials[0].options[1].id",
     "duplicate option id 'std'"),
    ("duplicate_flex_role", append("flex", {"role": "CRA", "monthly_rate": 1, "max_fte": 1}), "flex[1].role",
     "duplicate flex entry for role 'CRA'"),
    ("duplicate_secondary_role", put("staff.1.secondary_roles", ["DM", "CRA", "DM"]), "staff[1].secondary_roles[2]",
     "duplicate secondary role 'DM' (first at staff[1].secondary_roles[0])"),
    # -- unknown references --------------------------------------------------------------
    ("unknown_role_in_stage_demand", rename_demand(f"{T1_CONDUCT}.demand", "CRA", "CRX"),
     "trials[0].options[0].stages[1].demand.CRX", "unknown role 'CRX' (roles are: CRA, CTM, DM)"),
    ("unknown_staff_primary_role", put("staff.0.role", "CRX"), "staff[0].role", "unknown role 'CRX'"),
    ("unknown_staff_secondary_role", put("staff.1.secondary_roles", ["DM", "QA"]), "staff[1].secondary_roles[1]",
     "unknown role 'QA'"),
    ("unknown_regional_role", put("regional_roles", ["CRA", "SSU"]), "regional_roles[1]", "unknown role 'SSU'"),
    ("unknown_flex_role", put("flex.0.role", "MW"), "flex[0].role", "unknown role 'MW'"),
    ("unknown_service_in_stage", rename_demand(f"{T1_CONDUCT}.services", "lab", "labs"),
     "trials[0].options[0].stages[1].services.labs", "unknown service 'labs' (services are: lab, dct)"),
    ("unknown_role_in_required_skills", put("trials.0.required_skills", {"CRA": ["AD"], "MM": ["PSO"]}),
     "trials[0].required_skills.MM", "unknown role 'MM'"),
    ("unknown_predecessor_trial", put("trials.1.predecessors.0.trial", "T9"), "trials[1].predecessors[0].trial",
     "unknown trial 'T9'"),
    # -- coverage ----------------------------------------------------------------------
    ("role_demanded_with_no_staff_and_no_flex",
     both(put("roles", ["CRA", "CTM", "DM", "PV"]), put("trials.2.options.0.stages.0.demand", {"PV": 0.1})),
     "trials[2].options[0].stages[0].demand.PV", "no staff and no flex can serve role 'PV'"),
    ("flex_with_zero_max_fte_does_not_serve_a_role",
     both(put("staff.0.role", "CTM"), drop("pins.assignments.0"), put("flex.0.max_fte", 0)),
     "trials[0].options[0].stages[1].demand.CRA", "no staff and no flex can serve role 'CRA'"),
    # -- numbers -----------------------------------------------------------------------
    ("staff_fte_zero", put("staff.2.fte", 0), "staff[2].fte", "fte must be in (0, 1], got 0"),
    ("staff_fte_above_one", put("staff.2.fte", 1.5), "staff[2].fte", "fte must be in (0, 1], got 1.5"),
    ("negative_demand_fte", put(f"{T1_CONDUCT}.demand.DM", -0.3), "trials[0].options[0].stages[1].demand.DM",
     "must be >= 0 FTE, got -0.3"),
    ("non_finite_demand_fte", put(f"{T1_CONDUCT}.demand.DM", float("nan")),
     "trials[0].options[0].stages[1].demand.DM", "finite"),
    ("negative_service_units", put(f"{T1_CONDUCT}.services.lab", -2), "trials[0].options[0].stages[1].services.lab",
     "must be >= 0 units, got -2"),
    ("capacity_series_shorter_than_horizon", put("services.1.capacity", [10] * 11), "services[1].capacity",
     "11 values; the horizon has 12 months"),
    ("negative_capacity_in_series", put("services.1.capacity.4", -1), "services[1].capacity[4]", "got -1"),
    ("negative_constant_capacity", put("services.0.capacity", -3), "services[0].capacity", ">= 0, got -3"),
    ("infinite_monthly_cost", put("staff.0.monthly_cost", float("inf")), "staff[0].monthly_cost", "finite"),
    ("deadline_before_earliest_start", put("trials.0.deadline", "2026-12"), "trials[0].deadline",
     "deadline 2026-12 is before its earliest_start 2027-01: the trial cannot end before it starts"),
    ("deadline_before_the_horizon_start", put("trials.2.deadline", "2026-06"), "trials[2].deadline",
     "deadline 2026-06 is before the horizon start 2027-01"),
    ("budget_year_not_four_digits", put("budget.per_year", {"27": 1e6}), "budget.per_year.27",
     "four-digit calendar year"),
    ("budget_year_in_non_ascii_digits", put("budget.per_year", {"\uff12\uff10\uff12\uff17": 1e6}),
     "budget.per_year.\uff12\uff10\uff12\uff17", "four-digit calendar year"),
    ("budget_year_before_the_horizon", put("budget.per_year", {"2027": 4e6, "1999": 1e6}), "budget.per_year.1999",
     "budget year 1999 has no month in the horizon 2027-01..2027-12"),
    ("budget_year_after_the_horizon", put("budget.per_year", {"2028": 1e6}), "budget.per_year.2028",
     "has no month in the horizon"),
    ("horizon_past_year_9999", put("horizon.start", "9999-06"), "horizon.months", "would end 10000-05, after 9999-12"),
    # -- months and windows ------------------------------------------------------------
    ("available_to_before_available_from", put("staff.1.available_to", "2026-12"), "staff[1].available_to",
     "before available_from 2027-01"),
    ("earliest_start_after_latest_start", put("trials.0.earliest_start", "2027-05"), "trials[0].latest_start",
     "latest_start 2027-03 is before earliest_start 2027-05"),
    ("earliest_start_before_horizon", put("trials.2.earliest_start", "2026-11"), "trials[2].earliest_start",
     "outside the horizon 2027-01..2027-12"),
    ("latest_start_after_horizon", put("trials.2.latest_start", "2028-02"), "trials[2].latest_start",
     "outside the horizon"),
    ("stage_longer_than_horizon", put("trials.2.options.0.stages.0.months", 13),
     "trials[2].options[0].stages[0].months", "longer than the 12-month horizon"),
    ("option_longer_than_horizon", append("trials.2.options.0.stages", {"months": 9}), "trials[2].options[0]",
     "lasts 13 months, longer than the 12-month horizon"),
    ("option_does_not_fit_after_earliest_start", put("trials.2.earliest_start", "2027-10"), "trials[2].options[0]",
     "would end 2028-01, after the horizon ends (2027-12)"),
    ("deadline_impossible_for_mandatory_trial_under_cost",
     both(put("objective.kind", "cost"), put("trials.0.deadline", "2027-04")), "trials[0].deadline",
     "before the earliest possible end 2027-05"),
    ("deadline_impossible_after_predecessors_under_cost",
     both(put("objective.kind", "cost"), put("trials.1.mandatory", True), put("trials.1.deadline", "2027-08")),
     "trials[1].deadline", "after predecessor 'T1'"),
    # -- trials and predecessors ---------------------------------------------------------
    ("trial_without_options", put("trials.2.options", []), "trials[2].options", "no execution options"),
    ("option_without_stages", put("trials.0.options.1.stages", []), "trials[0].options[1].stages", "no stages"),
    ("trial_is_its_own_predecessor", put("trials.2.predecessors", [{"trial": "T3"}]),
     "trials[2].predecessors[0].trial", "'T3' is its own predecessor"),
    ("predecessor_cycle_is_reported_with_its_trials", put("trials.0.predecessors", [{"trial": "T2"}]),
     "trials[0].predecessors[0].trial", "predecessor cycle T1 -> T2 -> T1"),
    ("mandatory_trial_cannot_start_by_latest_start_after_predecessor",
     both(put("trials.1.mandatory", True), put("trials.1.latest_start", "2027-04")),
     "trials[1].predecessors[0]", "cannot start by its latest_start 2027-04"),
    ("mandatory_trial_pushed_past_horizon_by_predecessor",
     both(put("trials.1.mandatory", True), put("trials.0.earliest_start", "2027-03"),
          put("trials.1.options.0.stages.0.months", 5)),
     "trials[1].predecessors[0]", "cannot end inside the horizon"),
    # -- pins --------------------------------------------------------------------------
    ("pins_of_one_person_above_their_fte",
     append("pins.assignments", {"staff": "s1", "trial": "T1", "role": "CRA", "start": "2027-06", "end": "2027-07",
                                 "fte": 0.75}),
     "pins.assignments[1].fte", "staff 's1' is pinned to 1.25 FTE in 2027-06 in all"),
    ("pinned_trial_unknown", put("pins.trials.0.trial", "T7"), "pins.trials[0].trial", "unknown trial 'T7'"),
    ("pinned_option_unknown", put("pins.trials.0.option", "dct"), "pins.trials[0].option",
     "unknown option 'dct' of trial 'T1' (options are: std, fso)"),
    ("pinned_not_to_run_on_mandatory_trial", put("pins.trials.0", {"trial": "T1", "run": False}),
     "pins.trials[0].run", "mandatory trial 'T1' cannot be pinned not to run"),
    ("pinned_start_outside_horizon", put("pins.trials.0.start", "2028-01"), "pins.trials[0].start",
     "outside the horizon"),
    ("pinned_start_outside_trial_window", put("pins.trials.0.start", "2027-04"), "pins.trials[0].start",
     "after the trial's latest_start 2027-03"),
    ("pinned_start_too_late_for_any_option", put("pins.trials", [{"trial": "T3", "start": "2027-10"}]),
     "pins.trials[0].start", "its shortest option lasts 4 months and would end 2028-01"),
    ("pinned_start_too_late_for_pinned_option",
     put("pins.trials", [{"trial": "T2", "option": "dct", "start": "2027-11"}]),
     "pins.trials[0].start", "option 'dct' lasts 3 months and would end 2028-01"),
    ("pinned_not_to_run_but_with_a_start", put("pins.trials", [{"trial": "T3", "run": False, "start": "2027-02"}]),
     "pins.trials[0].run", "pinned not to run but also pins an option or start"),
    ("pinned_assignment_role_trial_does_not_demand",
     put("pins.assignments.0", {"staff": "s2", "trial": "T3", "role": "CTM", "start": "2027-03",
                                "end": "2027-04", "fte": 0.5}),
     "pins.assignments[0].role", "trial 'T3' demands no 'CTM' in any option"),
    ("pinned_assignment_outside_availability", put("staff.0.available_to", "2027-05"),
     "pins.assignments[0].end", "staff 's1' is not available after 2027-05"),
    ("pinned_assignment_outside_horizon", put("pins.assignments.0.end", "2028-02"),
     "pins.assignments[0].end", "end 2028-02 is outside the horizon"),
    ("previous_plan_assignment_with_bad_month",
     both(put("pins.frozen_until", "2027-04"),
          put("pins.previous_plan", {"status": "feasible", "assignments": [
              {"staff": "s1", "trial": "T1", "role": "CRA", "start": "2027-3", "end": "2027-05", "fte": 0.5}]})),
     "pins.previous_plan.assignments[0].start", "'2027-3' is not a month YYYY-MM"),
    ("trial_pinned_twice", append("pins.trials", {"trial": "T1", "run": True}), "pins.trials[1].trial",
     "pinned twice"),
    ("pinned_assignment_start_after_end", put("pins.assignments.0.end", "2027-02"), "pins.assignments[0].end",
     "end 2027-02 is before start 2027-03"),
    ("pinned_assignment_fte_above_staff_fte",
     put("pins.assignments.0", {"staff": "s3", "trial": "T1", "role": "DM", "start": "2027-03",
                                "end": "2027-04", "fte": 0.6}),
     "pins.assignments[0].fte", "exceeds staff 's3' contracted fte 0.5"),
    ("pinned_assignment_role_person_cannot_serve", put("pins.assignments.0.role", "CTM"),
     "pins.assignments[0].role", "staff 's1' cannot serve role 'CTM'"),
    ("pinned_assignment_unknown_staff", put("pins.assignments.0.staff", "s99"), "pins.assignments[0].staff",
     "unknown staff 's99'"),
    ("pinned_assignment_unknown_role", put("pins.assignments.0.role", "CRX"), "pins.assignments[0].role",
     "unknown role 'CRX'"),
    ("pinned_assignment_over_leave", put("pins.assignments.0.end", "2027-09"), "pins.assignments[0]",
     "on leave in 2027-08"),
    ("pinned_assignment_lacks_required_skill", put("staff.0.skills", []), "pins.assignments[0].staff",
     "lacks skill(s) AD"),
    ("pinned_assignment_outside_trial_regions", put("staff.0.region", "NA"), "pins.assignments[0].staff",
     "region 'NA'"),
    ("frozen_until_without_previous_plan", put("pins.frozen_until", "2027-04"), "pins.frozen_until",
     "without a previous_plan"),
    ("previous_plan_with_unknown_trial",
     both(put("pins.frozen_until", "2027-04"),
          put("pins.previous_plan", {"status": "optimal", "trials": [
              {"id": "T1", "run": True, "option": "std", "start": "2027-01", "end": "2027-06"},
              {"id": "OLD", "run": True, "option": "std", "start": "2027-01", "end": "2027-06"}]})),
     "pins.previous_plan.trials[1].id", "trial 'OLD' started before the freeze at 2027-04"),
    ("previous_plan_frozen_fte_above_staff_fte",
     both(put("pins.frozen_until", "2027-04"),
          put("pins.previous_plan", {"status": "feasible", "assignments": [
              {"staff": "s3", "trial": "T1", "role": "DM", "start": "2027-01", "end": "2027-06", "fte": 0.6}]})),
     "pins.previous_plan.assignments[0].fte", "exceeds staff 's3' contracted fte 0.5 in the frozen months"),
    ("previous_plan_frozen_work_of_removed_person",
     both(put("pins.frozen_until", "2027-04"),
          put("pins.previous_plan", {"status": "feasible", "trials": [
              {"id": "T1", "run": True, "option": "std", "start": "2027-01", "end": "2027-06"}], "assignments": [
              {"staff": "gone", "trial": "T1", "role": "DM", "start": "2027-01", "end": "2027-06", "fte": 0.5}]})),
     "pins.previous_plan.assignments[0].staff", "stays in the problem with available_to"),
]


@pytest.mark.parametrize(
    ("mutation", "path", "phrase"),
    [pytest.param(m, path, phrase, id=name) for name, m, path, phrase in CATALOGUE],
)
def test_invalid_input_is_refused_with_path_and_reason(mutation: Mutation, path: str, phrase: str) -> None:
    data = base_problem()
    mutation(data)
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(data)
    errors = caught.value.errors
    at_path = [e for e in errors if e.path == path]
    assert at_path, f"no error at {path}; got {[(e.path, e.message) for e in errors]}"
    assert any(phrase in e.message for e in at_path), [e.message for e in at_path]


def test_catalogue_case_ids_are_distinct() -> None:
    names = [name for name, *_ in CATALOGUE]
    assert len(names) == len(set(names)) >= 25


def test_base_problem_is_valid() -> None:
    problem = parse_problem(base_problem())
    assert isinstance(problem, Problem)
    assert [t.id for t in problem.trials] == ["T1", "T2", "T3"]


def test_valid_problem_given_as_json_text_parses() -> None:
    assert parse_problem(json.dumps(base_problem())).name == "catalogue"
    assert parse_problem(json.dumps(base_problem()).encode()).horizon.months == 12


def test_invalid_problem_given_as_json_text_is_refused_with_path() -> None:
    data = base_problem()
    data["staff"][2]["role"] = "CRX"
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(json.dumps(data))
    assert [e.path for e in caught.value.errors] == ["staff[2].role"]


def test_a_utf8_byte_order_mark_is_read_past() -> None:
    text = json.dumps(base_problem())
    assert parse_problem("\ufeff" + text).name == "catalogue"
    assert parse_problem(b"\xef\xbb\xbf" + text.encode()).name == "catalogue"


def test_utf16_text_is_refused_naming_its_encoding() -> None:
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(json.dumps(base_problem()).encode("utf-16"))
    assert [(e.path, "UTF-16" in e.message) for e in caught.value.errors] == [("$", True)]


def test_every_duplicated_key_is_refused_at_its_path_with_the_structure_errors() -> None:
    text = json.dumps(base_problem())
    text = text.replace('"fte": 1.0,', '"fte": 1.0, "fte": 0.001,', 1)  # staff[0]
    text = text.replace('"demand": {"CRA": 0.5}', '"demand": {"CRA": 0.5, "CRA": 5}', 1)  # trials[1]
    text = text.replace('"objective": {', '"name": "twice", "objective": {', 1)
    text = text.replace('"mandatory": true', '"mandatory": "yes"', 1)
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(text)
    assert [e.path for e in caught.value.errors] == [
        "name",
        "staff[0].fte",
        "trials[1].options[0].stages[0].demand.CRA",
        "trials[0].mandatory",
    ]
    assert "duplicate key 'fte'" in caught.value.errors[1].message


def test_one_key_in_many_objects_is_not_a_duplicate() -> None:
    assert duplicate_keys(json.dumps(base_problem())) == []
    assert duplicate_keys(b'{"a": [{"a": 1}, {"a": 2}], "b": {"a": {"a": 3}}}') == []


def test_a_stage_of_zero_months_is_reported_with_the_rule_errors() -> None:
    data = base_problem()
    data["trials"][0]["options"][0]["stages"][1].update(months=0, demand={"CRA": -1, "CRX": 1})
    data["budget"]["per_year"] = {"1999": 1.0}
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(json.dumps(data))
    assert {e.path for e in caught.value.errors} >= {
        "trials[0].options[0].stages[1].months",
        "trials[0].options[0].stages[1].demand.CRA",
        "trials[0].options[0].stages[1].demand.CRX",
        "budget.per_year.1999",
    }


def test_malformed_json_text_is_refused_not_crashed() -> None:
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem('{"horizon": {"start": "2027-01", "months": 12}, "roles": [')
    assert caught.value.errors


def test_json_infinity_is_refused_as_not_finite() -> None:
    text = json.dumps(base_problem()).replace('"monthly_cost": 9000', '"monthly_cost": Infinity', 1)
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(text)
    assert any(e.path == "staff[0].monthly_cost" and "finite" in e.message for e in caught.value.errors)


def test_every_error_is_reported_not_just_the_first() -> None:
    data = base_problem()
    data["staff"][0]["role"] = "CRX"
    data["staff"][2]["fte"] = 0
    data["trials"][0]["options"][0]["stages"][1]["demand"]["DM"] = -1
    data["trials"][2]["id"] = "T1"
    data["budget"]["per_year"] = {"FY27": 1.0}
    data["pins"]["trials"][0]["option"] = "nope"
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(data)
    paths = {e.path for e in caught.value.errors}
    assert {
        "staff[0].role",
        "staff[2].fte",
        "trials[0].options[0].stages[1].demand.DM",
        "trials[2].id",
        "budget.per_year.FY27",
        "pins.trials[0].option",
    } <= paths
    assert all(str(e.path) in str(caught.value) for e in caught.value.errors)


def test_every_structure_error_is_reported_not_just_the_first() -> None:
    data = base_problem()
    data["horizon"]["start"] = "2027-13"
    data["staff"][1]["monthly_cost"] = -1
    data["trials"][0]["typo"] = 1
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(data)
    assert {e.path for e in caught.value.errors} >= {"horizon.start", "staff[1].monthly_cost", "trials[0].typo"}


def test_required_skill_nobody_holds_is_not_an_error() -> None:
    data = base_problem()
    data["trials"][2]["required_skills"] = {"DM": ["HS"]}
    parse_problem(data)


def test_role_with_no_staff_is_fine_when_shortfall_is_priced() -> None:
    data = base_problem()
    data["roles"].append("PV")
    data["trials"][2]["options"][0]["stages"][0]["demand"]["PV"] = 0.1
    data["objective"]["weights"] = {"shortfall": 1e6}
    parse_problem(data)


def test_role_served_only_by_a_secondary_role_or_flex_is_covered() -> None:
    data = base_problem()
    data["staff"] = [s for s in data["staff"] if s["id"] != "s3"]  # DM only as s2's secondary role
    data["pins"]["assignments"] = []
    data["staff"] = [s for s in data["staff"] if s["id"] != "s1"]  # CRA only through flex
    parse_problem(data)


def test_impossible_deadline_is_allowed_when_lateness_is_penalised() -> None:
    for kind in ("value", "makespan", "weighted_completion"):
        data = base_problem()
        data["objective"]["kind"] = kind
        data["trials"][0]["deadline"] = "2027-02"
        parse_problem(data)


def test_impossible_deadline_of_an_optional_trial_is_allowed_under_cost() -> None:
    data = base_problem()
    data["objective"]["kind"] = "cost"
    data["trials"][2]["deadline"] = "2027-02"
    parse_problem(data)


def test_mandatory_trial_with_optional_predecessor_is_fine() -> None:
    data = base_problem()
    data["trials"][1]["predecessors"][0]["lag"] = 0  # T2 (optional) can end by 2027-08
    data["trials"][2]["mandatory"] = True
    data["trials"][2]["predecessors"] = [{"trial": "T2"}]
    parse_problem(data)


def test_leave_and_availability_outside_the_horizon_are_allowed() -> None:
    data = base_problem()
    data["staff"][0]["leave"] = ["2026-05", "2031-01"]
    data["staff"][2]["available_from"] = "2020-01"
    data["staff"][2]["available_to"] = "2040-12"
    parse_problem(data)


def test_long_predecessor_cycle_is_reported_once_in_order() -> None:
    data = base_problem()
    for i in range(5):
        data["trials"].append({"id": f"C{i}", "predecessors": [{"trial": f"C{(i + 1) % 5}"}],
                               "options": [{"id": "o", "stages": [{"months": 1}]}]})
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(data)
    cycles = [e for e in caught.value.errors if "cycle" in e.message]
    assert len(cycles) == 1
    assert cycles[0].path == "trials[3].predecessors[0].trial"
    assert "C0 -> C1 -> C2 -> C3 -> C4 -> C0" in cycles[0].message


def test_very_long_cycle_is_named_briefly() -> None:
    data = base_problem()
    for i in range(30):
        data["trials"].append({"id": f"C{i}", "predecessors": [{"trial": f"C{(i + 1) % 30}"}],
                               "options": [{"id": "o", "stages": [{"months": 1}]}]})
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(data)
    (cycle,) = [e for e in caught.value.errors if "cycle" in e.message]
    assert "C0 -> C1 -> " in cycle.message and "C9 -> ... (20 more) -> C0" in cycle.message


def test_two_separate_cycles_are_both_reported() -> None:
    data = base_problem()
    data["trials"][0]["predecessors"] = [{"trial": "T2"}]
    data["trials"][2]["predecessors"] = [{"trial": "X"}]
    data["trials"].append({"id": "X", "predecessors": [{"trial": "T3"}],
                           "options": [{"id": "o", "stages": [{"months": 1}]}]})
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(data)
    cycles = sorted(e.message for e in caught.value.errors if "cycle" in e.message)
    assert len(cycles) == 2
    assert "T1 -> T2 -> T1" in cycles[0] and "T3 -> X -> T3" in cycles[1]


def test_long_lists_in_messages_are_truncated() -> None:
    data = base_problem()
    data["roles"] += [f"R{i}" for i in range(40)]
    data["staff"][0]["role"] = "CRX"
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(data)
    (error,) = [e for e in caught.value.errors if e.path == "staff[0].role"]
    assert "(33 more)" in error.message and len(error.message) < 200


def _large_problem(n_staff: int, n_trials: int, months: int = 36) -> dict[str, Any]:
    roles = ["CRA", "CTM", "DM", "BIOS", "PROG", "MW", "REG", "PV", "SSU", "CTA", "MM"]
    staff = [{"id": f"P{i}", "role": roles[i % len(roles)], "secondary_roles": [roles[(i + 1) % len(roles)]],
              "fte": 1.0, "monthly_cost": 8000, "skills": ["AD"], "leave": ["2027-07", "2027-08"]}
             for i in range(n_staff)]
    trials = []
    for t in range(n_trials):
        trials.append({
            "id": f"T{t}", "mandatory": t % 3 == 0, "earliest_start": "2027-01", "deadline": "2029-06",
            "predecessors": [{"trial": f"T{t - 1}"}] if t % 10 else [],
            "required_skills": {"CRA": ["AD"]},
            "options": [{"id": f"o{k}", "stages": [
                {"months": 1, "demand": {r: 0.1 for r in roles[:6]}},
                {"months": 1, "demand": {r: 0.2 for r in roles[3:]}},
            ]} for k in range(3)],
        })
    return {"horizon": {"start": "2027-01", "months": months}, "roles": roles, "staff": staff,
            "flex": [{"role": r, "monthly_rate": 1, "max_fte": 1} for r in roles], "trials": trials}


def test_large_problem_validates_well_under_a_second() -> None:
    problem = Problem.model_validate(_large_problem(5000, 300))
    began = time.perf_counter()
    errors = semantic_errors(problem)
    elapsed = time.perf_counter() - began
    assert errors == []
    assert elapsed < 0.5, f"semantic validation took {elapsed:.3f}s"

"""Scenario files: a base problem and named changes, each expanded to a full, validated problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.contract.problem import ProblemInvalid
from models.tools.scenarios import BASE, expand, load_scenario_file, read_scenario_file
from tests.conftest import ROOT

SMALL = ROOT / "data" / "example-small.json"


def _expand(changes: list[dict], **extra: object) -> list:
    spec = read_scenario_file({"base": str(SMALL), "scenarios": [{"name": "what-if", "changes": changes}], **extra})
    return expand(spec, json.loads(SMALL.read_text()))


def _only(changes: list[dict]):
    base, scenario = _expand(changes)
    assert base.name == BASE and base.valid
    return base.problem, scenario


def test_the_base_comes_first_and_every_scenario_follows_in_file_order_sweep_last():
    spec = read_scenario_file(
        {
            "base": str(SMALL),
            "scenarios": [{"name": "a", "changes": []}, {"name": "b", "changes": []}],
            "sweep": {"path": "budget.per_year.2027", "op": "scale", "values": [0.9, 1.1]},
        }
    )
    names = [s.name for s in expand(spec, json.loads(SMALL.read_text()))]
    assert names == [BASE, "a", "b", "budget.per_year.2027 x0.9", "budget.per_year.2027 x1.1"]


def test_scale_multiplies_every_number_a_wildcard_selects():
    base, scenario = _only([{"scale": "budget.per_year.*", "by": 0.9}])
    assert scenario.problem.budget.per_year == {y: v * 0.9 for y, v in base.budget.per_year.items()}


def test_set_selects_a_list_item_by_its_id():
    base, scenario = _only([{"set": "trials[T01].mandatory", "value": True}])
    assert not base.trials[0].mandatory
    assert scenario.problem.trials[0].id == "T01" and scenario.problem.trials[0].mandatory


def test_set_reaches_every_item_a_field_filter_selects():
    _, scenario = _only([{"set": "staff[role=CRA].monthly_cost", "value": 7000}])
    costs = {s.monthly_cost for s in scenario.problem.staff if s.role == "CRA"}
    others = {s.monthly_cost for s in scenario.problem.staff if s.role != "CRA"}
    assert costs == {7000} and 7000 not in others


def test_set_may_create_a_missing_key_of_a_mapping():
    """A budget for 2028 once the horizon reaches it (a year outside the horizon is refused)."""
    longer = [{"set": "services[*].capacity", "value": 10}, {"set": "horizon.months", "value": 24}]
    _, scenario = _only([*longer, {"set": "budget.per_year.2028", "value": 5e5}])
    assert scenario.problem.budget.per_year["2028"] == 5e5


def test_add_copies_a_person_with_fresh_ids_and_the_fields_given():
    base, scenario = _only([{"add": "staff", "like": "CRA-001", "count": 3, "with": {"region": "US"}}])
    added = scenario.problem.staff[len(base.staff) :]
    assert [s.id for s in added] == ["CRA-001+1", "CRA-001+2", "CRA-001+3"]
    assert {s.role for s in added} == {"CRA"} and {s.region for s in added} == {"US"}


def test_remove_drops_the_trials_a_path_selects():
    base, scenario = _only([{"remove": "trials[T04]"}])
    assert [t.id for t in scenario.problem.trials] == [t.id for t in base.trials if t.id != "T04"]


def test_remove_with_a_count_drops_only_the_last_matches():
    base, scenario = _only([{"remove": "staff[role=CRA]", "count": 2}])
    cras = [s.id for s in base.staff if s.role == "CRA"]
    assert [s.id for s in scenario.problem.staff if s.role == "CRA"] == cras[:-2]


def test_file_settings_reach_the_base_and_every_scenario():
    scenarios = _expand([{"scale": "budget.per_year.*", "by": 0.5}], settings={"reproducible": True, "time_limit": 5})
    assert all(s.problem.settings.reproducible and s.problem.settings.time_limit == 5 for s in scenarios)


def test_a_change_whose_path_selects_nothing_leaves_the_scenario_invalid_with_its_place():
    _, scenario = _only([{"set": "trials[T99].mandatory", "value": True}])
    assert not scenario.valid
    assert scenario.errors[0].path == "scenarios[0].changes[0]" and "T99" in scenario.errors[0].message


def test_a_scenario_failing_validation_is_kept_with_the_field_paths():
    _, scenario = _only([{"set": "trials[T01].options[0].stages[0].demand.CRX", "value": 1.0}])
    assert not scenario.valid
    assert any(e.path == "trials[0].options[0].stages[0].demand.CRX" and "unknown role" in e.message for e in scenario.errors)


def test_scaling_text_is_refused():
    _, scenario = _only([{"scale": "trials[T01].id", "by": 2}])
    assert not scenario.valid and "only numbers" in scenario.errors[0].message


def test_a_sweep_value_that_is_no_number_cannot_scale():
    spec = read_scenario_file({"base": {}, "sweep": {"path": "budget.total", "op": "scale", "values": ["x"]}})
    scenarios = expand(spec, json.loads(SMALL.read_text()))
    assert not scenarios[1].valid and scenarios[1].errors[0].path == "sweep.values[0]"


def test_an_invalid_base_is_refused_as_a_whole_with_paths_under_base():
    spec = read_scenario_file({"base": {}, "scenarios": [{"name": "a"}]})
    with pytest.raises(ProblemInvalid) as caught:
        expand(spec, {"horizon": {"start": "2027-01", "months": 12}, "roles": [], "trials": "none"})
    assert any(e.path.startswith("base.trials") for e in caught.value.errors)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"base": {}, "scenarios": [{"name": "base"}]}, "scenarios[0].name"),
        ({"base": {}, "scenarios": [{"name": "a"}, {"name": "a"}]}, "scenarios[1].name"),
        ({"base": {}, "scenarios": [{"name": "a", "changes": [{"rename": "x"}]}]}, "scenarios[0].changes[0]"),
        ({"scenarios": []}, "base"),
    ],
)
def test_a_malformed_scenario_file_names_the_field(data: dict, path: str):
    with pytest.raises(ProblemInvalid) as caught:
        read_scenario_file(data)
    assert [e.path for e in caught.value.errors] == [path]


ALL_KEYS = "{set, value}; {scale, by}; {add, items, like, count, id_prefix, with}; {remove, count}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"multiply": "budget.total", "by": 2}, f"unknown key 'multiply'; a change is one of {ALL_KEYS}"),
        ({"value": 2}, f"no kind of change given; a change is one of {ALL_KEYS}"),
        ({"set": "budget.total", "value": 2, "multiply": 3}, "unknown key 'multiply' in this set change (its keys: set, value)"),
        ({"add": "staff", "like": "CRA-001", "times": 3}, "unknown key 'times' in this add change (its keys: add, items, like, count, id_prefix, with)"),
        ("scale budget", f"a change is an object, one of {ALL_KEYS}"),
    ],
)
def test_an_unknown_key_in_a_change_is_named_with_the_keys_allowed(change: object, message: str):
    with pytest.raises(ProblemInvalid) as caught:
        read_scenario_file({"base": {}, "scenarios": [{"name": "a", "changes": [change]}]})
    assert [(e.path, e.message) for e in caught.value.errors] == [("scenarios[0].changes[0]", message)]


def test_a_wrong_value_in_a_change_is_reported_at_its_key_without_the_kind_in_the_path():
    with pytest.raises(ProblemInvalid) as caught:
        read_scenario_file({"base": {}, "scenarios": [{"name": "a", "changes": [{"scale": "budget.total", "by": "half"}]}]})
    assert [e.path for e in caught.value.errors] == ["scenarios[0].changes[0].by"]
    assert caught.value.errors[0].message.endswith('got "half"')


def test_yaml_files_read_the_base_beside_them(tmp_path: Path):
    (tmp_path / "base.json").write_text(SMALL.read_text())
    (tmp_path / "what-if.yaml").write_text(
        "base: base.json\nscenarios:\n  - name: T01 mandatory\n    changes:\n      - {set: 'trials[T01].mandatory', value: true}\n"
    )
    spec, base = load_scenario_file(tmp_path / "what-if.yaml")
    assert [s.name for s in expand(spec, base)] == [BASE, "T01 mandatory"]


def test_a_missing_base_file_is_reported_on_base(tmp_path: Path):
    (tmp_path / "what-if.json").write_text(json.dumps({"base": "nowhere.json"}))
    with pytest.raises(ProblemInvalid) as caught:
        load_scenario_file(tmp_path / "what-if.json")
    assert caught.value.errors[0].path == "base"

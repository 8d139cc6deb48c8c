"""What-if scenarios: a base problem and named changes to it, each expanded to a full problem.

A scenario file (JSON or YAML) names a ``base`` problem (a file path, relative to the
scenario file, or the problem itself inline), optional ``settings`` merged into every
problem (the base's too, so all of them are solved alike), a list of ``scenarios`` each
with its ``changes``, and/or a ``sweep`` of one parameter over values::

    base: example-small.json
    settings: {time_limit: 10, reproducible: true}
    scenarios:
      - name: budget cut 10%
        changes: [{scale: "budget.per_year.*", by: 0.9}]
      - name: T01 mandatory
        changes: [{set: "trials[T01].mandatory", value: true}]
      - name: 5 more CRAs
        changes: [{add: staff, like: CRA-001, count: 5}]
      - name: no T04
        changes: [{remove: "trials[T04]"}]
    sweep: {path: "budget.per_year.2027", op: scale, values: [0.8, 0.9, 1.1]}

Paths are dotted field names with bracket selectors: ``[3]`` an index, ``[T01]`` the
item whose ``id`` is T01, ``[role=CRA]`` every item whose field equals the text, ``*``
or ``[*]`` every item or key. Changes are applied to the base problem as JSON (every
default filled in, so ``budget.total`` exists to be set), in order; the result then goes
through the same validation as any problem (:func:`parse_problem`). A scenario whose
change cannot apply (a path matching nothing) or whose problem is invalid is kept, as
invalid with its messages, so a batch reports it instead of stopping.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError
from pydantic_core import ErrorDetails

from models.contract.problem import FieldError, Problem, ProblemInvalid, json_path
from models.contract.validation import parse_problem, structure_errors

#: The name the base problem has in a batch; no scenario may take it.
BASE = "base"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetChange(_Model):
    set: str = Field(description="Path of the field(s) to set, e.g. trials[T01].mandatory")
    value: Any = Field(description="The new value (any JSON)")


class ScaleChange(_Model):
    scale: str = Field(description="Path of the number(s) to scale, e.g. budget.per_year.*")
    by: float = Field(description="Factor: 0.9 cuts by 10 %")


class AddChange(_Model):
    add: str = Field(description="Path of a list, e.g. staff or trials")
    items: list[dict[str, Any]] = Field(default_factory=list, description="Items appended as given")
    like: str | None = Field(None, description="Append copies of the item with this id")
    count: int = Field(1, ge=1, le=100_000, description="How many copies of `like`")
    id_prefix: str | None = Field(None, description="Copies get ids <id_prefix>1, 2, ... (default '<like>+')")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="Fields set on every copy")


class RemoveChange(_Model):
    remove: str = Field(description="Path selecting list items, e.g. trials[T04] or staff[role=CRA]")
    count: int | None = Field(None, ge=1, description="Remove only the last `count` items the path selects")


#: Each kind of change, by the key that names it.
CHANGE_KINDS: dict[str, type[_Model]] = {"set": SetChange, "scale": ScaleChange, "add": AddChange, "remove": RemoveChange}
#: The keys each kind of change takes, as a scenario file writes them.
CHANGE_KEYS: dict[str, list[str]] = {
    kind: [info.alias or name for name, info in model.model_fields.items()] for kind, model in CHANGE_KINDS.items()
}
_KINDS_TEXT = "; ".join(f"{{{', '.join(keys)}}}" for keys in CHANGE_KEYS.values())


def _change_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((key for key in CHANGE_KINDS if key in value), None)
    return next((key for key in CHANGE_KINDS if hasattr(value, key)), None)


Change = Annotated[
    Annotated[SetChange, Tag("set")]
    | Annotated[ScaleChange, Tag("scale")]
    | Annotated[AddChange, Tag("add")]
    | Annotated[RemoveChange, Tag("remove")],
    Discriminator(_change_kind, custom_error_type="change_kind", custom_error_message=f"a change is one of {_KINDS_TEXT}"),
]


class ScenarioSpec(_Model):
    name: str = Field(min_length=1, max_length=200)
    changes: list[Change] = Field(default_factory=list)


class Sweep(_Model):
    """One parameter over values: one scenario per value."""

    path: str
    op: Literal["set", "scale"] = "set"
    values: list[Any] = Field(min_length=1, max_length=10_000)
    name: str | None = Field(None, description="Scenario name template with {value}; default '<path>=<value>' or '<path> x<value>'")


class ScenarioFile(_Model):
    base: str | dict[str, Any] = Field(description="A problem file (relative to the scenario file) or the problem itself")
    settings: dict[str, Any] = Field(default_factory=dict, description="Merged into every problem's settings, the base's too")
    scenarios: list[ScenarioSpec] = Field(default_factory=list)
    sweep: Sweep | None = None


@dataclass(frozen=True)
class Scenario:
    """One named full problem of a batch, or why it is not one (``errors``)."""

    name: str
    problem: Problem | None
    errors: list[FieldError] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.problem is not None


class ChangeError(ValueError):
    """A change that cannot apply to the problem (its path selects nothing, a type mismatch)."""


def read_scenario_file(data: str | bytes | dict[str, Any]) -> ScenarioFile:
    """The scenario file in ``data`` (JSON, YAML or already parsed); :class:`ProblemInvalid` with field paths if not one."""
    if not isinstance(data, dict):
        data = parse_document(data)
    if not isinstance(data, dict):
        raise ProblemInvalid([FieldError(path="$", message="a scenario file is an object with base, scenarios and/or sweep")])
    try:
        parsed = ScenarioFile.model_validate(data)
    except ValidationError as exc:
        raise ProblemInvalid([_change_error(e, shown) for e, shown in zip(exc.errors(), structure_errors(exc))]) from None
    names = [spec.name for spec in parsed.scenarios]
    errors = [
        FieldError(path=f"scenarios[{i}].name", message=f"'{name}' is taken" + (" by the base" if name == BASE else ""))
        for i, name in enumerate(names)
        if name == BASE or name in names[:i]
    ]
    if errors:
        raise ProblemInvalid(errors)
    return parsed


def _change_error(error: ErrorDetails, shown: FieldError) -> FieldError:
    """A change's error at the change's path, naming the keys it has wrong and the keys it may
    have (pydantic names no key for a change of no kind, and puts the kind in the path)."""
    loc = tuple(error["loc"])
    at = next((i for i in range(len(loc) - 1) if loc[i] == "changes" and isinstance(loc[i + 1], int)), None)
    if at is None:
        return shown
    path = json_path(loc[: at + 2])
    if error["type"] == "change_kind":
        given = error["input"]
        if not isinstance(given, dict):
            return FieldError(path=path, message=f"a change is an object, one of {_KINDS_TEXT}")
        known = {key for keys in CHANGE_KEYS.values() for key in keys}
        unknown = [f"'{key}'" for key in given if key not in known]
        said = f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}" if unknown else "no kind of change given"
        return FieldError(path=path, message=f"{said}; a change is one of {_KINDS_TEXT}")
    kind = loc[at + 2] if len(loc) > at + 2 else None
    if kind not in CHANGE_KEYS:
        return shown
    if error["type"] == "extra_forbidden" and len(loc) == at + 4:
        return FieldError(path=path, message=f"unknown key '{loc[-1]}' in this {kind} change (its keys: {', '.join(CHANGE_KEYS[kind])})")
    return FieldError(path=json_path(loc[: at + 2] + loc[at + 3 :]), message=shown.message)


def parse_document(text: str | bytes) -> Any:
    """JSON read as JSON (YAML would read ``1e-09`` as text), anything else as YAML.

    A file neither reads is refused with :class:`ProblemInvalid` naming its syntax error and
    where it is: the JSON error for text that opens as JSON (``{`` or ``[``), else the YAML one.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        json_error = exc
    except ValueError:
        raise ProblemInvalid([FieldError(path="$", message="not UTF-8 text")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        opening = (text.decode(errors="replace") if isinstance(text, bytes) else text).lstrip()[:1]
        said = _json_syntax(json_error) if opening in ("{", "[") else _yaml_syntax(exc)
        raise ProblemInvalid([FieldError(path="$", message=said)]) from None


def _json_syntax(exc: json.JSONDecodeError) -> str:
    return f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}"


def _yaml_syntax(exc: yaml.YAMLError) -> str:
    """The YAML error in one line, at the line and column where the parser gave up."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f" ({exc.context})" if exc.context else ""
        return f"YAML syntax error at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}{context}"
    return f"YAML syntax error: {str(exc).splitlines()[0]}"


def load_scenario_file(path: Path) -> tuple[ScenarioFile, dict[str, Any]]:
    """Read a scenario file and its base problem (a relative ``base`` path is read beside the file)."""
    spec = read_scenario_file(path.read_bytes())
    if isinstance(spec.base, dict):
        return spec, spec.base
    base_path = Path(spec.base) if Path(spec.base).is_absolute() else path.parent / spec.base
    try:
        base = json.loads(base_path.read_bytes())
    except OSError as exc:
        raise ProblemInvalid([FieldError(path="base", message=f"{base_path}: {exc.strerror}")]) from None
    except json.JSONDecodeError as exc:
        raise ProblemInvalid([FieldError(path="base", message=f"{base_path}: invalid JSON: {exc}")]) from None
    return spec, base


def expand(spec: ScenarioFile, base: dict[str, Any]) -> list[Scenario]:
    """The base (first, named :data:`BASE`) and every scenario as a validated problem, in file order, sweep last.

    Raises :class:`ProblemInvalid` (paths under ``base``) when the base itself is invalid:
    there is then nothing to compare against.
    """
    try:
        problem = parse_problem(_with_settings(base, spec.settings))
    except ProblemInvalid as exc:
        raise ProblemInvalid([FieldError(path=f"base.{e.path}", message=e.message) for e in exc.errors]) from None
    data = problem.model_dump(mode="json")
    out = [Scenario(BASE, problem)]
    for i, scenario in enumerate(spec.scenarios):
        out.append(_scenario(scenario.name, data, [(f"scenarios[{i}].changes[{j}]", c) for j, c in enumerate(scenario.changes)]))
    if spec.sweep is not None:
        taken = {s.name for s in out}
        for k, value in enumerate(spec.sweep.values):
            name = _sweep_name(spec.sweep, value)
            change: Change = SetChange(set=spec.sweep.path, value=value)
            if spec.sweep.op == "scale":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    out.append(Scenario(name, None, [FieldError(path=f"sweep.values[{k}]", message="a scale factor is a number")]))
                    continue
                change = ScaleChange(scale=spec.sweep.path, by=value)
            if name in taken:
                out.append(Scenario(f"{name} #{k}", None, [FieldError(path=f"sweep.values[{k}]", message=f"'{name}' is taken")]))
                continue
            taken.add(name)
            out.append(_scenario(name, data, [(f"sweep.values[{k}]", change)]))
    return out


def apply(data: dict[str, Any], change: Change) -> None:
    """Apply one change to problem JSON ``data`` in place; :class:`ChangeError` if it cannot."""
    if isinstance(change, SetChange):
        for container, key in _select(data, change.set, create=True):
            container[key] = copy.deepcopy(change.value)
    elif isinstance(change, ScaleChange):
        for container, key in _select(data, change.scale):
            container[key] = _scaled(container[key], change.by, change.scale)
    elif isinstance(change, AddChange):
        _add(data, change)
    else:
        _remove(data, change)


def _scenario(name: str, base: dict[str, Any], changes: list[tuple[str, Change]]) -> Scenario:
    data = copy.deepcopy(base)
    for where, change in changes:
        try:
            apply(data, change)
        except ChangeError as exc:
            return Scenario(name, None, [FieldError(path=where, message=str(exc))])
    try:
        return Scenario(name, parse_problem(data))
    except ProblemInvalid as exc:
        return Scenario(name, None, exc.errors)


def _with_settings(base: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    if not settings:
        return base
    merged = dict(base)
    merged["settings"] = {**(base.get("settings") or {}), **settings}
    return merged


def _sweep_name(sweep: Sweep, value: Any) -> str:
    shown = json.dumps(value) if not isinstance(value, str) else value
    if sweep.name is not None:
        return sweep.name.replace("{value}", shown)
    return f"{sweep.path} x{shown}" if sweep.op == "scale" else f"{sweep.path}={shown}"


_TOKEN = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)")


def _tokens(path: str) -> list[str]:
    """``trials[T01].value`` -> ["trials", "T01", "value"]."""
    out: list[str] = []
    pos = 0
    while pos < len(path):
        if path[pos] == ".":
            pos += 1
            continue
        match = _TOKEN.match(path, pos)
        if match is None:
            raise ChangeError(f"cannot read path '{path}' at '{path[pos:]}'")
        out.append(match.group(1) if match.group(1) is not None else match.group(2))
        pos = match.end()
    if not out:
        raise ChangeError("empty path")
    return out


def _children(node: Any, token: str, path: str, create: bool) -> list[tuple[Any, Any]]:
    """The (container, key) pairs ``token`` selects in ``node``."""
    if isinstance(node, dict):
        if token == "*":
            return [(node, key) for key in node]
        if token in node or create:
            return [(node, token)]
        raise ChangeError(f"'{path}': no field '{token}' (fields are: {', '.join(sorted(node)) or 'none'})")
    if isinstance(node, list):
        if token == "*":
            return [(node, i) for i in range(len(node))]
        if "=" in token:
            name, _, wanted = token.partition("=")
            return [(node, i) for i, item in enumerate(node) if isinstance(item, dict) and _text(item.get(name)) == wanted]
        by_id = [(node, i) for i, item in enumerate(node) if isinstance(item, dict) and item.get("id") == token]
        if by_id:
            return by_id
        if token.isdigit() and int(token) < len(node):
            return [(node, int(token))]
        raise ChangeError(f"'{path}': no item with id or index '{token}'")
    raise ChangeError(f"'{path}': '{token}' selects inside a {type(node).__name__}, which has no fields")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _select(data: dict[str, Any], path: str, create: bool = False) -> list[tuple[Any, Any]]:
    """Every (container, key) the path ends at; :class:`ChangeError` if it selects nothing.

    With ``create`` a missing last key of an object is selected (to be set); the fields on
    the way must exist."""
    tokens = _tokens(path)
    nodes: list[Any] = [data]
    pairs: list[tuple[Any, Any]] = []
    for depth, token in enumerate(tokens):
        last = depth == len(tokens) - 1
        pairs = [pair for node in nodes for pair in _children(node, token, path, create and last)]
        nodes = [container[key] for container, key in pairs if not last]
    if not pairs:
        raise ChangeError(f"'{path}' selects nothing")
    return pairs


def _scaled(value: Any, by: float, path: str) -> Any:
    if isinstance(value, list):
        return [_scaled(v, by, path) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ChangeError(f"'{path}': cannot scale {_text(value)}, only numbers")
    result = value * by
    return int(result) if isinstance(value, int) and float(result).is_integer() else result


def _list_at(data: dict[str, Any], path: str) -> list[Any]:
    pairs = _select(data, path)
    if len(pairs) != 1 or not isinstance(pairs[0][0][pairs[0][1]], list):
        raise ChangeError(f"'{path}' is not one list")
    container, key = pairs[0]
    return container[key]


def _add(data: dict[str, Any], change: AddChange) -> None:
    items = _list_at(data, change.add)
    added = copy.deepcopy(change.items)
    if change.like is not None:
        model = next((item for item in items if isinstance(item, dict) and item.get("id") == change.like), None)
        if model is None:
            raise ChangeError(f"'{change.add}': no item with id '{change.like}' to copy")
        prefix = change.id_prefix if change.id_prefix is not None else f"{change.like}+"
        for n in range(1, change.count + 1):
            added.append({**copy.deepcopy(model), **copy.deepcopy(change.with_), "id": f"{prefix}{n}"})
    if not added:
        raise ChangeError(f"'{change.add}': nothing to add (give items or like)")
    items.extend(added)


def _remove(data: dict[str, Any], change: RemoveChange) -> None:
    pairs = _select(data, change.remove)
    if any(not isinstance(container, list) for container, _ in pairs):
        raise ChangeError(f"'{change.remove}': removes list items only, e.g. trials[T04]")
    if change.count is not None:
        if change.count > len(pairs):
            raise ChangeError(f"'{change.remove}' selects {len(pairs)} items, fewer than the {change.count} to remove")
        pairs = pairs[-change.count :]
    for container, index in sorted(pairs, key=lambda pair: pair[1], reverse=True):
        del container[index]

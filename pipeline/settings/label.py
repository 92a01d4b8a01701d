"""The label: one definition, rendered as Python for local files and as SQL for BigQuery.

The label is either a column of the table (`label_rule` empty), typed by its task
(tasks/<name>/spec.py), or computed by a rule of the kind the task allows:
- a comparison (binary): a single comparison of arithmetic on raw numeric columns and
  numbers, for example `tips > 0.2 * fare`, or of one column with a string, `plan ==
  'premium'` (== or != only). A row is labelled 1 when the comparison holds and 0 when it
  does not; a row where it is undefined (any column it reads null, a division by zero)
  has no label, as SQL's `CASE WHEN c THEN 1 WHEN NOT (c) THEN 0 END` gives NULL there.
- arithmetic (regression): arithmetic alone, for example `tips / fare`. A row where it is
  undefined (a null column, a division by zero: SQL's NULL from SAFE_DIVIDE) has no label.
Only this small grammar is accepted so that both renderings provably mean the same thing.

A binary label column written as two strings (`Yes`/`No`) names its `positive_class`: a
row holding that value is labelled 1, any other value 0.

A row without a label (a null label column, an undefined rule) cannot be learned from or
judged, so both sources leave it out: the SQL with `WHERE ... IS NOT NULL`, the file
reader by skipping it and counting it.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.settings.values import ConfigError
from tasks import task_named

_ARITHMETIC: dict[type, tuple[str, Callable[[float, float], float]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
}
_COMPARISONS: dict[type, tuple[str, Callable[[float, float], bool]]] = {
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Eq: ("=", operator.eq),
    ast.NotEq: ("!=", operator.ne),
}


@dataclasses.dataclass(frozen=True)
class LabelRule:
    """A parsed label rule; build it with `LabelRule.parse`."""

    text: str
    _tree: ast.expr

    @classmethod
    def parse(cls, text: str, task: str = "binary") -> LabelRule:
        """Parses `text` for `task`, as its `label_rule_kind` allows: a comparison (a 0/1
        label) or arithmetic (a number)."""
        kind = task_named(task).label_rule_kind
        if not kind:
            raise ConfigError(f"label_rule {text!r}: a {task} label must be a column; set "
                              "label_name= to it and leave label_rule empty.")
        try:
            tree = ast.parse(text, mode="eval").body
        except SyntaxError as error:
            raise ConfigError(f"label_rule {text!r} is not a valid expression: {error.msg}.") \
                from error
        comparison = isinstance(tree, ast.Compare)
        if kind == "comparison" and (not comparison or len(tree.ops) != 1):
            raise ConfigError(
                f"label_rule {text!r} must be one comparison for task={task}, e.g. "
                "'tips > 0.2 * fare'."
            )
        if kind == "arithmetic" and any(isinstance(node, ast.Compare)
                                        for node in ast.walk(tree)):
            raise ConfigError(f"label_rule {text!r} must be arithmetic for task={task}, "
                              "e.g. 'tips / fare'; a comparison makes a binary label.")
        if comparison and _string_comparison(tree) is not None:
            return cls(text=text, _tree=tree)
        for node in ast.walk(tree):
            allowed = (ast.Compare, ast.BinOp, ast.Name, ast.Constant, ast.Load, ast.UnaryOp,
                       ast.USub, *_ARITHMETIC, *_COMPARISONS)
            if not isinstance(node, allowed) or (
                isinstance(node, ast.Constant)
                and (isinstance(node.value, bool) or not isinstance(node.value, (int, float))
                     or not math.isfinite(node.value))
            ):
                raise ConfigError(
                    f"label_rule {text!r}: {ast.unparse(node)!r} is not allowed; use column "
                    "names, numbers, + - * / and one of > >= < <= == !=, or compare one "
                    "column with a string (plan == 'premium')."
                )
        return cls(text=text, _tree=tree)

    @functools.cached_property
    def columns(self) -> tuple[str, ...]:
        """The raw columns the rule reads, in order of first appearance."""
        names: list[str] = []
        for node in ast.walk(self._tree):
            if isinstance(node, ast.Name) and node.id not in names:
                names.append(node.id)
        return tuple(names)

    @functools.cached_property
    def string_columns(self) -> tuple[str, ...]:
        """The column a string comparison reads as text (none for arithmetic)."""
        compared = _string_comparison(self._tree)
        return () if compared is None else (compared[0],)

    @property
    def is_comparison(self) -> bool:
        return isinstance(self._tree, ast.Compare)

    def evaluate(self, row: Mapping[str, Any]) -> int | float | None:
        """Labels one row of raw values (numbers, the string-compared column's text, or
        None): 1 or 0 for a comparison, the value for arithmetic; None where undefined."""
        if any(row.get(name) is None for name in self.columns):
            return None
        if not self.is_comparison:
            try:
                return float(_evaluate(self._tree, row))
            except ZeroDivisionError:
                return None  # SAFE_DIVIDE's NULL
        _, compare = _COMPARISONS[type(self._tree.ops[0])]
        compared = _string_comparison(self._tree)
        if compared is not None:
            column, text = compared
            return int(compare(str(row[column]), text))
        try:
            holds = compare(
                _evaluate(self._tree.left, row), _evaluate(self._tree.comparators[0], row)
            )
        except ZeroDivisionError:
            return None  # SAFE_DIVIDE's NULL: the comparison is undefined
        return int(holds)

    def to_sql(self) -> str:
        """The rule as a BigQuery expression: INT64 1 or 0 for a comparison, FLOAT64 for
        arithmetic; NULL where undefined."""
        if not self.is_comparison:
            return f"CAST({_sql(self._tree)} AS FLOAT64)"
        symbol, _ = _COMPARISONS[type(self._tree.ops[0])]
        compared = _string_comparison(self._tree)
        if compared is not None:
            column, text = compared
            comparison = f"CAST({column} AS STRING) {symbol} {sql_string(text)}"
        else:
            comparison = (
                f"{_sql(self._tree.left)} {symbol} {_sql(self._tree.comparators[0])}"
            )
        return f"CASE WHEN {comparison} THEN 1 WHEN NOT ({comparison}) THEN 0 END"


def _string_comparison(tree: ast.expr) -> tuple[str, str] | None:
    """(column, text) when `tree` is `column == 'text'` or `!=` (either side first)."""
    if not (isinstance(tree, ast.Compare) and len(tree.ops) == 1
            and isinstance(tree.ops[0], (ast.Eq, ast.NotEq))):
        return None
    left, right = tree.left, tree.comparators[0]
    for name, constant in ((left, right), (right, left)):
        if (isinstance(name, ast.Name) and isinstance(constant, ast.Constant)
                and isinstance(constant.value, str)):
            return name.id, constant.value
    return None


def sql_string(text: str) -> str:
    """`text` as a BigQuery string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _evaluate(node: ast.expr, row: Mapping[str, Any]) -> float:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return float(row[node.id])
    if isinstance(node, ast.UnaryOp):
        return -_evaluate(node.operand, row)
    assert isinstance(node, ast.BinOp)
    _, apply = _ARITHMETIC[type(node.op)]
    return apply(_evaluate(node.left, row), _evaluate(node.right, row))


def _sql(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return repr(node.value)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.UnaryOp):
        return f"(-{_sql(node.operand)})"
    assert isinstance(node, ast.BinOp)
    symbol, _ = _ARITHMETIC[type(node.op)]
    if symbol == "/":
        return f"SAFE_DIVIDE({_sql(node.left)}, {_sql(node.right)})"
    return f"({_sql(node.left)} {symbol} {_sql(node.right)})"


@dataclasses.dataclass(frozen=True)
class Label:
    """The label of a task: a column of the table, or a rule over numeric columns."""

    name: str
    task: str
    rule: LabelRule | None
    # A label column written as strings: the value that means 1 (any other means 0).
    positive_class: str = ""

    @classmethod
    def from_settings(cls, name: str, rule: str, task: str, positive_class: str = ""
                      ) -> Label:
        return cls(name, task, LabelRule.parse(rule, task) if rule else None,
                   positive_class)

    @property
    def columns(self) -> tuple[str, ...]:
        """The raw columns the label is read or computed from."""
        return self.rule.columns if self.rule else (self.name,)

    def value(self, row: Mapping[str, Any], numbers: Mapping[str, float | None], where: str
              ) -> int | float | str | None:
        """The label of one raw row (`numbers`: its numeric columns, parsed), as its task
        types it (`parse_label`: 0/1, a class name, a number); None for a row without one.
        InputDataError naming `where` and the column for a value of the wrong kind."""
        if self.rule:
            if self.rule.string_columns:
                numbers = {**numbers, **{name: row.get(name)
                                         for name in self.rule.string_columns}}
            return self.rule.evaluate(numbers)
        value = row.get(self.name)
        if value is None or value == "":
            return None
        if self.positive_class:
            return int(_text(value) == self.positive_class)
        return task_named(self.task).parse_label(value, self.name, where)

    def to_sql(self, source: str) -> str:
        """The label as a BigQuery expression (NULL where the row has none); `source` is
        the column's SQL source."""
        if self.rule:
            return self.rule.to_sql()
        if self.positive_class:
            comparison = f"CAST({source} AS STRING) = {sql_string(self.positive_class)}"
            return f"CASE WHEN {comparison} THEN 1 WHEN NOT ({comparison}) THEN 0 END"
        return f"CAST({source} AS {task_named(self.task).label_sql_type})"


def _text(value: Any) -> str:
    """A raw label value as text, as BigQuery's CAST(... AS STRING) writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


"""The label rule: one definition, rendered as Python for local files and as SQL for BigQuery.

A rule is a single comparison of arithmetic on raw columns and numbers, for example
`tips > 0.2 * fare`. A row whose referenced columns are all present is labelled 1 when the
comparison holds and 0 otherwise; a row with any of them null is labelled 0, which is what
BigQuery's `IF(<comparison>, 1, 0)` gives for a NULL comparison. Only this small grammar
is accepted so that both renderings provably mean the same thing.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.values import ConfigError

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
    _tree: ast.Compare

    @classmethod
    def parse(cls, text: str) -> LabelRule:
        try:
            tree = ast.parse(text, mode="eval").body
        except SyntaxError as error:
            raise ConfigError(f"label_rule {text!r} is not a valid expression: {error.msg}.") \
                from error
        if not isinstance(tree, ast.Compare) or len(tree.ops) != 1:
            raise ConfigError(
                f"label_rule {text!r} must be one comparison, e.g. 'tips > 0.2 * fare'."
            )
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
                    "names, numbers, + - * / and one of > >= < <= == !=."
                )
        return cls(text=text, _tree=tree)

    @property
    def columns(self) -> tuple[str, ...]:
        """The raw columns the rule reads, in order of first appearance."""
        names: list[str] = []
        for node in ast.walk(self._tree):
            if isinstance(node, ast.Name) and node.id not in names:
                names.append(node.id)
        return tuple(names)

    def evaluate(self, row: Mapping[str, Any]) -> int:
        """Labels one row of raw values (numbers or None)."""
        if any(row.get(name) is None for name in self.columns):
            return 0
        _, compare = _COMPARISONS[type(self._tree.ops[0])]
        try:
            holds = compare(
                _evaluate(self._tree.left, row), _evaluate(self._tree.comparators[0], row)
            )
        except ZeroDivisionError:
            return 0  # BigQuery's IEEE division gives NULL via SAFE_DIVIDE; we render it so.
        return int(holds)

    def to_sql(self) -> str:
        """The rule as a BigQuery expression yielding INT64 1 or 0."""
        symbol, _ = _COMPARISONS[type(self._tree.ops[0])]
        comparison = (
            f"{_sql(self._tree.left)} {symbol} {_sql(self._tree.comparators[0])}"
        )
        return f"IF({comparison}, 1, 0)"


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

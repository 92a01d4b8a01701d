"""The label rule means the same in Python and in SQL."""

from __future__ import annotations

import pytest

from pipeline.label import LabelRule
from pipeline.values import ConfigError


def test_big_tipper_rule() -> None:
    rule = LabelRule.parse("tips > 0.2 * fare")
    assert rule.columns == ("tips", "fare")
    assert rule.evaluate({"tips": 3.0, "fare": 10.0}) == 1
    assert rule.evaluate({"tips": 2.0, "fare": 10.0}) == 0  # exactly 20% is not above
    assert rule.evaluate({"tips": 0.0, "fare": 0.0}) == 0
    assert rule.to_sql() == "IF(tips > (0.2 * fare), 1, 0)"


def test_null_columns_give_zero_like_sql() -> None:
    rule = LabelRule.parse("tips > 0.2 * fare")
    assert rule.evaluate({"tips": None, "fare": 10.0}) == 0
    assert rule.evaluate({"tips": 5.0}) == 0


def test_division_renders_as_safe_divide() -> None:
    rule = LabelRule.parse("tips / fare >= 0.2")
    assert rule.to_sql() == "IF(SAFE_DIVIDE(tips, fare) >= 0.2, 1, 0)"
    assert rule.evaluate({"tips": 1.0, "fare": 0.0}) == 0
    assert rule.evaluate({"tips": 1.0, "fare": 5.0}) == 1


@pytest.mark.parametrize("text", ["tips", "tips > fare > 1", "__import__('os') > 1",
                                  "tips > 'a'", "tips ** 2 > 1", "tips > 1 and fare > 1"])
def test_rules_outside_the_grammar_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="label_rule"):
        LabelRule.parse(text)

"""The label rule means the same in Python and in SQL."""

from __future__ import annotations

import pytest

from pipeline.settings.label import Label, LabelRule
from pipeline.settings.values import ConfigError, InputDataError


def test_big_tipper_rule() -> None:
    rule = LabelRule.parse("tips > 0.2 * fare")
    assert rule.columns == ("tips", "fare")
    assert rule.evaluate({"tips": 3.0, "fare": 10.0}) == 1
    assert rule.evaluate({"tips": 2.0, "fare": 10.0}) == 0  # exactly 20% is not above
    assert rule.evaluate({"tips": 0.0, "fare": 0.0}) == 0
    # NULL where the comparison is: a row the rule cannot label is left out.
    assert rule.to_sql() == ("CASE WHEN tips > (0.2 * fare) THEN 1 "
                             "WHEN NOT (tips > (0.2 * fare)) THEN 0 END")


def test_a_comparison_over_a_missing_value_gives_no_label_like_sql() -> None:
    rule = LabelRule.parse("tips > 0.2 * fare")
    assert rule.evaluate({"tips": None, "fare": 10.0}) is None
    assert rule.evaluate({"tips": 5.0}) is None


def test_division_renders_as_safe_divide() -> None:
    rule = LabelRule.parse("tips / fare >= 0.2")
    assert rule.to_sql() == ("CASE WHEN SAFE_DIVIDE(tips, fare) >= 0.2 THEN 1 "
                             "WHEN NOT (SAFE_DIVIDE(tips, fare) >= 0.2) THEN 0 END")
    assert rule.evaluate({"tips": 1.0, "fare": 0.0}) is None  # SAFE_DIVIDE's NULL
    assert rule.evaluate({"tips": 1.0, "fare": 5.0}) == 1


def test_a_string_comparison_labels_by_equality_in_python_and_sql() -> None:
    rule = LabelRule.parse("plan == 'premium'")
    assert rule.columns == ("plan",) and rule.string_columns == ("plan",)
    assert rule.evaluate({"plan": "premium"}) == 1
    assert rule.evaluate({"plan": "basic"}) == 0
    assert rule.evaluate({"plan": None}) is None
    assert LabelRule.parse("\"it's\" != plan").evaluate({"plan": "it's"}) == 0
    assert rule.to_sql() == ("CASE WHEN CAST(plan AS STRING) = 'premium' THEN 1 "
                             "WHEN NOT (CAST(plan AS STRING) = 'premium') THEN 0 END")
    assert "'it\\'s'" in LabelRule.parse("plan == \"it's\"").to_sql()


def test_a_positive_class_turns_two_strings_into_one_and_zero() -> None:
    label = Label.from_settings("churn", "", "binary", positive_class="Yes")
    assert [label.value({"churn": value}, {}, "f:1") for value in ("Yes", "No", "", None)] \
        == [1, 0, None, None]
    assert label.to_sql("churn") == ("CASE WHEN CAST(churn AS STRING) = 'Yes' THEN 1 "
                                     "WHEN NOT (CAST(churn AS STRING) = 'Yes') THEN 0 END")


@pytest.mark.parametrize("text", ["tips", "tips > fare > 1", "__import__('os') > 1",
                                  "tips > 'a'", "tips ** 2 > 1", "tips > 1 and fare > 1"])
def test_rules_outside_the_grammar_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="label_rule"):
        LabelRule.parse(text)


def test_a_regression_rule_is_arithmetic_and_undefined_where_sql_gives_null() -> None:
    rule = LabelRule.parse("tips / fare", "regression")
    assert rule.evaluate({"tips": 2.0, "fare": 8.0}) == 0.25
    assert rule.evaluate({"tips": 1.0, "fare": 0.0}) is None  # SAFE_DIVIDE's NULL
    assert rule.evaluate({"tips": None, "fare": 8.0}) is None
    assert rule.to_sql() == "CAST(SAFE_DIVIDE(tips, fare) AS FLOAT64)"


@pytest.mark.parametrize("task, text, message", [
    ("regression", "tips > fare", "must be arithmetic for task=regression"),
    ("binary", "tips / fare", "must be one comparison for task=binary"),
    ("multiclass", "tips + 1", "a multiclass label must be a column"),
])
def test_a_rule_must_fit_the_task(task: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LabelRule.parse(text, task)


def test_label_columns_are_typed_by_task_and_name_the_line_and_column() -> None:
    where = "data.jsonl:7"
    species = Label.from_settings("species", "", "multiclass")
    assert species.value({"species": "Gentoo"}, {}, where) == "Gentoo"
    assert species.value({"species": 2.0}, {}, where) == "2"  # as BigQuery's CAST gives
    assert species.value({"species": None}, {}, where) is None  # left out, not guessed
    assert species.to_sql("species") == "CAST(species AS STRING)"
    price = Label.from_settings("price", "", "regression")
    assert price.value({"price": "12.5"}, {}, where) == 12.5
    with pytest.raises(InputDataError, match="data.jsonl:7: label column 'price' should be a "
                                             "number for task=regression, got 'cheap'"):
        price.value({"price": "cheap"}, {}, where)
    clicked = Label.from_settings("clicked", "", "binary")
    assert clicked.value({"clicked": True}, {}, where) == 1
    with pytest.raises(InputDataError, match="'clicked' should be 0 or 1"):
        clicked.value({"clicked": 3}, {}, where)

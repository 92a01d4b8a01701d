"""The leaf everything stands on: the errors a user can cause, and value parsing.

It imports nothing from this repository, so the settings (`config.py`), the label rule,
the search space and the BigQuery query can all raise `ConfigError` and parse values
without importing each other, and the local runner can recognise a data error from a
component without importing the component (and TFX with it).
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

# The value of a setting declared `int | str` or `float | str`: the Trainer chooses it.
AUTO = "auto"


class ConfigError(ValueError):
    """A setting a user gave is unknown, of the wrong type or out of range."""


class InputDataError(ValueError):
    """A row of an input file cannot be turned into an example; the message says where."""


class DataAnomaliesError(RuntimeError):
    """The data broke the schema or drifted; the message lists each problem by split and
    feature."""


def auto_number_type(hint: Any) -> Any:
    """The number type of a setting that may also be `auto` (`int | str`), else None."""
    if isinstance(hint, types.UnionType):
        numbers = [member for member in typing.get_args(hint) if member is not str]
        if len(numbers) == 1 and str in typing.get_args(hint):
            return numbers[0]
    return None


def describe_type(hint: Any) -> str:
    """How a type hint reads in an error message: "int", "a list of int", ..."""
    if auto_number_type(hint) is not None:
        return f"{auto_number_type(hint).__name__} or {AUTO}"
    origin = typing.get_origin(hint)
    if origin is tuple:
        return f"a list of {typing.get_args(hint)[0].__name__}"
    if origin is dict:
        return f"a mapping of str to {typing.get_args(hint)[1].__name__}"
    return hint.__name__


def coerce(hint: Any, value: Any, where: str) -> Any:
    """`value` (from YAML, JSON or a string) converted to type `hint` (a scalar, a tuple of
    scalars or a dict of str to scalar); `where` names the setting in the error."""
    problem = f"{where}={value!r} is not {describe_type(hint)}"
    number = auto_number_type(hint)
    if number is not None:
        if isinstance(value, str) and value.strip().lower() == AUTO:
            return AUTO
        if isinstance(value, str):
            value = _parse_string(value, number, problem)
        return _scalar(value, number, problem)
    origin = typing.get_origin(hint)
    if isinstance(value, str) and hint is not str:
        value = _parse_string(value, hint, problem)
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = (value,)  # --hidden_units=64 means a list of one
        if not isinstance(value, (list, tuple)):
            raise ConfigError(problem + ".")
        return tuple(_scalar(item, item_type, problem) for item in value)
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ConfigError(problem + ".")
        value_type = typing.get_args(hint)[1]
        return {k: _scalar(v, value_type, problem) for k, v in value.items()}
    return _scalar(value, hint, problem)


def _scalar(value: Any, hint: Any, problem: str) -> Any:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(problem.replace(" is not ", " is not a finite ") + ".")
    if isinstance(value, str) and hint is not str:
        value = _parse_string(value, hint, problem)
    if type(value) is not hint:  # noqa: E721 - bool must not pass as int
        raise ConfigError(problem + ".")
    return value


def _parse_string(text: str, hint: Any, problem: str) -> Any:
    """Parses a command-line or environment value: JSON, or a comma-separated list."""
    origin = typing.get_origin(hint)
    stripped = text.strip()
    if hint is bool:
        if stripped.lower() in ("true", "1", "yes"):
            return True
        if stripped.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(problem + " (use true or false).")
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        pass
    else:
        # A pushed version or a column named by digits stays text; one item of a list is a
        # list of one (--ab_models=1796198253).
        if hint is str:
            return value if isinstance(value, str) else text
        if origin is not tuple or isinstance(value, list):
            return value
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        items = [item.strip() for item in stripped.split(",") if item.strip()]
        return tuple(_parse_string(item, item_type, problem) if item_type is not str else item
                     for item in items)
    if origin is dict and not stripped:
        return {}  # --drift_thresholds= : none
    if origin is dict and ":" in stripped:
        # --blessing_thresholds=auc:0.8,accuracy:0.7 (JSON works too).
        value_type = typing.get_args(hint)[1]
        pairs = [item.partition(":") for item in stripped.split(",") if item.strip()]
        if any(not key.strip() or not separator for key, separator, _ in pairs):
            raise ConfigError(problem + " (use key:value,key:value or JSON).")
        return {key.strip(): value.strip() if value_type is str
                else _parse_string(value, value_type, problem) for key, _, value in pairs}
    if hint in (int, float):
        raise ConfigError(problem + ".")
    return text


def one_of(key: str, value: str, allowed: Iterable[str]) -> None:
    """Refuses `value` for setting `key` unless it is one of `allowed`."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of: {', '.join(allowed)}.")


def parse_flags(argv: Iterable[str]) -> dict[str, str]:
    """Parses `--key=value` flags (also `--key value`); anything else is an error."""
    flags: dict[str, str] = {}
    arguments = list(argv)
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if not argument.startswith("--") or argument == "--":
            raise ConfigError(
                f"Unexpected argument {argument!r}; settings are given as --key=value.")
        key, equals, value = argument[2:].partition("=")
        if not equals:
            if index + 1 >= len(arguments):
                raise ConfigError(f"Flag --{key} needs a value: --{key}=VALUE.")
            index += 1
            value = arguments[index]
        flags[key.replace("-", "_")] = value
        index += 1
    return flags

"""The hyperparameter search space, declared as flat configuration.

`search_space` maps a training setting to what the search may try:
- `"low..high"`: a range, of integers when the setting is an integer, else of floats;
  add `" log"` to sample on a log scale (learning rates);
- `"a | b | c"`: choices, each a value the setting accepts (`"64,32 | 128,64"` for a list).

Parsed here without TensorFlow or keras-tuner, so a bad space fails at configuration time,
naming the setting; `models/tuning.py` turns the dimensions into keras-tuner declarations.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping

from models.registry import architecture_names
from pipeline.settings import TYPE_HINTS, coerce_setting, searchable_settings
from pipeline.settings.values import ConfigError, auto_number_type


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched setting: `choices` (as keras-tuner values), or a `low`..`high` range."""

    name: str
    choices: tuple[str | int | float, ...] = ()
    low: float = 0.0
    high: float = 0.0
    integer: bool = False
    log: bool = False


def parse_search_space(space: Mapping[str, str]) -> tuple[Dimension, ...]:
    """The dimensions of `space`; raises ConfigError naming the first bad entry."""
    searchable = searchable_settings()
    dimensions = []
    for name, text in space.items():
        where = f"search_space: {name}={text!r}"
        if name not in searchable:
            raise ConfigError(f"search_space: {name!r} cannot be searched; searchable "
                              f"settings: {', '.join(searchable)}.")
        hint = auto_number_type(TYPE_HINTS[name]) or TYPE_HINTS[name]  # int | auto: int
        if "|" in text:
            options = [option.strip() for option in text.split("|")]
            if len(options) < 2 or not all(options):
                raise ConfigError(f"{where}: choices are separated by '|', e.g. 'a | b'.")
            for option in options:
                coerce_setting(name, option, where)  # refuses a value the setting cannot take
            if name == "architecture":
                unknown = [option for option in options if option not in architecture_names()]
                if unknown:
                    raise ConfigError(f"{where}: {unknown[0]!r} is not a registered "
                                      f"architecture ({', '.join(architecture_names())}).")
            # Lists stay text ("64,32"): keras-tuner's choices must be plain values.
            values = tuple(options if typing.get_origin(hint) is tuple or hint is str
                           else (coerce_setting(name, option, where) for option in options))
            dimensions.append(Dimension(name, choices=values))
            continue
        bounds, _, scale = text.partition(" ")
        low_text, separator, high_text = bounds.partition("..")
        if not separator or hint not in (int, float) or scale.strip() not in ("", "log"):
            raise ConfigError(f"{where}: give a range 'low..high' (optionally ' log') for a "
                              "number, or choices 'a | b'.")
        low, high = coerce_setting(name, low_text, where), coerce_setting(name, high_text, where)
        if not low < high or (scale.strip() == "log" and low <= 0):
            raise ConfigError(f"{where}: the range needs low < high (and low > 0 for log).")
        dimensions.append(Dimension(name, low=low, high=high, integer=hint is int,
                                    log=scale.strip() == "log"))
    return tuple(dimensions)

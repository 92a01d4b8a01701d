"""The machinery over the declarations (pipeline/settings/declarations.py): which settings
each step reads, typing a value for a setting, layering overrides, and the typed per-step
views (`settings_view`) every component receives as its settings and types back on its
side."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pipeline.settings.declarations import (
    FIELDS,
    RETIRED_SETTINGS,
    TYPE_HINTS,
    PipelineConfig,
    Step,
)
from pipeline.settings.values import ConfigError, coerce


def setting_names(*steps: Step) -> frozenset[str]:
    """The settings any of `steps` reads."""
    return frozenset(name for name, field in FIELDS.items()
                     if field.metadata["read_by"] & set(steps))


def settings_read_only_by(steps: Iterable[Step]) -> frozenset[str]:
    """The settings that no step outside `steps` reads."""
    allowed = frozenset(steps)
    return frozenset(name for name, field in FIELDS.items()
                     if field.metadata["read_by"] <= allowed)


def searchable_settings() -> tuple[str, ...]:
    """The settings `search_space` may try values for, in declaration order."""
    return tuple(name for name, field in FIELDS.items() if field.metadata["searchable"])


def coerce_setting(key: str, value: Any, source: str) -> Any:
    """`value` converted to the type of setting `key`; ConfigError for an unknown key or a
    value of the wrong type, naming `source` and the key."""
    if key in RETIRED_SETTINGS:
        raise ConfigError(f"{source}: {key!r} is no longer a setting; use "
                          f"{RETIRED_SETTINGS[key]}.")
    if key not in FIELDS:
        close = difflib.get_close_matches(key, FIELDS, n=1)
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{source}: unknown setting {key!r}.{suggestion} Known settings: "
            f"{', '.join(sorted(FIELDS))}."
        )
    return coerce(TYPE_HINTS[key], value, f"{source}: {key}")


def config_from_dict(values: Mapping[str, Any], source: str = "dict") -> PipelineConfig:
    """Rebuilds a config from `PipelineConfig.to_dict()` output, validating every key."""
    return apply_overrides(PipelineConfig(), values, source)


def apply_overrides(config: PipelineConfig, overrides: Mapping[str, Any], source: str
                    ) -> PipelineConfig:
    """`config` with `overrides` (key -> value of any accepted spelling) applied."""
    coerced = {key: coerce_setting(key, value, source) for key, value in overrides.items()}
    return dataclasses.replace(config, **coerced)


# ---------------------------------------------------------------------- per-step views
SettingsView = TypeVar("SettingsView", bound="StepSettings")


class StepSettings:
    """Base of the typed views made by `settings_view`: exactly the settings some steps
    read, frozen. Reading a setting the view lacks raises AttributeError at once, so a
    step cannot silently fall back to a default."""

    @classmethod
    def from_config(cls: type[SettingsView], config: Any) -> SettingsView:
        """The view of `config` (a PipelineConfig, or a wider view)."""
        return cls(**{field.name: getattr(config, field.name)
                      for field in dataclasses.fields(cls)})

    @classmethod
    def from_dict(cls: type[SettingsView], values: Mapping[str, Any], source: str
                  ) -> SettingsView:
        """The view of a JSON-ready dict (a component's custom_config), every key typed;
        ConfigError when a key is missing or not one of the view's settings."""
        names = [field.name for field in dataclasses.fields(cls)]
        missing = [name for name in names if name not in values]
        unknown = [key for key in values if key not in names]
        if missing or unknown:
            raise ConfigError(f"{source}: {cls.__name__} "
                              + (f"lacks {', '.join(missing)}" if missing else "")
                              + ("; " if missing and unknown else "")
                              + (f"has settings it does not read: {', '.join(unknown)}"
                                 if unknown else "") + ".")
        return cls(**{key: coerce_setting(key, values[key], source) for key in names})

    def replace(self: SettingsView, values: Mapping[str, Any], source: str) -> SettingsView:
        """A copy with `values` (any accepted spelling) in place; ConfigError for a
        setting the view does not read."""
        names = {field.name for field in dataclasses.fields(self)}  # type: ignore[arg-type]
        foreign = [key for key in values if key not in names]
        if foreign:
            raise ConfigError(f"{source}: {type(self).__name__} does not read "
                              f"{', '.join(foreign)}.")
        return dataclasses.replace(self, **{  # type: ignore[type-var]
            key: coerce_setting(key, value, source) for key, value in values.items()})

    def narrowed(self, view: type[SettingsView]) -> SettingsView:
        """The settings of `view` (another view, reading fewer steps) taken from this one;
        ConfigError when this view lacks one of them."""
        values = self.to_dict()
        return view.from_dict({field.name: values.get(field.name, None)
                               for field in dataclasses.fields(view)  # type: ignore[arg-type]
                               if field.name in values}, type(self).__name__)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))  # type: ignore[call-overload]


def settings_view(name: str, *steps: Step) -> type[StepSettings]:
    """A frozen dataclass holding exactly the settings any of `steps` reads, with their
    declared types and no defaults (a value that was not sent is an error, not a default)."""
    names = setting_names(*steps)
    fields = [(field_name, TYPE_HINTS[field_name]) for field_name in FIELDS if field_name in names]
    view = dataclasses.make_dataclass(name, fields, bases=(StepSettings,), frozen=True)
    view.__module__ = __name__
    view.__doc__ = f"The settings read by {', '.join(step.value for step in steps)}."
    return view


# What each process-boundary step receives as its custom_config, typed on the other side.
IngestionSettings = settings_view("IngestionSettings", Step.EXAMPLE_GEN)
# The ExampleGen of a table to score also copies the key and pass-through columns.
ScoringIngestionSettings = settings_view("ScoringIngestionSettings", Step.EXAMPLE_GEN,
                                         Step.SCORING)
DataCheckSettings = settings_view("DataCheckSettings", Step.DATA_CHECKS)
TransformSettings = settings_view("TransformSettings", Step.TRANSFORM)
TrainingSettings = settings_view("TrainingSettings", Step.TRAINER)
# A search trial builds and trains the Trainer's model, so the Tuner reads both.
TunerSettings = settings_view("TunerSettings", Step.TRAINER, Step.TUNER)
EvaluatorSettings = settings_view("EvaluatorSettings", Step.EVALUATOR)
ModelReportSettings = settings_view("ModelReportSettings", Step.REPORT)
SandboxSettings = settings_view("SandboxSettings", Step.SANDBOX)
ScoringSettings = settings_view("ScoringSettings", Step.SCORING)
# Continuous evaluation: its own settings, and the Evaluator's (task, slices, metrics).
MonitoringSettings = settings_view("MonitoringSettings", Step.MONITORING, Step.EVALUATOR)

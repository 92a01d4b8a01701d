"""The Beam runner a step's `beam_pipeline_args` name, for the executors that do a
step's work in their own process on a local runner (ExampleGen's streaming writer, the
Evaluator on arrays, Transform's materialization) and leave a distributed runner's table,
one the user has judged too big for one machine, to TFX's Beam pipeline."""

from __future__ import annotations

from collections.abc import Iterable

# Beam's direct runner, by the names `--runner` accepts for it (Beam's default).
LOCAL_RUNNERS = ("DirectRunner", "direct")


def runner_of(beam_pipeline_args: Iterable[str]) -> str:
    """The runner `--runner=` names; Beam's default, the direct runner, when none does."""
    return next((argument.split("=", 1)[1] for argument in beam_pipeline_args
                 if argument.startswith("--runner=")), LOCAL_RUNNERS[0])


def runs_locally(beam_pipeline_args: Iterable[str]) -> bool:
    """Whether the step's Beam pipeline would run on the direct runner, in this machine."""
    return runner_of(beam_pipeline_args) in LOCAL_RUNNERS

"""Running a pipeline on this machine: Beam settings, the output-root lock, the run itself.

Shared by `local_runner.py`, the end-to-end tests and the benchmark, so all three run the
pipeline exactly the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import json
import logging
import os
import socket
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration.local.local_dag_runner import LocalDagRunner

from pipeline.definition import create_pipeline
from pipeline.kinds import TRAINING, PipelineKind, TrainAll
from pipeline.metadata.run_record import RunRecord, attach_run_record, now, start_run_record
from pipeline.metadata.store import (
    MetadataStoreError,
    connection_config,
    latest_run_context,
    open_store,
)
from pipeline.orchestration.layout import LocalLayout
from pipeline.orchestration.preflight import trained_models_layout
from pipeline.orchestration.progress import reporting_progress
from pipeline.settings import PipelineConfig
from pipeline.settings.loading import dataset_config
from pipeline.settings.values import ConfigError, DataAnomaliesError, InputDataError
from pipeline.targets import Target, local_target


def beam_pipeline_args(config: PipelineConfig) -> list[str]:
    """Direct-runner settings. In memory is the default: on 2 cores each multi-processing
    worker starts its own TensorFlow, which costs more than it parallelises.

    In-memory with one worker is Beam's own default, so no arguments are passed at all:
    given any, each TFX Beam component builds an sdist of TFX for remote workers (about
    2 s each) that a local run never uses.
    """
    if (config.beam_direct_running_mode, config.beam_direct_num_workers) == ("in_memory", 1):
        return []
    return [
        f"--direct_running_mode={config.beam_direct_running_mode}",
        f"--direct_num_workers={config.beam_direct_num_workers}",
    ]


@dataclasses.dataclass
class LocalRunResult:
    succeeded: bool
    run_directory: Path | None  # None: the run never started (another run held the root)
    log_path: Path | None
    failure: str | None = None  # the user-facing reason, when the run failed


def failure_reason(error: BaseException) -> str:
    """The one line a user needs: our own data/config errors verbatim, else the last line."""
    def without_beam_suffix(text: str) -> str:
        # Beam re-raises errors from a DoFn with " [while running 'Step']" appended.
        return text.split(" [while running", 1)[0].strip()

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (InputDataError, DataAnomaliesError)):
            return without_beam_suffix(str(current))
        current = current.__cause__ or current.__context__
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    for marker in ("InputDataError: ", "DataAnomaliesError: "):
        if marker in text:
            return without_beam_suffix(text.split(marker, 1)[1])
    return text.splitlines()[-1] if text else type(error).__name__


class OutputRootBusyError(RuntimeError):
    """Another run holds the output root (its store, artifacts and serving directory)."""


def _lock_holder(handle: Any, wait_s: float = 2.0) -> str:
    """The holder's line in the lock file. The holder writes it just after it takes the
    lock, so a run that starts in that instant finds the file empty: it reads again for
    up to `wait_s` before it settles for "another process"."""
    deadline = time.monotonic() + wait_s
    while True:
        handle.seek(0)
        holder = handle.read().strip()
        if holder or time.monotonic() > deadline:
            return holder or "another process"
        time.sleep(0.02)


@contextlib.contextmanager
def exclusive_output_root(layout: LocalLayout) -> Iterator[None]:
    """Holds an exclusive lock on `layout.root` for one run, or raises OutputRootBusyError.

    Two runs on one store and serving directory would race on both; the second one stops
    at once with a message naming the first. The lock is the kernel's (flock), so a run
    that is killed releases it with its process.
    """
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.root / ".run.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(handle)
            raise OutputRootBusyError(
                f"Another run is using {layout.root} ({holder}); wait for it to finish or "
                "pass another --output_root.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started "
                     f"{datetime.datetime.now():%Y-%m-%d %H:%M:%S}\n")
        handle.flush()
        yield


def run_local_pipeline(config: PipelineConfig, kind: PipelineKind = TRAINING
                       ) -> LocalRunResult:
    """Runs the pipeline of `kind` (the production pipeline by default) with LocalDagRunner
    and a SQLite ML Metadata store under `config.output_root`; the start block and the
    progress lines go to standard output."""
    layout = LocalLayout.for_config(config)
    try:
        with exclusive_output_root(layout):
            return _run_holding_the_lock(config, layout, kind)
    except OutputRootBusyError as error:
        return LocalRunResult(False, None, None, str(error))


def run_local_train_all(config: PipelineConfig, model_variants: Mapping[str, PipelineConfig]
                        ) -> LocalRunResult:
    """Runs the train-all pipeline: `config`'s data steps once, then every model variant
    (name -> config), in the same store."""
    return run_local_pipeline(config, TrainAll(dict(model_variants)))


def trained_models_store(config: PipelineConfig, read_only: bool = True) -> Any:
    """The ML Metadata store `config`'s runs wrote, for a step that needs a trained model
    (scoring, continuous evaluation); ConfigError naming the store when there is none."""
    return open_store(trained_models_layout(config).metadata_target, read_only=read_only)


def run_connection(layout: LocalLayout) -> metadata_store_pb2.ConnectionConfig:
    """The store a run writes: this root's SQLite file, or a team's shared MySQL store
    (`metadata_connection=mysql://USER@HOST:PORT/DB`, password in MLMD_MYSQL_PASSWORD)."""
    try:
        connection = connection_config(layout.metadata_target, read_only=False)
    except MetadataStoreError as error:
        raise ConfigError(str(error)) from None
    if not isinstance(connection, metadata_store_pb2.ConnectionConfig):
        raise ConfigError(f"metadata_connection={layout.metadata_connection!r}: a run writes "
                          "to a SQLite file (the default) or mysql://USER@HOST:PORT/DB; "
                          "grpc:// stores are for reading (lineage.py)")
    return connection


def target_of(config: PipelineConfig, layout: LocalLayout) -> Target:
    """This machine, as `config` and `layout` place a run."""
    return local_target(
        pipeline_root=str(layout.pipeline_root),
        serving_directory=str(layout.serving_directory),
        metadata_connection_config=run_connection(layout),
        beam_pipeline_args=tuple(beam_pipeline_args(config)),
        # A moving BigQuery window ends today, so each day's run reads (and caches) its own
        # rows.
        window_end=datetime.datetime.now(datetime.timezone.utc).date())


def start_block(config: PipelineConfig, config_path: Path) -> str:
    """What a run prints before it starts: the settings that differ from its dataset's
    (the defaults and datasets/<dataset>.yaml; the full configuration is in
    `config_path`)."""
    changed = config.differences(dataset_config(config.dataset))
    lines = [f"Variant {config.variant!r}, output under {config.output_root}; dataset "
             f"{config.dataset!r}; settings "
             + ("that differ from the dataset's:" if changed else "all as the dataset sets them.")]
    lines += [f"  {key} = {json.dumps(value)}" for key, value in sorted(changed.items())
              if key != "variant"]
    lines.append(f"Full configuration: {config_path}")
    return "\n".join(lines)


def _run_holding_the_lock(config: PipelineConfig, layout: LocalLayout, kind: PipelineKind
                          ) -> LocalRunResult:
    """Runs `kind`'s pipeline with a run record (of the table to score, for a kind that
    scores rows) and progress lines."""
    run_directory = layout.runs_directory / datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    run_directory.mkdir(parents=True, exist_ok=True)
    config_path = run_directory / "config.json"
    config_path.write_text(config.to_json() + "\n")
    print(start_block(config, config_path) + "\n", flush=True)
    log_path = run_directory / "pipeline.log"
    record = start_run_record(config, kind=kind)
    started = time.time()

    pipeline = create_pipeline(config, target_of(config, layout), kind)
    component_ids = [component.id for component in pipeline.components]
    with reporting_progress(component_ids, str(log_path)) as progress:
        try:
            LocalDagRunner().run(pipeline)
        except Exception as error:  # noqa: BLE001 - reported to the user, then re-judged
            progress.fail_current()
            logging.getLogger(__name__).exception("Pipeline run failed")
            result = LocalRunResult(False, run_directory, log_path, failure_reason(error))
        else:
            result = LocalRunResult(True, run_directory, log_path)
    record.ended_at = now()
    record.status = "succeeded" if result.succeeded else "failed"
    _record_run(layout, pipeline.pipeline_info.pipeline_name, record, started, run_directory)
    return result


def _record_run(layout: LocalLayout, pipeline_name: str, record: RunRecord,
                started: float, run_directory: Path) -> None:
    """Attaches the run record to this run's context in ML Metadata (and saves a copy in
    the run directory). A run that failed before any component started has no context."""
    (run_directory / "run_record.json").write_text(
        json.dumps(dataclasses.asdict(record), indent=2, sort_keys=True) + "\n")
    if not layout.has_metadata:
        return
    store = open_store(layout.metadata_target, read_only=False)
    run = latest_run_context(store, pipeline_name)
    if run is not None and run.create_time_since_epoch >= (started - 1) * 1000:
        attach_run_record(store, run.id, record)

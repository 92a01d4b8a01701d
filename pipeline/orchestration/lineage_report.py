"""The subcommands of `lineage.py`: each returns data (for --json) and text (for a person)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation.results import task_of_metrics
from pipeline.metadata import lineage
from pipeline.metadata.lineage import LineageError, Run
from pipeline.metadata.run_record import LOCK_FILE, code_version, data_fingerprint, file_sha256
from pipeline.metadata.store import describe_sandbox
from pipeline.metadata.vertex_lineage import render_vertex_report, vertex_model_report
from pipeline.orchestration.local import run_local_pipeline
from pipeline.orchestration.run_summary import metrics_table
from pipeline.settings import PipelineConfig, config_from_dict

# Metrics of a reproduced run may differ from the original by this much (absolute): the
# training is seeded, but thread scheduling on a different machine can reorder float sums.
REPRODUCTION_TOLERANCE = 0.01


@dataclasses.dataclass
class Result:
    data: Any
    text: str
    exit_code: int = 0


def _runs(config: PipelineConfig) -> tuple[Any, list[Run], str]:
    store, where = lineage.connect(config)
    return store, lineage.pipeline_runs(store, config.pipeline_name, where), where


def _ids(options: argparse.Namespace, count: int, defaults: tuple[str, ...] = ()) -> list[str]:
    ids = list(options.ids) or list(defaults)
    if len(ids) != count:
        raise LineageError(f"expects {count} id(s), got {len(ids)}: {' '.join(ids) or 'none'}.")
    return ids


def _number(value: Any, digits: int = 3) -> str:
    return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float)
                                      else str(value))


# ---------------------------------------------------------------------- runs
def runs_command(config: PipelineConfig, options: argparse.Namespace) -> Result:
    store, runs, where = _runs(config)
    _ids(options, 0)
    rows = lineage.run_rows(store, runs)
    # One pipeline learns one task, so its ranking metric names the column.
    metric = next((row["metric"] for row in rows if row["metric"]), "metric")
    header = ("run", "started", "user", "commit", "variant", "architecture", "status", metric,
              "examples", "blessed", "pushed")
    table = [[str(row["run"]), row["started"], row["user"], row["commit"], row["variant"],
              row["architecture"], row["status"], _number(row.get(row["metric"] or "", None)),
              _number(row["examples"], 0),
              {None: "-", True: "yes", False: "no"}[row["blessed"]],
              str(row["pushed"] or "-")] for row in rows]
    return Result(rows, f"Runs of {config.pipeline_name} in {where}:\n" + _table(header, table))


def _table(header: tuple[str, ...], rows: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
             .rstrip() for row in [list(header), *rows]]
    return "\n".join(lines)


# ---------------------------------------------------------------------- show
def show_command(config: PipelineConfig, options: argparse.Namespace) -> Result:
    [reference] = _ids(options, 1, ("latest",))
    if config.metadata_connection == "vertex":
        report = vertex_model_report(config, reference)
        return Result(report, render_vertex_report(report))
    store, runs, _ = _runs(config)
    report = lineage.model_report(store, runs, reference)
    return Result(report, render_model_report(report))


def render_model_report(report: dict[str, Any]) -> str:
    model, pushed = report["model"], report["pushed"]
    lines = [f"Model {model['id']}  {model['uri']}"]
    if pushed:
        lines.append(f"  pushed as version {pushed['version']} to {pushed['destination']}")
    else:
        lines.append("  not pushed")
    lines.append(f"  trained in run {report['trained_in_run'] or '?'}")
    for baseline in report["baseline"]:
        lines.append(f"  evaluated against the last blessed Model [{baseline['id']}]")
    lines.append("\nUpstream, newest first (artifact ids in brackets):")
    for step in report["chain"]:
        outputs = ", ".join(f"{a['type']} [{a['id']}]" for a in step["outputs"]) or "-"
        inputs = ", ".join(f"{a['type']} [{a['id']}]" for a in step["inputs"]) or "-"
        run = f"run {step['run']}" if step["run"] else "run ?"
        lines.append(f"  {outputs}  <-  {step['component']} (execution {step['execution']}, "
                     f"{run})  <-  {inputs}")
        if step["settings"]:
            # The hyperparameters; the feature lists are in the run record (--json).
            settings = ", ".join(f"{k}={v}" for k, v in sorted(step["settings"].items())
                                 if not k.endswith("_features"))
            lines.append(f"      {settings}")
    data = report["data"]
    if data:
        lines.append("\nData:")
        if data["source"] == "file":
            lines += [f"  {path}  sha256 {digest[:16]}" for path, digest in data["files"].items()]
        else:
            lines.append(f"  BigQuery {data['table']} (modified {data['table_modified']}), "
                         f"query sha256 {data['query_sha256'][:16]}")
    anomalies, statistics = report["anomalies"], report["statistics"]
    checked = f" (statistics [{statistics['id']}] against the schema)" if statistics else ""
    lines.append(f"\nAnomalies{checked}: " + ("none" if anomalies == [] else
                                              "unknown" if anomalies is None else ""))
    lines += [f"  {line}" for line in anomalies or []]
    if report["evaluation"]:
        lines.append("\nEvaluation (eval split):")
        lines.append(metrics_table(report["evaluation"]))
    lines.append("\nBlessed: " + {None: "not evaluated", True: "yes", False: "no"}[
        report["blessed"]])
    lines.append(f"Serving sandbox: {describe_sandbox(report['sandbox'])}")
    record = report["run_record"]
    if record:
        lines.append("\nRun record:")
        lines += _record_lines(record)
    return "\n".join(lines)


def _record_lines(record: dict[str, Any]) -> list[str]:
    dirty = f"dirty, diff sha256 {record['git_diff_sha256'][:16]}" if record["git_dirty"] \
        else "clean"
    libraries = ", ".join(f"{name} {version}" for name, version in
                          sorted(record["libraries"].items()))
    return [
        f"  code      {record['git_commit'][:12]} ({dirty})",
        f"  lock      sha256 {record['lock_sha256'][:16]}, Python {record['python_version']}",
        f"  libraries {libraries}",
        f"  who       {record['user']}@{record['host']}",
        f"  when      {_local(record['started_at'])} to {_local(record['ended_at'])}, "
        f"{record['status']}",
        "  settings  " + ", ".join(f"{key}={value}" for key, value in
                                   sorted(record["config"].items())
                                   if key in ("variant", "architecture", "data_path",
                                              "data_source", "epochs", "learning_rate")),
    ]


def _local(moment: str) -> str:
    if not moment:
        return "?"
    return datetime.datetime.fromisoformat(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------------- diff
def diff_command(config: PipelineConfig, options: argparse.Namespace) -> Result:
    store, runs, _ = _runs(config)
    first, second = (lineage.find_run(runs, reference) for reference in _ids(options, 2))
    differences = lineage.diff_runs(store, first, second)
    lines = [f"Run {first.number} ({first.started}) -> run {second.number} ({second.started})"]
    for section in ("configuration", "code", "data", "libraries", "metrics"):
        changed = differences[section]
        if not changed:
            lines.append(f"{section}: same")
            continue
        lines.append(f"{section}:")
        for key, (before, after) in changed.items():
            lines.append(f"  {key}: {_short(before)} -> {_short(after)}")
    return Result(differences, "\n".join(lines))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------- graph
def graph_command(config: PipelineConfig, options: argparse.Namespace) -> Result:
    store, runs, _ = _runs(config)
    [reference] = _ids(options, 1, ("latest",))
    report = lineage.model_report(store, runs, reference)
    dot = lineage.lineage_dot(report)
    # By default beside the run outputs, so a picture never dirties the source tree that
    # the next run record hashes.
    out = Path(options.out or Path(config.output_root) / "lineage" /
               f"model-{report['model']['id']}.{options.format}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if options.format == "dot":
        out.write_text(dot)
    else:
        if shutil.which("dot") is None:
            raise LineageError("Graphviz's `dot` is not installed (scripts/bootstrap.sh "
                               "installs it); use --format=dot for the text form.")
        subprocess.run(["dot", f"-T{options.format}", "-o", str(out)], input=dot.encode(),
                       check=True)
    return Result({"path": str(out), "dot": dot}, f"Wrote {out}")


# ---------------------------------------------------------------------- reproduce
def reproduce_command(config: PipelineConfig, options: argparse.Namespace) -> Result:
    store, runs, _ = _runs(config)
    [reference] = _ids(options, 1)
    original = lineage.find_run(runs, reference)
    record = original.record
    if record is None:
        raise LineageError(f"Run {original.number} has no run record to reproduce from.")
    recorded = config_from_dict(record.config, f"run {original.number}'s record")
    commit, dirty, diff_sha256 = code_version()
    mismatches = []
    if (commit, diff_sha256) != (record.git_commit, record.git_diff_sha256):
        mismatches.append(f"code: run {original.number} used {record.git_commit[:12]}"
                          f"{' (dirty)' if record.git_dirty else ''}, this checkout is "
                          f"{commit[:12]}{' (dirty)' if dirty else ''}")
    if file_sha256(LOCK_FILE) != record.lock_sha256:
        mismatches.append("lock file: requirements.lock differs from the recorded one")
    if data_fingerprint(recorded) != record.data:
        mismatches.append("data: the input data's fingerprint differs from the recorded one")
    if mismatches and not options.force:
        raise LineageError(f"Refusing to reproduce run {original.number}: "
                           + "; ".join(mismatches) + ". Pass --force to run anyway.")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output_root = Path(config.output_root) / "reproductions" / f"run-{original.number}-{stamp}"
    rerun = dataclasses.replace(recorded, output_root=str(output_root.resolve()))
    # Its progress goes to stderr: standard output carries the result (JSON with --json).
    with contextlib.redirect_stdout(sys.stderr):
        result = run_local_pipeline(rerun)
    if not result.succeeded:
        raise LineageError(f"The reproduction failed: {result.failure} (log: {result.log_path})")
    original_metrics = lineage.overall_metrics(
        lineage.run_outputs(store, original).get("ModelEvaluation"))
    new_store, new_runs, _ = _runs(rerun)
    new_metrics = lineage.overall_metrics(
        lineage.run_outputs(new_store, new_runs[-1]).get("ModelEvaluation"))
    differences = {name: [original_metrics.get(name), new_metrics.get(name)]
                   for name in task_of_metrics(original_metrics).summary_metrics
                   if name in original_metrics}
    within = all(abs(after - before) <= REPRODUCTION_TOLERANCE
                 for name, (before, after) in differences.items()
                 if name != "example_count" and before is not None and after is not None) \
        and differences.get("example_count", [0, 0])[0] == differences.get(
            "example_count", [0, 0])[1]
    lines = [f"Reproduced run {original.number} in {output_root}"
             + (f" despite: {'; '.join(mismatches)}" if mismatches else "")]
    lines += [f"  {name:<14} {_number(before, 4):>8} -> {_number(after, 4):>8}"
              for name, (before, after) in differences.items()]
    lines.append(f"Within tolerance ({REPRODUCTION_TOLERANCE} absolute, example counts "
                 f"equal): {'yes' if within else 'NO'}")
    data = {"run": original.number, "output_root": str(output_root), "metrics": differences,
            "tolerance": REPRODUCTION_TOLERANCE, "within_tolerance": within,
            "mismatches": mismatches}
    return Result(data, "\n".join(lines), 0 if within else 1)


# ---------------------------------------------------------------------- predictions
def predictions_command(config: PipelineConfig, options: argparse.Namespace) -> Result:
    [reference] = _ids(options, 1, ("latest",))
    store, runs, _ = _runs(config)
    report = lineage.predictions_report(store, runs, reference)
    return Result(report, render_predictions_report(report))


def render_predictions_report(report: dict[str, Any]) -> str:
    predictions = report["predictions"]
    lines = [f"Predictions [{predictions['id']}]  {predictions['uri']}/predictions.jsonl",
             f"  {predictions['rows']} rows, written {predictions['written']} by scoring run "
             f"{report['scoring_run'] or '?'}"
             + (f"; appended to BigQuery {predictions['bigquery_table']}"
                if predictions["bigquery_table"] else "")]
    data = report["scored_data"]
    if data:
        lines.append("  scored:")
        if data["source"] == "file":
            lines += [f"    {path}  sha256 {digest[:16]}" for path, digest in data["files"].items()]
        else:
            lines.append(f"    BigQuery {data['table']}, query sha256 {data['query_sha256'][:16]}")
    lines.append(f"  as Examples [{report['scored_examples']['id']}]")
    record = report["scoring_record"]
    if record:
        lines.append("  scoring run record:")
        lines += [f"  {line}" for line in _record_lines(record)]
    lines.append("\nScored by:")
    lines.append(render_model_report(report["model"]))
    return "\n".join(lines)


COMMANDS: dict[str, Callable[[PipelineConfig, argparse.Namespace], Result]] = {
    "predictions": predictions_command,
    "runs": runs_command,
    "show": show_command,
    "diff": diff_command,
    "graph": graph_command,
    "reproduce": reproduce_command,
}

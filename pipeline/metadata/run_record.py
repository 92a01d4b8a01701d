"""The run record: what made a run, kept in ML Metadata beside the artifacts it produced.

Each local run writes it as custom properties of its `pipeline_run` context: the code
version (git commit, dirty flag, a hash of the uncommitted diff), the effective
configuration, the lock file's hash, Python and library versions, a fingerprint of the
input data, who ran it where, and when it started and ended. `lineage.py` reads it back.
"""

from __future__ import annotations

import dataclasses
import datetime
import getpass
import glob
import hashlib
import importlib.metadata
import json
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.kinds import TRAINING, PipelineKind
from pipeline.settings import REPOSITORY_ROOT, PipelineConfig

LOCK_FILE = REPOSITORY_ROOT / "requirements.lock"
# The libraries whose version changes what a run computes.
LIBRARIES = ("tfx", "tensorflow", "tensorflow-transform", "tensorflow-model-analysis",
             "tensorflow-data-validation", "tfx-bsl", "apache-beam", "ml-metadata", "keras",
             "tf-keras")
PROPERTY_PREFIX = "run_record."


@dataclasses.dataclass
class RunRecord:
    """Everything needed to say what produced a run, and to run it again."""

    git_commit: str
    git_dirty: bool
    git_diff_sha256: str  # of the uncommitted changes; empty when the tree is clean
    config: dict[str, Any]
    lock_sha256: str
    python_version: str
    libraries: dict[str, str]
    data: dict[str, Any]  # the input data's fingerprint, see data_fingerprint()
    user: str
    host: str
    started_at: str  # ISO 8601, UTC
    ended_at: str = ""
    status: str = "running"  # running | succeeded | failed

    def to_properties(self) -> dict[str, str]:
        """Flat string properties (JSON for the nested ones), as ML Metadata stores them."""
        return {PROPERTY_PREFIX + key: value if isinstance(value, str) else json.dumps(
                    value, sort_keys=True)
                for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_properties(cls, properties: dict[str, str]) -> RunRecord | None:
        """The record stored by `to_properties`, or None when the run has none."""
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            key = PROPERTY_PREFIX + field.name
            if key not in properties:
                return None
            raw = properties[key]
            values[field.name] = raw if field.type == "str" else json.loads(raw)
        return cls(**values)


def _git(*arguments: str) -> str:
    completed = subprocess.run(["git", *arguments], cwd=REPOSITORY_ROOT, capture_output=True,
                               check=True)
    return completed.stdout.decode("utf-8", "replace")


def code_version() -> tuple[str, bool, str]:
    """(commit, dirty, sha256 of the diff against it, untracked files included)."""
    try:
        commit = _git("rev-parse", "HEAD").strip()
        diff = _git("diff", "HEAD", "--binary")
        untracked = _git("ls-files", "--others", "--exclude-standard").split()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)", False, ""
    if not diff and not untracked:
        return commit, False, ""
    digest = hashlib.sha256(diff.encode())
    for name in sorted(untracked):
        digest.update(name.encode())
        path = REPOSITORY_ROOT / name
        if path.is_file():
            digest.update(path.read_bytes())
    return commit, True, digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_fingerprint(config: PipelineConfig, bigquery_client: Any = None,
                     kind: PipelineKind = TRAINING) -> dict[str, Any]:
    """Of what a pipeline of `kind` reads (the training data, or the table batch_predict.py
    scores). Local files: the SHA-256 of each input file. BigQuery: the query text and the
    table's last-modified time (asked of `bigquery_client`, by default one with
    Application Default Credentials; recorded as unavailable when that fails)."""
    if config.data_source == "file":
        paths = sorted(glob.glob(kind.data_path(config)))
        return {"source": "file", "files": {_display_path(path): file_sha256(Path(path))
                                            for path in paths}}
    table = kind.bigquery_table(config)
    query = kind.query(config, datetime.datetime.now(datetime.timezone.utc).date())
    fingerprint: dict[str, Any] = {
        "source": "bigquery", "table": table, "query": query,
        "query_sha256": hashlib.sha256(query.encode()).hexdigest(),
    }
    try:
        if bigquery_client is None:
            # Imported here: only a BigQuery run needs the client (and its credentials).
            from google.cloud import bigquery

            bigquery_client = bigquery.Client(project=config.gcp_project or None)
        modified = bigquery_client.get_table(table).modified
        fingerprint["table_modified"] = modified.isoformat() if modified else "unknown"
    except Exception as error:  # noqa: BLE001 - the run goes on; the record says why
        fingerprint["table_modified"] = f"unavailable: {type(error).__name__}"
    return fingerprint


def _display_path(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPOSITORY_ROOT))
    except ValueError:
        return path


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def start_run_record(config: PipelineConfig, bigquery_client: Any = None,
                     kind: PipelineKind = TRAINING) -> RunRecord:
    """The record of a run of `kind` about to start (ended_at and status are filled in at
    the end); its data is what that kind reads."""
    commit, dirty, diff_sha256 = code_version()
    return RunRecord(
        git_commit=commit,
        git_dirty=dirty,
        git_diff_sha256=diff_sha256,
        config=config.to_dict(),
        lock_sha256=file_sha256(LOCK_FILE),
        python_version=platform.python_version(),
        libraries=library_versions(),
        data=data_fingerprint(config, bigquery_client, kind),
        user=getpass.getuser(),
        host=socket.gethostname(),
        started_at=now(),
    )


def attach_run_record(store: metadata_store.MetadataStore, run_context_id: int,
                      record: RunRecord) -> None:
    """Writes `record` onto the run's `pipeline_run` context."""
    [context] = store.get_contexts_by_id([run_context_id])
    for key, value in record.to_properties().items():
        context.custom_properties[key].string_value = value
    store.put_contexts([context])


def run_record_of(context: metadata_store_pb2.Context) -> RunRecord | None:
    properties = {key: value.string_value for key, value in context.custom_properties.items()
                  if key.startswith(PROPERTY_PREFIX)}
    return RunRecord.from_properties(properties)

"""A team's shared metadata store: two teammates' runs, from two checkouts of the
repository, write to one MariaDB server (metadata_connection=mysql://USER@HOST:PORT/DB,
the password in MLMD_MYSQL_PASSWORD). `lineage.py runs` lists both with their users and
commits, and the second run's Evaluator compares against the first's blessed model.

The checkouts are git worktrees of the committed HEAD (the second with one more, empty,
commit of its own), so this tests the committed code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.metadata.store import MYSQL_PASSWORD_VARIABLE, custom_property, open_store
from tests.mariadb import MariaDb, mariadb_server

pytestmark = pytest.mark.e2e(minutes=2)
REPOSITORY = Path(__file__).resolve().parent.parent


def _git(directory: Path, *arguments: str) -> str:
    return subprocess.run(["git", "-C", str(directory), *arguments], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> MariaDb:
    with mariadb_server(tmp_path_factory.mktemp("mariadb")) as running:
        yield running


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("checkouts")
    paths = [root / "alice", root / "bob"]
    for path in paths:
        _git(REPOSITORY, "worktree", "add", "--detach", "-f", str(path), "HEAD")
    _git(paths[1], "-c", "user.name=Bob", "-c", "user.email=bob@example.com", "commit",
         "--allow-empty", "-q", "-m", "Bob's own commit")
    yield paths
    for path in paths:
        _git(REPOSITORY, "worktree", "remove", "--force", str(path))


def _environment(server: MariaDb, user: str) -> dict[str, str]:
    return {**os.environ, "USER": user, "LOGNAME": user,
            MYSQL_PASSWORD_VARIABLE: server.password}


@pytest.fixture(scope="module")
def two_runs(server: MariaDb, checkouts: list[Path]) -> list[Path]:
    """Alice runs the pipeline in her checkout, then Bob in his, both into the server."""
    roots = []
    for checkout, user in zip(checkouts, ("alice", "bob"), strict=True):
        root = checkout / "output"
        done = subprocess.run(
            [sys.executable, "local_runner.py", f"--output_root={root}",
             f"--metadata_connection={server.connection}"],
            cwd=checkout, env=_environment(server, user), capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        roots.append(root)
    return roots


def test_both_teammates_runs_are_listed_with_user_and_commit(
        server: MariaDb, checkouts: list[Path], two_runs: list[Path]) -> None:
    listed = subprocess.run(
        [sys.executable, "lineage.py", "runs", f"--metadata_connection={server.connection}",
         "--json"], cwd=REPOSITORY, env=_environment(server, "anyone"), check=True,
        capture_output=True, text=True)
    rows = json.loads(listed.stdout)
    assert [(row["user"], row["commit"], row["status"]) for row in rows] == [
        ("alice", _git(checkouts[0], "rev-parse", "HEAD")[:12], "succeeded"),
        ("bob", _git(checkouts[1], "rev-parse", "HEAD")[:12], "succeeded")]
    # Nothing was written beside the checkouts: the store is the server.
    assert not any((root / "metadata.sqlite").exists() for root in two_runs)


def test_the_second_run_compares_against_the_first_runs_blessed_model(
        server: MariaDb, two_runs: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MYSQL_PASSWORD_VARIABLE, server.password)
    store = open_store(server.connection)
    alices, bobs = sorted(store.get_artifacts_by_type("Model"), key=lambda model: model.id)
    assert alices.uri.startswith(str(two_runs[0])) and bobs.uri.startswith(str(two_runs[1]))
    first, second = sorted(store.get_artifacts_by_type("ModelBlessing"),
                           key=lambda blessing: blessing.id)
    assert custom_property(first, "blessed") == 1
    assert custom_property(first, "baseline_model_id") is None
    assert custom_property(second, "baseline_model_id") == alices.id

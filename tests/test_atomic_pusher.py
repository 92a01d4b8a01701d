"""The local Pusher: a push appears whole or not at all, even when the process is killed.

Each push runs the Pusher's executor as TFX's launcher does; in this process, but for the
push that is killed mid-copy, which has a process of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.components.atomic_pusher import STAGING_PREFIX
from pipeline.settings import REPOSITORY_ROOT


def run_push(model_dir: str, base: str, pushed_dir: str, blessed: bool) -> dict:
    """One push by the Pusher's executor, in this process; what it recorded on the
    PushedModel artifact."""
    from tfx.types import standard_artifacts

    from pipeline.components.atomic_pusher import AtomicPushExecutor

    model = standard_artifacts.Model()
    model.uri = model_dir
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = model_dir + "-blessing"
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = pushed_dir
    AtomicPushExecutor().Do(
        {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
        {"push_destination": json.dumps({"filesystem": {"base_directory": base}})})
    return {key: pushed.get_custom_property(key) for key in
            ("pushed", "pushed_version", "pushed_destination", "already_serving")}


# The same push in a process of its own, for the test that kills it: argv = model dir,
# serving base, pushed-model dir, blessed.
PUSH = """
import json, sys
import pipeline
from tests.test_atomic_pusher import run_push

print(json.dumps(run_push(*sys.argv[1:4], bool(int(sys.argv[4])))))
"""


def make_model(root: Path, filler_bytes: int = 1024) -> Path:
    """A Trainer-shaped model artifact directory: Format-Serving/ with a SavedModel's files."""
    serving = root / "model" / "Format-Serving"
    (serving / "variables").mkdir(parents=True)
    (serving / "saved_model.pb").write_bytes(b"graph")
    with open(serving / "variables" / "variables.data-00000-of-00001", "wb") as handle:
        handle.truncate(filler_bytes)  # sparse: costs no disk until copied
    return root / "model"


def push(model: Path, base: Path, pushed: Path, **popen: object) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", PUSH, str(model), str(base), str(pushed), "1"],
        cwd=REPOSITORY_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, **popen)


def push_here(model: Path, base: Path, pushed: Path, blessed: bool = True) -> dict:
    return run_push(str(model), str(base), str(pushed), blessed)


def test_a_blessed_model_lands_whole_under_its_version(tmp_path: Path) -> None:
    model, base = make_model(tmp_path), tmp_path / "serving"
    result = push_here(model, base, tmp_path / "pushed")
    assert result["pushed"] == 1
    final = base / result["pushed_version"]
    assert result["pushed_destination"] == str(final)
    assert sorted(os.listdir(base)) == [result["pushed_version"]]  # no staging left
    assert (final / "saved_model.pb").read_bytes() == b"graph"
    assert (final / "variables" / "variables.data-00000-of-00001").stat().st_size == 1024


def test_the_model_already_serving_is_not_pushed_again(tmp_path: Path) -> None:
    """One version per distinct model: the same bytes again push nothing and name the
    version serving them; one byte changed is a new model."""
    model, base = make_model(tmp_path), tmp_path / "serving"
    first = push_here(model, base, tmp_path / "pushed")
    again = push_here(model, base, tmp_path / "pushed-again")
    assert again["pushed"] == 0
    assert again["already_serving"] == str(base / first["pushed_version"])
    assert sorted(os.listdir(base)) == [first["pushed_version"]]
    (model / "Format-Serving" / "saved_model.pb").write_bytes(b"grapH")
    # Within the same second as the first push (TFX stamps versions in seconds): the new
    # model still lands, as the higher version, which a server serves.
    changed = push_here(model, base, tmp_path / "pushed-changed")
    assert changed["pushed"] == 1 and changed["already_serving"] is None
    assert int(changed["pushed_version"]) > int(first["pushed_version"])
    assert changed["pushed_destination"] == str(base / changed["pushed_version"])
    assert sorted(os.listdir(base)) == sorted([first["pushed_version"],
                                               changed["pushed_version"]])


def test_an_unblessed_model_leaves_the_serving_directory_untouched(tmp_path: Path) -> None:
    model, base = make_model(tmp_path), tmp_path / "serving"
    (base / "1700000000").mkdir(parents=True)  # an earlier push
    result = push_here(model, base, tmp_path / "pushed", blessed=False)
    assert result["pushed"] == 0
    assert sorted(os.listdir(base)) == ["1700000000"]


def test_a_push_killed_mid_copy_leaves_no_version_and_the_next_push_cleans_up(
        tmp_path: Path) -> None:
    # 1.5 GB of variables takes a few seconds to copy: long enough to kill the copy.
    model, base = make_model(tmp_path, filler_bytes=1_500_000_000), tmp_path / "serving"
    (base / "1700000000").mkdir(parents=True)  # an earlier push, which must survive
    process = push(model, base, tmp_path / "pushed", start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        staging = [name for name in os.listdir(base) if name.startswith(STAGING_PREFIX)]
        copied = [path for name in staging for path in (base / name).rglob("variables.data*")]
        if copied and copied[0].stat().st_size > 0:
            break
        if process.poll() is not None:
            pytest.fail("the push finished before it could be killed: "
                        + process.communicate()[1][-2000:])
        time.sleep(0.02)
    else:
        process.kill()
        pytest.fail("the push never started copying")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    names = os.listdir(base)
    # Only the earlier version and a hidden staging directory: nothing a server would load.
    assert [name for name in names if not name.startswith(STAGING_PREFIX)] == ["1700000000"]
    assert any(name.startswith(STAGING_PREFIX) for name in names)

    result = push_here(make_model(tmp_path / "second"), base, tmp_path / "pushed2")
    assert sorted(os.listdir(base)) == sorted(["1700000000", result["pushed_version"]])


def test_the_vertex_pusher_does_not_deploy_a_model_the_endpoint_already_serves(
        tmp_path: Path) -> None:
    """The endpoint keeps one deployed model per distinct model. The endpoint's listing is
    Vertex AI's (aiplatform, not reachable here): the deployed model's artifact directory
    stands in for it, as TFX's Vertex Pusher uploads its copy of the model."""
    from tfx.types import standard_artifacts

    from pipeline.components.vertex_pusher import SandboxedVertexPushExecutor

    model = make_model(tmp_path)
    deployed = tmp_path / "deployed-copy"
    subprocess.run(["cp", "-r", str(model / "Format-Serving"), str(deployed)], check=True)
    name = "projects/p/locations/us-central1/models/7"
    consulted = []

    class Listed(SandboxedVertexPushExecutor):
        def deployed_models(self, custom_config: dict) -> list[tuple[str, str]]:
            consulted.append(custom_config["ai_platform_serving_args"]["endpoint_name"])
            return [("projects/p/locations/us-central1/models/6", str(tmp_path / "other")),
                    (name, str(deployed))]

    def run(blessed: bool) -> standard_artifacts.PushedModel:
        artifact = standard_artifacts.Model()
        artifact.uri = str(model)
        blessing = standard_artifacts.ModelBlessing()
        blessing.uri = str(tmp_path / f"blessing-{blessed}")
        blessing.set_int_custom_property("blessed", int(blessed))
        pushed = standard_artifacts.PushedModel()
        pushed.uri = str(tmp_path / f"pushed-{blessed}")
        Listed().Do({"model": [artifact], "model_blessing": [blessing]},
                    {"pushed_model": [pushed]},
                    {"custom_config": json.dumps({
                        "ai_platform_serving_args": {"project_id": "p",
                                                     "endpoint_name": "big-tipper"},
                        "ai_platform_vertex_region": "us-central1",
                        "ai_platform_enable_vertex": True})})
        return pushed

    (tmp_path / "other").mkdir()
    pushed = run(blessed=True)
    assert pushed.get_int_custom_property("pushed") == 0
    assert pushed.get_string_custom_property("already_serving") == name
    assert not Path(pushed.uri).exists()  # nothing copied for an upload
    assert consulted == ["big-tipper"]
    assert run(blessed=False).get_int_custom_property("pushed") == 0
    assert consulted == ["big-tipper"]  # an unblessed model is never compared


def test_a_push_lands_above_every_version_already_there() -> None:
    from pipeline.components.atomic_pusher import next_version

    assert next_version("1700000100", []) == "1700000100"
    assert next_version("1700000100", ["1700000000", f"{STAGING_PREFIX}abc"]) == "1700000100"
    assert next_version("1700000100", ["1700000100"]) == "1700000101"  # the same second
    assert next_version("1700000100", ["1700000500"]) == "1700000501"  # a clock set back

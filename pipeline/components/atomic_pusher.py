"""A Pusher whose pushes appear whole or not at all.

TFX's Pusher copies the model file by file into `<base>/<version>/` (saved_model.pb last),
so a run killed mid-copy leaves a half-written version directory behind, which a model
server scanning `<base>` may try to load and which stays there forever. This executor
lets TFX's own Pusher write into a hidden staging directory beside the versions, then
moves the finished version into place with one rename (atomic on a local file system).
Staging directories left by killed pushes are removed by the next push. A model
byte-identical to the newest version serving is not pushed again (`PushesEachModelOnce`).

Every Pusher here (this one, `ObjectStorePusher` for object stores, and the Vertex AI one in
pipeline/components/vertex_pusher.py) ships the serving sandbox's copy of the model when
the sandbox passed it: the same SavedModel plus TF Serving's warmup requests
(pipeline/serving/sandbox.py). The model stays the Pusher's `model` input, so
lineage runs from the pushed model to the Trainer's as before.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import logging
import os
import uuid
from typing import Any

from tfx.components import Pusher
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import path_utils, proto_utils

from pipeline.components.pushed import ALREADY_SERVING

STAGING_PREFIX = ".staging-"
COMPARE_CHUNK_BYTES = 16 << 20


class PushesTheSandboxedModel:
    """Mixin for a Pusher executor: push the sandbox's stamped copy (the model with its
    warmup requests) when the InfraBlessing has one, else the Trainer's model."""

    def GetModelPath(self, input_dict: dict[str, list[Any]]) -> str:  # noqa: N802 - TFX's
        blessings = input_dict.get(standard_component_specs.INFRA_BLESSING_KEY)
        if blessings:
            blessing = artifact_utils.get_single_instance(blessings)
            if blessing.get_int_custom_property("has_model"):
                return path_utils.stamped_model_path(blessing.uri)
        return super().GetModelPath(input_dict)  # type: ignore[misc]


def _listing(directory: str) -> dict[str, int]:
    """Each file under `directory` (relative path) -> its size in bytes."""
    found = {}
    for root, _, files in fileio.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            found[path[len(directory):].lstrip("/")] = fileio.stat(path).length
    return found


def same_tree(first: str, second: str) -> bool:
    """Whether two directory trees hold the same files with the same bytes (through
    fileio: local or gs://). Listings and sizes first, so a different model is told
    apart without reading it."""
    listing = _listing(first)
    if not listing or listing != _listing(second):
        return False
    return all(_same_bytes(f"{first.rstrip('/')}/{relative}", f"{second.rstrip('/')}/{relative}")
               for relative in sorted(listing))


def _same_bytes(first: str, second: str) -> bool:
    import tensorflow as tf  # loaded already by TFX's Pusher

    with tf.io.gfile.GFile(first, "rb") as one, tf.io.gfile.GFile(second, "rb") as other:
        while True:
            chunk = one.read(COMPARE_CHUNK_BYTES)
            if chunk != other.read(COMPARE_CHUNK_BYTES):
                return False
            if not chunk:
                return True


def newest_version(base: str) -> str | None:
    """The newest numeric version directory under a serving directory, if any."""
    versions = [name.rstrip("/") for name in fileio.listdir(base)] if fileio.exists(base) else []
    numeric = [name for name in versions if name.isdigit()]
    return max(numeric, key=int) if numeric else None


class PushesEachModelOnce:
    """Mixin for a filesystem Pusher executor: a blessed candidate byte-identical to the
    newest version already serving (an unchanged re-run, whose Trainer came from cache, or
    a retraining that reproduced the same weights) is not pushed again as a new version.
    The PushedModel says `pushed` 0 and names the version in `already_serving`."""

    def already_serving(self, input_dict: dict[str, list[Any]], base: str) -> str | None:
        """The serving version directory that holds this very model, else None."""
        if not self.CheckBlessing(input_dict):  # type: ignore[attr-defined]
            return None
        newest = newest_version(base)
        if newest is None:
            return None
        serving = os.path.join(base, newest)
        model = self.GetModelPath(input_dict)  # type: ignore[attr-defined]
        return serving if same_tree(model, serving) else None

    def mark_already_serving(self, output_dict: dict[str, list[Any]], serving: str) -> None:
        pushed = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        self._MarkNotPushed(pushed)  # type: ignore[attr-defined]
        pushed.set_string_custom_property(ALREADY_SERVING, serving)
        logging.info("Nothing pushed: this very model already serves as %s", serving)


class ObjectStorePushExecutor(PushesEachModelOnce, PushesTheSandboxedModel,
                              tfx_pusher.Executor):
    """TFX's push (object stores), of the sandbox's stamped copy, once per model."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]],
           exec_properties: dict[str, Any]) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                                  destination)
        serving = self.already_serving(input_dict, destination.filesystem.base_directory)
        if serving is not None:
            self.mark_already_serving(output_dict, serving)
            return
        super().Do(input_dict, output_dict, exec_properties)


def next_version(stamped: str, existing: list[str]) -> str:
    """The version a push lands as: TFX's stamp (the push's time in seconds), or one above
    the highest version already there when that is not lower. Two pushes in one second
    would otherwise meet at one name (the rename fails and the run with it), and a server
    serves the highest version, which must be the newest push."""
    versions = [int(name) for name in existing if name.isdigit()]
    return str(max([int(stamped), *(version + 1 for version in versions)]))


class AtomicPushExecutor(PushesEachModelOnce, PushesTheSandboxedModel, tfx_pusher.Executor):
    """TFX's filesystem push, staged and renamed into place, once per model."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]],
           exec_properties: dict[str, Any]) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                                  destination)
        base = destination.filesystem.base_directory
        fileio.makedirs(base)
        for name in fileio.listdir(base):
            if name.startswith(STAGING_PREFIX):  # left by a push that was killed
                fileio.rmtree(os.path.join(base, name))
        serving = self.already_serving(input_dict, base)
        if serving is not None:
            self.mark_already_serving(output_dict, serving)
            return
        staging = os.path.join(base, f"{STAGING_PREFIX}{uuid.uuid4().hex}")
        destination.filesystem.base_directory = staging
        staged_properties = {
            **exec_properties,
            standard_component_specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination),
        }
        super().Do(input_dict, output_dict, staged_properties)

        pushed = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if pushed.get_int_custom_property("pushed"):
            staged = pushed.get_string_custom_property("pushed_version")
            version = next_version(staged, fileio.listdir(base))
            final = os.path.join(base, version)
            fileio.rename(os.path.join(staging, staged), final)
            pushed.set_string_custom_property("pushed_version", version)
            pushed.set_string_custom_property("pushed_destination", final)
        if fileio.exists(staging):
            fileio.rmtree(staging)



class AtomicPusher(Pusher):
    """TFX's Pusher with the staged, renamed push above (local file systems only)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)


class ObjectStorePusher(Pusher):
    """TFX's Pusher (for object stores, which have no atomic rename), shipping the
    sandbox's stamped copy."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(ObjectStorePushExecutor)

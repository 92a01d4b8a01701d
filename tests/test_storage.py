"""The step code's storage helpers and the sandbox's reads on a file system that is not
local: TensorFlow's ram://, which behaves as gs:// does for these calls (no local path
exists, so a local-only call finds nothing). The whole pipeline on gs:// is
tests/test_vertex_on_storage.py."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from pipeline.serving.model_server import latest_version
from pipeline.serving.sandbox import SandboxFailure, eval_examples
from pipeline.settings import EVAL_SPLIT
from pipeline.storage import copy_tree, write_text


def _ram(name: str) -> str:
    return f"ram://{name}-{uuid.uuid4().hex[:8]}"


def test_copy_tree_copies_a_directory_to_and_from_a_non_local_file_system(
        tmp_path: Path) -> None:
    (tmp_path / "model" / "variables").mkdir(parents=True)
    (tmp_path / "model" / "saved_model.pb").write_bytes(b"graph")
    (tmp_path / "model" / "variables" / "variables.index").write_bytes(b"index")
    remote = _ram("copy")
    assert copy_tree(str(tmp_path / "model"), remote) == 2
    assert tf.io.gfile.GFile(f"{remote}/variables/variables.index", "rb").read() == b"index"
    assert copy_tree(remote, str(tmp_path / "back")) == 2
    assert sorted(str(path.relative_to(tmp_path / "back"))
                  for path in (tmp_path / "back").rglob("*") if path.is_file()) == [
        "saved_model.pb", "variables/variables.index"]
    with pytest.raises(FileExistsError, match="exists already"):
        copy_tree(str(tmp_path / "model"), remote)


def test_a_marker_is_written_on_a_non_local_file_system() -> None:
    marker = f"{_ram('blessing')}/BLESSED"
    write_text(marker, "")
    assert tf.io.gfile.exists(marker) and tf.io.gfile.GFile(marker).read() == ""


def _examples_artifact(uri: str) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = uri
    examples.split_names = artifact_utils.encode_split_names([EVAL_SPLIT])
    return examples


def test_the_sandbox_reads_eval_examples_from_a_non_local_split() -> None:
    uri = _ram("examples")
    split = f"{uri}/Split-{EVAL_SPLIT}"
    tf.io.gfile.makedirs(split)
    with tf.io.TFRecordWriter(f"{split}/data_tfrecord-00000-of-00001.gz",
                              options="GZIP") as writer:
        for index in range(7):
            example = tf.train.Example()
            example.features.feature["fare"].float_list.value.append(float(index))
            example.features.feature["tips"].float_list.value.append(1.0)
            writer.write(example.SerializeToString())
    found = [tf.train.Example.FromString(record)
             for record in eval_examples(_examples_artifact(uri), 5, "tips")]
    assert [example.features.feature["fare"].float_list.value[0] for example in found] == [
        0.0, 1.0, 2.0, 3.0, 4.0]
    assert all("tips" not in example.features.feature for example in found)  # label gone


def test_an_empty_eval_split_blocks_the_sandbox_instead_of_checking_nothing() -> None:
    uri = _ram("empty")
    tf.io.gfile.makedirs(f"{uri}/Split-{EVAL_SPLIT}")
    with pytest.raises(SandboxFailure, match="holds no examples"):
        eval_examples(_examples_artifact(uri), 5, "tips")


def test_the_model_server_finds_the_newest_version_on_a_non_local_path() -> None:
    base = _ram("serving")
    for name in ("1", "12", "3", "notes"):
        tf.io.gfile.makedirs(f"{base}/{name}")
    assert latest_version(base) == "12"

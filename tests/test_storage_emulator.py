"""The Cloud Storage emulator the Vertex dry run keeps its artifacts on: TensorFlow's
built-in gs:// file system (through the emulator's HTTPS proxy) and Beam's gcsio read and
write the same objects, and a restarted emulator, on another port, still serves what an
earlier one stored."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pipeline.orchestration.storage_emulator import StorageEmulator
from pipeline.settings import REPOSITORY_ROOT

WRITE_AND_READ = textwrap.dedent('''
    import tensorflow as tf
    from apache_beam.io.filesystems import FileSystems

    # TensorFlow writes a directory of two objects (one of them empty) and renames it, as
    # tf.Transform does with its output; Beam reads what TensorFlow wrote.
    tf.io.gfile.makedirs("gs://bucket/staging")
    with tf.io.gfile.GFile("gs://bucket/staging/data.txt", "w") as handle:
        handle.write("written by tensorflow" * 100)
    with tf.io.gfile.GFile("gs://bucket/staging/EMPTY", "w") as handle:
        handle.write("")  # a marker; a GFile never written to is never created
    tf.io.gfile.rename("gs://bucket/staging", "gs://bucket/final")
    print("tensorflow:", sorted(tf.io.gfile.listdir("gs://bucket/final")))
    print("beam:", FileSystems.open("gs://bucket/final/data.txt").read()[:21].decode())
    with FileSystems.create("gs://bucket/beam.txt") as handle:
        handle.write(b"written by beam")
    print("tensorflow reads beam:", tf.io.gfile.GFile("gs://bucket/beam.txt").read())
''')
READ_AGAIN = textwrap.dedent('''
    import tensorflow as tf
    from apache_beam.io.filesystems import FileSystems

    print("beam:", FileSystems.open("gs://bucket/final/data.txt").read()[:21].decode())
    print("tensorflow:", tf.io.gfile.GFile("gs://bucket/beam.txt").read())
''')


def _run(code: str, emulator: StorageEmulator) -> list[str]:
    finished = subprocess.run(  # noqa: S603 - our own code
        [sys.executable, "-c", code], cwd=REPOSITORY_ROOT, capture_output=True, text=True,
        env={**os.environ, **emulator.environment()}, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stdout.splitlines()


def test_tensorflow_and_beam_share_objects_across_emulator_restarts(tmp_path: Path) -> None:
    with StorageEmulator("bucket", tmp_path / "storage") as first:
        assert _run(WRITE_AND_READ, first) == [
            "tensorflow: ['EMPTY', 'data.txt']", "beam: written by tensorflow",
            "tensorflow reads beam: written by beam"]
        first_port = first.port
        # The directory was renamed object by object, as on Cloud Storage.
        assert "rewriteTo" in (tmp_path / "storage-emulator.log").read_text()
    with StorageEmulator("bucket", tmp_path / "storage") as again:
        assert again.port != first_port
        assert _run(READ_AGAIN, again) == ["beam: written by tensorflow",
                                           "tensorflow: written by beam"]

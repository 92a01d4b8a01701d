"""Artifact storage that works wherever the pipeline runs. Imports TensorFlow (through
TFX's fileio) only when a copy is made, so that `@local_files` costs nothing to import.

On Vertex AI every artifact URI is `gs://...`; locally it is a path. So the executors
(pipeline/components/, pipeline/serving/, models/, evaluation/) touch artifact URIs only
through `tfx.dsl.io.fileio` (TensorFlow's file systems: local, gs://, ram://, ...), here
and where they call it directly. Where a library needs a local path (a model server
process, a log file it writes), the work happens in a local temporary copy and the results
are copied back: those functions are marked `@local_files`, which is what
tests/test_storage_calls.py allows local-only file calls (`open`, `os`'s file calls,
`glob`, `shutil`, `pathlib` I/O) in, and nowhere else under those directories.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import TypeVar

Marked = TypeVar("Marked", bound=Callable)


def local_files(function: Marked) -> Marked:
    """Marks a function or class that works on local paths by design (a local temporary
    copy, this repository's own source files), never on an artifact URI. Its docstring
    says why; the static check reads the decorator by name."""
    function.__local_files__ = True
    return function


def copy_tree(source: str, destination: str) -> int:
    """Copies the directory `source` to `destination` (either may be on any file system
    TensorFlow reads: a path, gs://, ram://); the number of files copied. `destination`
    must not exist yet, as with shutil.copytree."""
    from tfx.dsl.io import fileio

    if fileio.exists(destination):
        raise FileExistsError(f"{destination} exists already; copy_tree writes a new "
                              "directory")
    copied = 0
    source = source.rstrip("/")
    for directory, _, files in fileio.walk(source):
        directory = directory.rstrip("/")
        relative = os.path.relpath(directory, source) if directory != source else ""
        target = os.path.join(destination, relative) if relative else destination
        fileio.makedirs(target)
        for name in files:
            name = name.rstrip("/")
            fileio.copy(os.path.join(directory, name), os.path.join(target, name))
            copied += 1
    return copied


def write_text(path: str, text: str) -> None:
    """`text` as the whole content of `path`, on any file system (an empty marker file
    when `text` is empty)."""
    from tfx.dsl.io import fileio

    with fileio.open(path, "w") as handle:
        handle.write(text)


@local_files
@contextlib.contextmanager
def local_directory(prefix: str) -> Iterator[str]:
    """A local temporary directory, removed afterwards: where a library that needs a local
    path works before its results are copied back to an artifact URI."""
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        yield directory

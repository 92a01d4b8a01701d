"""A dry run's task processes, forked from an interpreter that has already imported the
tasks' entry point, instead of each starting a fresh one.

Why: every task of a compiled pipeline is `python -m ENTRY_POINT ARGS` (TFX's
`kubeflow_v2_run_executor`), whose imports (TensorFlow, TFX's components, Beam, TFMA)
take about 40 s of CPU on a 2-core machine, longer than most tasks' own work. A dry run of
the training pipeline starts 13 such processes. Here they are forked from
`multiprocessing`'s fork server, which imported the entry point once (the forked child
shares those pages), so each task starts in well under a second. Each is still a process
of its own, as on Vertex AI: its own environment (the replica's CLUSTER_SPEC and
TF_CONFIG), working directory, log file and exit code, and it runs the entry point's
`__main__` with the command's own arguments. Nothing TensorFlow runs before the fork: the
server only imports, and TensorFlow, Beam and gRPC start their threads and channels on
first use, in the child.

A command of another shape runs in a fresh interpreter, as before.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# The fork server's context, made once per process: the server imports the entry point of
# the first command it is asked to start (a dry run's tasks all name the same one).
_CONTEXT: multiprocessing.context.ForkServerContext | None = None


def entry_module(command: Sequence[str]) -> str | None:
    """MODULE when `command` is this interpreter's `python -m MODULE ...`, else None."""
    if len(command) >= 3 and command[0] == sys.executable and command[1] == "-m":
        return command[2]
    return None


def _context(module: str) -> multiprocessing.context.ForkServerContext:
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload([module])
    return _CONTEXT


def _run_module(module: str, arguments: list[str], environment: dict[str, str], cwd: str,
                log_path: str) -> None:
    """In the forked child: what `cd CWD; env -i ENVIRONMENT python -m MODULE ARGUMENTS >
    LOG 2>&1` does, on the imports the fork server made."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environment)
    # `python -m` puts the working directory first, then PYTHONPATH's entries.
    for entry in reversed(["", *environment.get("PYTHONPATH", "").split(os.pathsep)]):
        if entry and entry in sys.path:
            continue
        sys.path.insert(0, entry or cwd)
    sys.argv = [module, *arguments]
    # Run the module's code afresh as __main__ (its imports are the server's).
    sys.modules.pop(module, None)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


class TaskProcess:
    """One task's process, with the part of `subprocess.Popen`'s interface a dry run uses:
    `poll()`, `kill()` and `wait()`. The command's output goes to `log_path`."""

    def __init__(self, command: Sequence[str], environment: Mapping[str, str], cwd: Path,
                 log_path: Path) -> None:
        self.command = list(command)
        module = entry_module(command)
        self._popen: subprocess.Popen | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        if module is None:
            with log_path.open("w") as log:
                self._popen = subprocess.Popen(  # noqa: S603 - the compiled command
                    self.command, cwd=cwd, env=dict(environment), stdout=log,
                    stderr=subprocess.STDOUT)
            return
        self._process = _context(module).Process(
            target=_run_module, name=f"task {log_path.parent.name}",
            args=(module, self.command[3:], dict(environment), str(cwd), str(log_path)))
        self._process.start()

    def poll(self) -> int | None:
        """The exit code once the process has ended, else None."""
        if self._popen is not None:
            return self._popen.poll()
        return self._process.exitcode

    @property
    def returncode(self) -> int | None:
        return self.poll()

    def kill(self) -> None:
        if self._popen is not None:
            self._popen.kill()
        else:
            self._process.kill()

    def wait(self) -> int:
        if self._popen is not None:
            return self._popen.wait()
        self._process.join()
        return self._process.exitcode

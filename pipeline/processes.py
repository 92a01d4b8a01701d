"""Python processes started warm: forked from an interpreter that has already imported
what they import, instead of each starting a fresh one.

Why: on a 2-core machine `import tensorflow` alone takes about 4 s, and TFX's container
entry point (TensorFlow, TFX's components, Beam, TFMA) about 9 s, longer than most steps'
own work on a small table (20 s and 40 s where the venv holds no compiled bytecode:
scripts/bootstrap.sh compiles it). A Vertex dry run starts 13 such task processes, and
every serving sandbox starts a model server. Here they are forked from
`multiprocessing`'s fork server, which imported those modules once (`warm_up`), so each
starts in about a second:
- each is still a process of its own, as a fresh one would be: its own environment,
  working directory, output files and exit code, running the module's `__main__` with
  its own arguments;
- nothing runs in the fork server but imports (TensorFlow, Beam and gRPC start their
  threads and channels on first use, in the child), so forking it is safe; the server
  is itself started fresh (fork and exec), never forked from a process running
  TensorFlow.
The fork server is one per process: its modules are those of the first `warm_up` (or
the first process started), and a module it has not imported is imported in the child.
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.forkserver
import os
import runpy
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Mapping, Sequence
from pathlib import Path

_CONTEXT: multiprocessing.context.ForkServerContext | None = None


def warm_up(modules: Sequence[str]) -> None:
    """Starts this process's fork server importing `modules`, without waiting for it: the
    imports overlap whatever runs meanwhile. Later calls change nothing."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(list(modules))
        multiprocessing.forkserver.ensure_running()


def warm_up_for(module: str, imports: Sequence[str] = ()) -> None:
    """`warm_up` for what `WarmProcess(module, ..., imports=imports)` will fork: a caller
    that knows it will start one can start the fork server's imports sooner."""
    warm_up([*imports, module])


def _run_module(module: str, arguments: list[str], environment: dict[str, str], cwd: str,
                stdout_path: str, stderr_path: str) -> None:
    """In the forked child: what `cd CWD; env -i ENVIRONMENT python -m MODULE ARGUMENTS
    >STDOUT 2>STDERR` does, on the imports the fork server made."""
    sys.stdout.flush()
    sys.stderr.flush()
    for descriptor, path in ((1, stdout_path), (2, stderr_path)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(opened, descriptor)
        os.close(opened)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environment)
    tempfile.tempdir = None  # found again from TMPDIR, as a fresh interpreter does
    # `python -m` puts the working directory first, then PYTHONPATH's entries.
    for entry in reversed(["", *environment.get("PYTHONPATH", "").split(os.pathsep)]):
        if not entry or entry not in sys.path:
            sys.path.insert(0, entry or cwd)
    sys.argv = [module, *arguments]
    # The module's own code runs afresh as __main__; what it imports is the server's.
    sys.modules.pop(module, None)
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        # What an interpreter does on exit and multiprocessing's child skips (os._exit):
        # TensorFlow's autograph, for one, removes its temporary files here.
        atexit._run_exitfuncs()


class WarmProcess:
    """`python -m MODULE ARGUMENTS` forked warm, with the part of `subprocess.Popen`'s
    interface its callers use. stdout goes to `stdout_path`, stderr to `stderr_path` (the
    same file when not given); both are created empty. `imports`: what the fork server
    imports before MODULE, for a module that imports its heavy dependencies only when it
    runs."""

    def __init__(self, module: str, arguments: Sequence[str], environment: Mapping[str, str],
                 cwd: Path | str, stdout_path: Path | str,
                 stderr_path: Path | str | None = None, imports: Sequence[str] = ()) -> None:
        warm_up_for(module, imports)
        paths = [str(stdout_path), str(stderr_path or stdout_path)]
        for path in dict.fromkeys(paths):
            Path(path).write_bytes(b"")
        self._process = _CONTEXT.Process(
            target=_run_module, name=f"python -m {module}",
            args=(module, list(arguments), dict(environment), str(cwd), *paths))
        # multiprocessing's child would first import this process's __main__ (a runner
        # script, pytest) as `__mp_main__`, which a fresh `python -m MODULE` never does:
        # the target lives in this module, so the child is shown an empty __main__.
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            self._process.start()
        finally:
            sys.modules["__main__"] = main
        self.pid = self._process.pid

    def poll(self) -> int | None:
        """The exit code once the process has ended (negative: killed by that signal),
        else None."""
        return self._process.exitcode

    @property
    def returncode(self) -> int | None:
        return self.poll()

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self._process.name, timeout or 0)
        return self._process.exitcode


def module_of(command: Sequence[str]) -> str | None:
    """MODULE when `command` is this interpreter's `python -m MODULE ...`, else None."""
    if len(command) >= 3 and command[0] == sys.executable and command[1] == "-m":
        return command[2]
    return None


def start_command(command: Sequence[str], environment: Mapping[str, str], cwd: Path,
                  log_path: Path) -> WarmProcess | subprocess.Popen:
    """`command` with its output in `log_path`: forked warm when it is this interpreter's
    `python -m MODULE ...`, else in a fresh process."""
    module = module_of(command)
    if module is not None:
        return WarmProcess(module, list(command)[3:], environment, cwd, log_path)
    with log_path.open("w") as log:
        return subprocess.Popen(  # noqa: S603 - the caller's own command
            list(command), cwd=cwd, env=dict(environment), stdout=log,
            stderr=subprocess.STDOUT)


def wait_for_line(path: Path | str, prefix: str, process: WarmProcess,
                  timeout: float) -> str | None:
    """The first line of the file at `path` starting with `prefix`, once written; None
    when `process` exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ended = process.poll() is not None
        with open(path) as handle:
            for line in handle:
                if line.startswith(prefix) and line.endswith("\n"):
                    return line.rstrip("\n")
        if ended:
            return None
        time.sleep(0.05)
    return None

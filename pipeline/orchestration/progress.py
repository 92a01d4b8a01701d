"""Live progress of a LocalDagRunner run: one line per component as it starts and ends.

LocalDagRunner reports nothing but its own log lines ("Component X is running.", "A cached
execution N is used."), so we read those and print a line a person can follow, while the
libraries' full logs go to a file.

Inside a long step: our own steps log their progress (ExampleGen its rows, the Trainer its
steps); TFX's Beam steps (StatisticsGen, Transform, the Evaluator) log none, and the
in-memory Beam runner reports its counters only at the end. For those, a ticker prints
every PROGRESS_SECONDS what the run's processes have read since the step started (the
kernel's count of bytes read, /proc/PID/io, over the process tree, so Beam worker
processes count), as rows at the examples' size on disk that ExampleGen reported. It is an
estimate, and says so; Transform reads the data twice (analyze, then transform).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from pipeline.kinds import Node

_STARTED = re.compile(r"^Component (\S+) is running\.$")
_FINISHED = re.compile(r"^Component (\S+) is finished\.$")
_CACHED = re.compile(r"^A cached execution \d+ is used\.$")
PROGRESS_SECONDS = 10.0
# The steps that read every example through Beam and say nothing while they do.
_SILENT_READERS = (Node.STATISTICS_GEN, Node.TRANSFORM, Node.EVALUATOR, Node.BATCH_SCORER)


def bytes_read(root_pid: int | None = None) -> int:
    """Bytes read by `root_pid` (this process) and its descendants (/proc/PID/io rchar;
    0 where /proc is not there)."""
    root_pid = root_pid or os.getpid()
    children: dict[int, list[int]] = {}
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return 0
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/io") as handle:
                total += int(next(line for line in handle if line.startswith("rchar")).split()[1])
        except (OSError, StopIteration, ValueError):
            pass
        stack.extend(children.get(pid, []))
    return total


class ComponentProgress(logging.Handler):
    """Turns the runner's log records into `[ 3/10] SchemaGen  ran     1.2 s` lines."""

    def __init__(self, component_ids: list[str], stream: TextIO):
        super().__init__(level=logging.INFO)
        self.component_ids = component_ids
        self.stream = stream
        self.current: str | None = None
        self.started_at = 0.0
        self.cached = False
        self.width = max(len(name) for name in component_ids)
        # Set by ExampleGen's summary record (`examples`, `bytes` attributes).
        self.examples = 0
        self.example_bytes = 0
        self._ticker: threading.Event | None = None

    def _line(self, name: str, state: str, seconds: float | None = None) -> None:
        position = self.component_ids.index(name) + 1 if name in self.component_ids else 0
        elapsed = f"{seconds:7.1f} s" if seconds is not None else ""
        self.stream.write(f"[{position:2d}/{len(self.component_ids)}] "
                          f"{name:<{self.width}}  {state:<8}{elapsed}\n")
        self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if getattr(record, "examples", None) and getattr(record, "bytes", None):
            self.examples, self.example_bytes = record.examples, record.bytes
        if record.name.startswith(("models.", "pipeline.")) and record.levelno >= logging.INFO:
            self.stream.write(f"        {message}\n")  # our own news, e.g. epoch metrics
            self.stream.flush()
            return
        if started := _STARTED.match(message):
            self.current, self.started_at, self.cached = started.group(1), time.monotonic(), False
            self._line(self.current, "running")
            if self.current.startswith(_SILENT_READERS):
                self._start_ticker()
        elif _CACHED.match(message):
            self.cached = True
            self._stop_ticker()
        elif (finished := _FINISHED.match(message)) and finished.group(1) == self.current:
            self._stop_ticker()
            state = "cached" if self.cached else "ran"
            self._line(self.current, state, time.monotonic() - self.started_at)
            self.current = None

    def _start_ticker(self) -> None:
        interval = PROGRESS_SECONDS  # read at each start, so a test may shorten it
        self._stop_ticker()
        stop = self._ticker = threading.Event()
        started, base = time.monotonic(), bytes_read()
        per_example = self.example_bytes / self.examples if self.examples else 0.0

        def tick() -> None:
            previous = 0
            while not stop.wait(interval):
                read = bytes_read() - base
                seconds = time.monotonic() - started
                amount = (f"about {read / per_example:,.0f} rows" if per_example
                          else f"{read / 1e6:,.0f} MB")
                if read - previous < 1_000_000:  # under a megabyte in a whole interval
                    # Beam's in-memory runner reads a stage's input whole, then works on it.
                    text = f"{amount} read; working on them ({seconds:,.0f} s)"
                elif per_example:
                    text = (f"{amount} read ({read / per_example / seconds:,.0f} rows/s; "
                            f"the data is {self.examples:,} rows)")
                else:
                    text = f"{amount} read ({read / 1e6 / seconds:,.1f} MB/s)"
                previous = read
                self.stream.write(f"        {text}\n")
                self.stream.flush()

        threading.Thread(target=tick, name="progress-ticker", daemon=True).start()

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.set()
            self._ticker = None

    def fail_current(self) -> None:
        self._stop_ticker()
        if self.current is not None:
            self._line(self.current, "FAILED", time.monotonic() - self.started_at)


@contextmanager
def reporting_progress(component_ids: list[str], log_path: str
                       ) -> Iterator[ComponentProgress]:
    """Prints component progress to standard output (as it is when called, so a caller
    may redirect it) and sends all logs to `log_path`."""
    root = logging.getLogger()
    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    progress = ComponentProgress(component_ids, sys.stdout)
    # Everything propagates to the root logger; its handlers become the log file and the
    # progress reader, and loggers with their own console handlers (tensorflow) are quieted.
    noisy = [logging.getLogger("tensorflow")]
    saved = (root.handlers[:], root.level, [(lg.handlers[:], lg.propagate, lg.level)
                                             for lg in noisy])
    root.handlers = [file_handler, progress]
    root.setLevel(logging.INFO)
    for logger in noisy:
        logger.handlers, logger.propagate = [], True
        logger.setLevel(logging.INFO)
    logging.captureWarnings(True)  # library warnings belong in the log, not the terminal
    # TensorFlow's SavedModel code lowers absl's verbosity while saving and does not always
    # restore it, which would silence the runner's "Component X is finished" lines: pin it.
    absl_logger = logging.getLogger("absl")
    absl_level = absl_logger.level
    absl_logger.setLevel(logging.INFO)
    absl_logger.setLevel = lambda level: None  # type: ignore[method-assign]
    try:
        yield progress
    finally:
        del absl_logger.setLevel
        absl_logger.setLevel(absl_level)
        logging.captureWarnings(False)
        file_handler.close()
        root.handlers, root.level = saved[0], saved[1]
        for logger, (handlers, propagate, level) in zip(noisy, saved[2], strict=False):
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)

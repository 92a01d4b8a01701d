"""Live progress of a LocalDagRunner run: one line per component as it starts and ends.

LocalDagRunner reports nothing but its own log lines ("Component X is running.", "A cached
execution N is used."), so we read those and print a line a person can follow, while the
libraries' full logs go to a file.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

_STARTED = re.compile(r"^Component (\S+) is running\.$")
_FINISHED = re.compile(r"^Component (\S+) is finished\.$")
_CACHED = re.compile(r"^A cached execution \d+ is used\.$")


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

    def _line(self, name: str, state: str, seconds: float | None = None) -> None:
        position = self.component_ids.index(name) + 1 if name in self.component_ids else 0
        elapsed = f"{seconds:7.1f} s" if seconds is not None else ""
        self.stream.write(f"[{position:2d}/{len(self.component_ids)}] "
                          f"{name:<{self.width}}  {state:<8}{elapsed}\n")
        self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name.startswith(("models.", "pipeline.")) and record.levelno >= logging.INFO:
            self.stream.write(f"        {message}\n")  # our own news, e.g. epoch metrics
            self.stream.flush()
            return
        if started := _STARTED.match(message):
            self.current, self.started_at, self.cached = started.group(1), time.monotonic(), False
            self._line(self.current, "running")
        elif _CACHED.match(message):
            self.cached = True
        elif (finished := _FINISHED.match(message)) and finished.group(1) == self.current:
            state = "cached" if self.cached else "ran"
            self._line(self.current, state, time.monotonic() - self.started_at)
            self.current = None

    def fail_current(self) -> None:
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

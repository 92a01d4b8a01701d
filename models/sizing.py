"""Training sized to the table: what `batch_size`, `learning_rate` and `epochs` set to
`auto` (their defaults) become for a train split of a given size.

A table of 150 rows and one of 1.5M rows cannot share a batch size and an epoch count:
at 256 examples a step and 4 epochs the first gets 4 optimizer steps in all, the second
23,000. So, for `auto`:
- the batch size grows with the square root of the train rows, as a power of two between
  MIN_BATCH and MAX_BATCH (150 rows: 16; 10K: 256; 1.5M: 2,048), so that a small table
  still gets a dozen steps per epoch and a large one keeps the accelerator busy;
- the learning rate is Adam's BASE_LEARNING_RATE at batch 256, scaled with the square
  root of the batch size (the usual rule for Adam) and kept within LEARNING_RATE_RANGE;
  the Trainer warms it up over the first steps and halves it when the validation loss
  stalls (models/trainer.py);
- the epochs: as many as the validation loss keeps improving, stopping `patience` epochs
  after its best and restoring that epoch's weights, within `training_example_budget`
  examples and MAX_EPOCHS epochs.

The constants were chosen by measurement on the quality benchmark's suite
(benchmarks/quality_benchmark.py; docs/benchmarks.md has the runs), never for one table.
Plain Python: the Tuner, the Trainer and the benchmarks all size training here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pipeline.settings.values import AUTO

MIN_BATCH, MAX_BATCH = 16, 2048
BATCH_PER_SQRT_ROW = 2.0  # batch ~ 2 * sqrt(train rows), rounded to a power of two
BASE_LEARNING_RATE, BASE_BATCH = 2e-3, 256
LEARNING_RATE_RANGE = (5e-4, 5e-3)
MAX_EPOCHS = 300


@dataclasses.dataclass(frozen=True)
class Sizing:
    """What sizing chose, and why, for the run's records."""

    train_rows: int
    batch_size: int
    learning_rate: float
    max_epochs: int
    early_stopping: bool  # epochs=auto: stop on the validation loss, keep the best epoch
    patience: int
    warmup_steps: int
    chosen: dict[str, str]  # setting -> how its value was chosen ("auto: ...", "configured")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def auto_batch_size(train_rows: int) -> int:
    wanted = BATCH_PER_SQRT_ROW * math.sqrt(max(train_rows, 1))
    return int(min(MAX_BATCH, max(MIN_BATCH, 2 ** round(math.log2(wanted)))))


def auto_learning_rate(batch_size: int) -> float:
    low, high = LEARNING_RATE_RANGE
    return float(min(high, max(low, BASE_LEARNING_RATE * math.sqrt(batch_size / BASE_BATCH))))


def size_training(settings: Any, train_rows: int) -> tuple[Any, Sizing]:
    """`settings` (TrainingSettings or TunerSettings) with every `auto` value replaced by
    its number for `train_rows` training examples, and what was chosen."""
    chosen: dict[str, str] = {}
    batch_size = settings.batch_size
    if batch_size == AUTO:
        batch_size = auto_batch_size(train_rows)
        chosen["batch_size"] = f"auto: {batch_size} for {train_rows:,} train rows"
    else:
        chosen["batch_size"] = "configured"
    learning_rate = settings.learning_rate
    if learning_rate == AUTO:
        learning_rate = auto_learning_rate(batch_size)
        chosen["learning_rate"] = f"auto: {learning_rate:.2g} for batches of {batch_size}"
    else:
        chosen["learning_rate"] = "configured"
    early_stopping = settings.epochs == AUTO and not settings.schedule_epochs
    if settings.epochs == AUTO:
        epochs = int(min(MAX_EPOCHS, max(1, settings.training_example_budget
                                         // max(train_rows, 1))))
        chosen["epochs"] = (
            f"auto: until the validation loss stops improving for {settings.patience} epochs, "
            f"at most {epochs} (a budget of {settings.training_example_budget:,} examples)"
            if early_stopping else "the schedule's")
    else:
        epochs = settings.epochs
        chosen["epochs"] = "configured"
    steps_per_epoch = max(1, math.ceil(train_rows / batch_size))
    # Warm-up: the first epoch, or a twentieth of the most steps training may take.
    warmup = max(1, min(steps_per_epoch, steps_per_epoch * epochs // 20))
    resolved = settings.replace({"batch_size": batch_size, "learning_rate": learning_rate,
                                 "epochs": epochs}, "training sized to the table")
    return resolved, Sizing(train_rows, batch_size, learning_rate, epochs, early_stopping,
                            settings.patience, warmup, chosen)

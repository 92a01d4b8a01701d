"""The model package: what a person needs beside the SavedModel to judge a trained model.

Written by `run_fn` into the Model artifact, beside `Format-Serving/` (which is all the
Pusher copies), as `package/` and as one `model_package.zip` that also holds the SavedModel:
- `metrics.csv`: one row per epoch: phase, learning rate, batch size, seconds, then every
  training metric and its eval (`val_`) counterpart;
- `curves.png`: those curves, train against eval, phase boundaries marked;
- `tensorboard/`: the TensorBoard logs of the run;
- `config.json`: the effective training configuration;
- `dataset.json`: rows per split, feature shapes, and a fingerprint of the examples read.

Paths go through tf.io.gfile, so the same code writes to a local disk or to gs://.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

import tensorflow as tf

PACKAGE_DIRECTORY = "package"
PACKAGE_ZIP = "model_package.zip"
SERVING_DIRECTORY = "Format-Serving"  # TFX's name for the SavedModel inside a Model artifact
# Inside the SavedModel: JSON files that travel with it (settings, shapes, training facts).
EXTRA_ASSETS_DIRECTORY = "assets.extra"
EPOCH_COLUMNS = ("epoch", "phase", "learning_rate", "batch_size", "steps", "seconds")


def history_of(rows: Sequence[dict[str, float]]) -> dict[str, list[float]]:
    """The per-epoch rows as Keras's History holds them: metric name -> value per epoch."""
    names = sorted({key for row in rows for key in row} - set(EPOCH_COLUMNS))
    return {name: [row[name] for row in rows] for name in names}


def metrics_csv(rows: Sequence[dict[str, float]]) -> str:
    """The per-epoch rows as CSV: the schedule columns, then metrics (train before eval)."""
    metric_names = sorted({key for row in rows for key in row} - set(EPOCH_COLUMNS),
                          key=lambda name: (name.startswith("val_"), name))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*EPOCH_COLUMNS, *metric_names],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def curves_png(rows: Sequence[dict[str, float]], title: str) -> bytes:
    """One panel per metric, train and eval per epoch, dashed lines where a phase starts."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = sorted({key for row in rows for key in row
                    if key not in EPOCH_COLUMNS and not key.startswith("val_")})
    figure, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    epochs = [row["epoch"] for row in rows]
    phase_starts = [row["epoch"] for previous, row in zip(rows, rows[1:], strict=False)
                    if row["phase"] != previous["phase"]]
    for axis, name in zip(axes[0], names, strict=True):
        axis.plot(epochs, [row.get(name) for row in rows], marker="o", label="train")
        if any(f"val_{name}" in row for row in rows):
            axis.plot(epochs, [row.get(f"val_{name}") for row in rows], marker="o",
                      label="eval")
        for start in phase_starts:
            axis.axvline(start - 0.5, color="grey", linestyle="--", linewidth=1)
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def count_and_fingerprint(file_patterns: Iterable[str]) -> tuple[int, str]:
    """Rows in the gzipped TFRecord files matching `file_patterns`, and a SHA-256 over
    their bytes: the exact examples a model read. One pass over the data, done once."""
    files = sorted(path for pattern in file_patterns for path in tf.io.gfile.glob(pattern))
    digest = hashlib.sha256()
    for path in files:
        with tf.io.gfile.GFile(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    rows = int(tf.data.TFRecordDataset(files, compression_type="GZIP")
               .reduce(tf.constant(0, tf.int64), lambda count, _: count + 1)) if files else 0
    return rows, digest.hexdigest()


def _copy_tree(source: str, destination: str) -> None:
    if not tf.io.gfile.exists(source):
        return
    for directory, _, files in tf.io.gfile.walk(source):
        target = os.path.join(destination, os.path.relpath(directory, source))
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(os.path.join(directory, name), os.path.join(target, name),
                             overwrite=True)


def _files_under(root: str) -> list[str]:
    return sorted(os.path.join(directory, name)
                  for directory, _, files in tf.io.gfile.walk(root) for name in files)


def write_model_package(model_uri: str, epoch_rows: Sequence[dict[str, float]],
                        config: dict[str, Any], dataset: dict[str, Any],
                        tensorboard_directory: str, title: str) -> str:
    """Writes package/ and model_package.zip into the Model artifact at `model_uri`.

    Call it after the SavedModel is exported; returns the zip's path.
    """
    package = os.path.join(model_uri, PACKAGE_DIRECTORY)
    tf.io.gfile.makedirs(package)
    contents: dict[str, str | bytes] = {
        "metrics.csv": metrics_csv(epoch_rows),
        "curves.png": curves_png(epoch_rows, title),
        "config.json": json.dumps(config, indent=2, sort_keys=True) + "\n",
        "dataset.json": json.dumps(dataset, indent=2, sort_keys=True) + "\n",
    }
    for name, content in contents.items():
        mode = "wb" if isinstance(content, bytes) else "w"
        with tf.io.gfile.GFile(os.path.join(package, name), mode) as handle:
            handle.write(content)
    _copy_tree(tensorboard_directory, os.path.join(package, "tensorboard"))

    # Built in a local temporary file, then copied: zipfile needs to seek, object stores don't.
    with tempfile.NamedTemporaryFile(suffix=".zip") as local_zip:
        with zipfile.ZipFile(local_zip, "w", zipfile.ZIP_DEFLATED) as bundle:
            for root in (package, os.path.join(model_uri, SERVING_DIRECTORY)):
                for path in _files_under(root):
                    with tf.io.gfile.GFile(path, "rb") as handle:
                        bundle.writestr(os.path.relpath(path, model_uri), handle.read())
        local_zip.flush()
        zip_path = os.path.join(model_uri, PACKAGE_ZIP)
        tf.io.gfile.copy(local_zip.name, zip_path, overwrite=True)
    return zip_path


def training_summary(model_uri: str) -> str | None:
    """One sentence on how the model at `model_uri` (a Model artifact) was trained: the
    train rows, the batch size and learning rate and how each was chosen, the epochs run
    and the epoch whose weights were kept; None for a model without training facts."""
    path = os.path.join(model_uri, SERVING_DIRECTORY, EXTRA_ASSETS_DIRECTORY, "training.json")
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as handle:
        training = json.load(handle)
    started = training.get("warm_start")
    # models/warm_start.py: where its weights came from, when warm_start was on.
    start = f"; {started['summary']}" if started and started.get("summary") else ""
    return _training_sentence(training) + start


def _training_sentence(training: dict[str, Any]) -> str:
    sizing = training.get("sizing")
    if not sizing:
        return f"{training['epochs']} epochs"
    chosen = sizing["chosen"]

    def how(name: str) -> str:
        return " (auto)" if chosen.get(name, "").startswith("auto") else ""

    text = (f"{sizing['train_rows']:,} train rows, batches of {sizing['batch_size']}"
            f"{how('batch_size')}, learning rate {sizing['learning_rate']:.2g}"
            f"{how('learning_rate')}; ")
    if sizing["early_stopping"]:
        return text + (f"stopped after {training['epochs']} of at most {sizing['max_epochs']} "
                       f"epochs, {sizing['patience']} after the lowest validation loss; "
                       f"kept epoch {training['best_epoch']}'s weights")
    return text + f"{training['epochs']} epochs, the last epoch's weights"

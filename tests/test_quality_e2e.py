"""Quality by default, on whole local pipeline runs: a new table described by its columns
alone, as a team exports it (a CSV with R's NA, a label written as two strings).

- A binary label `sex` given as female/male with positive_class: it trains, the first
  run pushes, and the pushed model serves P(female); NA cells are missing values and a
  row without a label is left out; training sized itself and stopped on the validation
  split, never seeing an eval row; a numeric column slices the Evaluator by value.
- A label that is a coin flip, independent of every column: the model cannot beat the
  label's own rates, so the default skill gate holds it back and the summary says why.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline.orchestration.layout import LocalLayout
from pipeline.orchestration.local import run_local_pipeline
from pipeline.orchestration.run_summary import collect_run_summary
from pipeline.settings import EVAL_SPLIT, TRAIN_SPLIT, VALIDATION_SPLIT
from pipeline.settings.loading import load_config
from tasks.binary.judge import auc

pytestmark = pytest.mark.e2e

REPOSITORY = Path(__file__).resolve().parent.parent
PENGUINS = REPOSITORY / "testdata" / "penguins.jsonl"
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
CATEGORICAL = ["species", "island"]


def _write_csv(path: Path, rows: list[dict]) -> None:
    """The rows as R's write.csv writes them: NA for a missing value."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "NA" if value is None else value for key, value in row.items()})


def _dataset(directory: Path, rows: list[dict], **settings: object) -> str:
    """A dataset file listing only the data, the columns, the label, the task and slices."""
    _write_csv(directory / "table.csv", rows)
    path = directory / "table.yaml"
    path.write_text(json.dumps({
        "pipeline_name": "new-table", "task": "binary",
        "data_path": str(directory / "table.csv"), "numeric_features": NUMERIC,
        "categorical_features": CATEGORICAL, **settings}))
    return str(path)


def _run(dataset: str, root: Path) -> tuple[object, dict]:
    config = load_config([f"--dataset={dataset}", f"--output_root={root}"], environ={})
    result = run_local_pipeline(config)
    assert result.succeeded, result.failure
    return config, collect_run_summary(config, LocalLayout.for_config(config))


def _examples(uri: str, split: str) -> list[tf.train.Example]:
    files = tf.io.gfile.glob(f"{uri}/Split-{split}/*")
    return [tf.train.Example.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _example_gen_uri(config: object) -> str:
    """The Examples the run's ExampleGen wrote, found through ML Metadata."""
    from pipeline.metadata.store import latest_run_context, open_store, run_executions

    store = open_store(LocalLayout.for_config(config).metadata_path)
    run = latest_run_context(store, config.pipeline_name)
    step = next(step for step in run_executions(store, run.id) if step.component == "ExampleGen")
    return step.output("Examples").uri


def test_a_label_written_as_strings_trains_pushes_and_serves_the_positive_class(
        tmp_path: Path) -> None:
    rows = [json.loads(line) for line in PENGUINS.open()]
    unlabelled = sum(row["sex"] is None for row in rows)
    missing_bills = sum(row["bill_length_mm"] is None for row in rows)
    assert unlabelled and missing_bills  # the table has both kinds of gap
    dataset = _dataset(tmp_path, rows, label_name="sex", positive_class="female",
                       slice_features=["island", "year"])
    config, summary = _run(dataset, tmp_path / "output")

    # The first run of a new table pushes.
    assert summary["blessed"] is True and summary["pushed"] is True, summary.get(
        "not_blessed_because")
    assert summary["metrics"]["Overall"]["log_loss_skill"] > 0.3

    # NA cells are missing values; rows without a label are left out.
    examples_uri = _example_gen_uri(config)
    splits = {split: _examples(examples_uri, split)
              for split in (TRAIN_SPLIT, VALIDATION_SPLIT, EVAL_SPLIT)}
    everything = [example for examples in splits.values() for example in examples]
    assert len(everything) == len(rows) - unlabelled
    labelled_rows = [row for row in rows if row["sex"] is not None]
    assert sum(not example.features.feature["bill_length_mm"].float_list.value
               for example in everything) == sum(row["bill_length_mm"] is None
                                                 for row in labelled_rows)
    assert sorted(example.features.feature["sex"].int64_list.value[0]
                  for example in everything) == sorted(
        int(row["sex"] == "female") for row in labelled_rows)

    # The Trainer learned from train and stopped on validation: the rows it counted are
    # those splits' rows, and never an eval row.
    model = Path(summary["model_uri"])
    dataset_facts = json.loads((model / "package" / "dataset.json").read_text())
    assert {split: facts["rows"] for split, facts in dataset_facts["splits"].items()} == {
        TRAIN_SPLIT: len(splits[TRAIN_SPLIT]), VALIDATION_SPLIT: len(splits[VALIDATION_SPLIT])}
    training = json.loads((model / "Format-Serving" / "assets.extra" / "training.json")
                          .read_text())
    sizing = training["sizing"]
    assert sizing["train_rows"] == len(splits[TRAIN_SPLIT]) and sizing["early_stopping"]
    assert training["best_epoch"] <= training["epochs"] < sizing["max_epochs"]
    assert "stopped after" in summary["training"]

    # The pushed model answers P(female) for eval rows sent without their label.
    unlabeled = []
    for example in splits[EVAL_SPLIT]:
        copy = tf.train.Example()
        copy.CopyFrom(example)
        del copy.features.feature["sex"]
        unlabeled.append(copy.SerializeToString())
    serve = tf.saved_model.load(summary["pushed_model"]).signatures["serving_default"]
    probability = serve(examples=tf.constant(unlabeled))["probability"].numpy().reshape(-1)
    labels = np.array([example.features.feature["sex"].int64_list.value[0]
                       for example in splits[EVAL_SPLIT]])
    assert auc(labels, probability) > 0.85
    # A numeric column slices by value.
    assert {name for name in summary["metrics"] if name.startswith("year:")} == {
        "year:2007.0", "year:2008.0", "year:2009.0"}


def test_a_model_no_better_than_the_labels_own_rates_is_not_pushed(tmp_path: Path) -> None:
    coin = random.Random(7)
    rows = [dict(json.loads(line), heads="yes" if coin.random() < 0.5 else "no")
            for line in PENGUINS.open()]
    dataset = _dataset(tmp_path, rows, label_name="heads", positive_class="yes",
                       categorical_features=[*CATEGORICAL, "sex"])
    _, summary = _run(dataset, tmp_path / "output")
    assert summary["blessed"] is False and summary["pushed"] is False
    assert summary["metrics"]["Overall"]["log_loss_skill"] < 0.02
    assert any("log_loss_skill" in reason for reason in summary["not_blessed_because"]), \
        summary["not_blessed_because"]
    assert not (tmp_path / "output" / "serving").exists() or not any(
        (tmp_path / "output" / "serving").iterdir())

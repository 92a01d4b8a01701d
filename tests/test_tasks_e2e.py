"""Whole local pipeline runs for the other tasks: multi-class (Palmer penguins), regression
(the taxi fare) and a text feature (IMDB reviews), each from its dataset file alone.

Each run is checked through what it produced: the components in ML Metadata, the pushed
model answering serialized examples with the task's outputs, the report's sections and
what `lineage.py show` prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import lineage as lineage_cli
from pipeline.orchestration.layout import LocalLayout
from pipeline.orchestration.local import run_local_pipeline
from pipeline.orchestration.run_summary import collect_run_summary
from pipeline.settings import PipelineConfig
from pipeline.settings.loading import load_config
from tests.configs import INFERRED_SCHEMA_NODES
from tests.helpers import read_report, serialized_examples

pytestmark = pytest.mark.e2e(minutes=1.7)

# The datasets name no curated schema: SchemaGen infers one.
COMPONENTS = INFERRED_SCHEMA_NODES
REPOSITORY = Path(__file__).resolve().parent.parent


def _rows(dataset: str) -> list[dict]:
    path = REPOSITORY / load_config([f"--dataset={dataset}"], environ={}).data_path
    return [json.loads(line) for line in path.open()]


def _run(dataset: str, root: Path, *flags: str) -> dict:
    config = load_config([f"--dataset={dataset}", f"--output_root={root}", *flags], environ={})
    result = run_local_pipeline(config)
    assert result.succeeded, result.failure
    layout = LocalLayout.for_config(config)
    return {"config": config, "root": root, "summary": collect_run_summary(config, layout)}


def _serve(config: PipelineConfig, pushed: str, rows: list[dict]) -> dict[str, np.ndarray]:
    """The pushed model's answers to the rows, sent as serialized examples without the
    label, as a caller would send them."""
    unlabeled = []
    for record in serialized_examples(config, rows):
        example = tf.train.Example.FromString(record)
        del example.features.feature[config.label_name]
        unlabeled.append(example.SerializeToString())
    serve = tf.saved_model.load(pushed).signatures["serving_default"]
    return {key: value.numpy() for key, value in serve(examples=tf.constant(unlabeled)).items()}


def _show(run: dict, capsys: pytest.CaptureFixture[str]) -> str:
    code = lineage_cli.main(["show", "latest", f"--dataset={run['config'].dataset}",
                             f"--output_root={run['root']}"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def _report(summary: dict) -> object:
    return read_report(Path(summary["report"]))


def _pushed_and_blessed(run: dict) -> str:
    summary = run["summary"]
    assert {c["component"]: c["state"] for c in summary["components"]} == {
        name: "ran" for name in COMPONENTS}
    assert summary["blessed"] is True and summary["pushed"] is True
    # Served by the C++ loader's way, every answer equal to the in-process one (classes
    # and class names for multi-class, values for regression).
    assert summary["sandbox"]["blessed"] == 1 and summary["sandbox"]["answers_checked"] > 0
    stored = json.loads((Path(summary["pushed_model"]) / "assets.extra"
                         / "training_settings.json").read_text())
    assert stored["task"] == run["config"].task
    return summary["pushed_model"]


# ---------------------------------------------------------------------- multi-class
@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run("penguins", tmp_path_factory.mktemp("penguins"))


def test_penguins_are_classified_and_served_with_class_names(penguins: dict) -> None:
    pushed = _pushed_and_blessed(penguins)
    overall = penguins["summary"]["metrics"]["Overall"]
    assert overall["accuracy"] >= 0.9 and 0 < overall["log_loss"] < 0.5
    assert 0.9 <= overall["macro_f1"] <= 1

    rows = [row for row in _rows("penguins") if row["bill_length_mm"] is not None]
    answers = _serve(penguins["config"], pushed, rows)
    probabilities, classes = answers["probabilities"], answers["classes"]
    assert probabilities.shape == (len(rows), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert {name.decode() for name in classes[0]} == {"Adelie", "Chinstrap", "Gentoo"}
    top = [name.decode() for name in answers["class"]]
    assert top == [classes[0][index].decode() for index in probabilities.argmax(axis=1)]
    # Most penguins are told apart (the train split is most of the file).
    assert np.mean([predicted == row["species"] for predicted, row in zip(top, rows,
                                                                          strict=True)]) > 0.9


def test_penguin_report_and_lineage_follow_the_task(
        penguins: dict, capsys: pytest.CaptureFixture[str]) -> None:
    report = _report(penguins["summary"])
    confusion = report.tables["confusion"]
    assert [row["actual \\ predicted"] for row in confusion] == [
        key for key in confusion[0] if key != "actual \\ predicted"]  # square, same order
    eval_count = penguins["summary"]["metrics"]["Overall"]["example_count"]
    assert sum(int(value) for row in confusion for key, value in row.items()
               if key != "actual \\ predicted") == eval_count
    assert {row["class"] for row in report.tables["per_class"]} == {
        "Adelie", "Chinstrap", "Gentoo"}
    assert "accuracy drop" in report.tables["importance"][0]
    slices = {row["slice"] for row in report.tables["slices"]}
    assert "island:Biscoe" in slices  # raw values, not transformed ids

    shown = _show(penguins, capsys)
    assert "macro_f1" in shown and "log_loss" in shown and "auc" not in shown


# ---------------------------------------------------------------------- regression
@pytest.fixture(scope="module")
def fares(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run("taxi_fare", tmp_path_factory.mktemp("fares"), "--epochs=6")


def test_fares_are_predicted_in_dollars(fares: dict) -> None:
    pushed = _pushed_and_blessed(fares)
    overall = fares["summary"]["metrics"]["Overall"]
    assert overall["r2"] > 0.7 and overall["rmse"] >= overall["mae"] > 0

    rows = [row for row in _rows("taxi_fare") if row["fare"] is not None][:400]
    values = _serve(fares["config"], pushed, rows)["value"]
    assert values.shape == (len(rows), 1)
    fares_paid = np.array([row["fare"] for row in rows])
    predicted = values[:, 0]
    # In the label's units: the mean within a dollar, and far better than the mean.
    assert abs(predicted.mean() - fares_paid.mean()) < 1.0
    assert np.mean((predicted - fares_paid) ** 2) < 0.5 * fares_paid.var()


def test_fare_report_and_lineage_follow_the_task(
        fares: dict, capsys: pytest.CaptureFixture[str]) -> None:
    report = _report(fares["summary"])
    assert "confusion" not in report.tables and "calibration" not in report.tables
    assert report.images >= 2  # predicted against actual, importance
    worst = report.tables["most_wrong"]
    errors = [float(row["absolute error"]) for row in worst]
    assert errors == sorted(errors, reverse=True)
    assert all(abs(float(row["prediction"]) - float(row["label"])) == pytest.approx(
        float(row["absolute error"]), abs=2e-3) for row in worst)
    assert "r2 drop" in report.tables["importance"][0]

    shown = _show(fares, capsys)
    assert " r2 " in shown and "rmse" in shown and "auc" not in shown


# ---------------------------------------------------------------------- text
@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run("imdb", tmp_path_factory.mktemp("imdb"))


def test_a_text_feature_is_tokenized_trained_on_and_served(reviews: dict) -> None:
    pushed = _pushed_and_blessed(reviews)
    shapes = json.loads((Path(pushed) / "assets.extra" / "feature_shapes.json").read_text())
    assert shapes["text"]["review"]["length"] == 200
    assert 500 < shapes["text"]["review"]["vocabulary"] <= 5000 + 2  # + out-of-vocabulary, pad
    # (The label is needed to build the rows' examples, and taken out before serving.)
    rows = [{"review": "A wonderful, moving film. Brilliant acting!", "positive": 1},
            {"review": "Terrible. The worst, most boring movie ever made.", "positive": 0},
            {"review": "", "positive": 0},
            {"review": None, "positive": 0}]  # empty and missing text are allowed
    probabilities = _serve(reviews["config"], pushed, rows)["probability"][:, 0]
    assert np.all((probabilities > 0) & (probabilities < 1))
    assert len(set(np.round(probabilities[:2], 6))) == 2  # the words change the answer


def test_a_one_class_label_stops_the_run_before_transform(tmp_path: Path) -> None:
    adelie = tmp_path / "adelie.jsonl"
    adelie.write_text("".join(json.dumps(row) + "\n" for row in _rows("penguins")
                              if row["species"] == "Adelie"))
    config = load_config(["--dataset=penguins", f"--data_path={adelie}",
                          f"--output_root={tmp_path / 'out'}"], environ={})
    result = run_local_pipeline(config)
    assert not result.succeeded
    assert "train: the label column 'species' holds a single class" in result.failure
    states = {c["component"]: c["state"] for c in collect_run_summary(
        config, LocalLayout.for_config(config))["components"]}
    assert states["DataAnomalyGate"] == "failed" and "Transform" not in states
    assert not (tmp_path / "out" / "serving").exists()

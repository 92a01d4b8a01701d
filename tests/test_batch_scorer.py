"""BatchScorer's reading, scoring and line writing, on a small SavedModel of its own: batches
across files keep the rows' order, every row's key and pass-through text comes back (None
where it has none), and each line's prediction is the signature's own answer for that row.
The whole scoring pipeline on a trained model is tests/test_pipeline_e2e.py's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline.components.batch_scorer import _json_values, example_files, prediction_lines
from pipeline.settings import SOURCE_FEATURE
from tasks import task_named


class _Doubler(tf.Module):
    """probability = x / 100, and x read back: a signature whose answer names its row."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        x = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
        return {"probability": x / 100.0}


def _example(x: float, source: str, company: str | None) -> bytes:
    feature = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x])),
               SOURCE_FEATURE: tf.train.Feature(bytes_list=tf.train.BytesList(
                   value=[source.encode()])),
               "company": tf.train.Feature(bytes_list=tf.train.BytesList(
                   value=[company.encode()] if company is not None else []))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write_records(path: Path, records: list[bytes]) -> None:
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for record in records:
            writer.write(record)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("scorer")
    module = _Doubler()
    tf.saved_model.save(module, str(root / "model"),
                        signatures={"serving_default": module.serve.get_concrete_function()})
    split = root / "examples" / "Split-score"
    split.mkdir(parents=True)
    rows = [(float(n), f"rows.csv:{n}", None if n % 3 == 0 else f"cab {n}") for n in range(1, 8)]
    rows[1] = (2.0, "rows.csv:2", 'Caf\u00e9 "{Taxi}"\\ \u2013 \U0001F695')  # what JSON escapes
    _write_records(split / "data_tfrecord-00000-of-00002.gz", [_example(*r) for r in rows[:4]])
    _write_records(split / "data_tfrecord-00001-of-00002.gz", [_example(*r) for r in rows[4:]])
    files = example_files(str(root / "examples"))
    # Batches of 3 over files of 4 and 3 rows: a batch spans the two files.
    lines = list(prediction_lines(files, str(root / "model"), task_named("binary"),
                                  ["company", "no_such_column"], batch_size=3))
    return {"rows": rows, "files": files, "lines": [json.loads(line) for line in lines],
            "text": lines, "model": str(root / "model")}


def test_every_row_is_scored_once_in_its_files_order(scored: dict) -> None:
    assert [Path(name).name for name in scored["files"]] == [
        "data_tfrecord-00000-of-00002.gz", "data_tfrecord-00001-of-00002.gz"]
    assert [line["source"] for line in scored["lines"]] == [r[1] for r in scored["rows"]]


def test_each_line_is_the_text_json_dumps_writes(scored: dict) -> None:
    assert scored["text"] == [json.dumps(line) for line in scored["lines"]]
    assert _json_values([{"a": 0.2, "b": 0.8}]) == [json.dumps({"a": 0.2, "b": 0.8})]
    assert _json_values([0.1, float("nan")]) == ["0.1", "NaN"]


def test_each_line_holds_its_rows_texts_and_the_signatures_answer(scored: dict) -> None:
    serve = tf.saved_model.load(scored["model"]).signatures["serving_default"]
    expected = serve(examples=tf.constant([_example(*r) for r in scored["rows"]]))
    for line, (x, _source, company), probability in zip(
            scored["lines"], scored["rows"], expected["probability"].numpy()[:, 0].tolist(),
            strict=True):
        assert list(line) == ["source", "company", "no_such_column", "probability"]
        assert line["company"] == company  # None where the row has none
        assert line["no_such_column"] is None
        # Equal up to float32 rounding: TensorFlow's kernels vectorize differently for a
        # batch of 3 than of 7 (here x / 100 itself differs in the last bit).
        assert line["probability"] == pytest.approx(probability, rel=1e-6, abs=0)
        assert line["probability"] == pytest.approx(x / 100, rel=1e-6)


def test_a_batch_gives_each_row_its_own_prediction_fields_for_every_task() -> None:
    binary = task_named("binary")
    assert binary.prediction_batch({"probability": np.array([[0.25], [0.5]], np.float32)}) == [
        {"probability": 0.25}, {"probability": 0.5}]
    multiclass = task_named("multiclass")
    outputs = {"probabilities": np.array([[0.2, 0.8], [0.6, 0.4]], np.float32),
               "classes": np.array([[b"a", b"b"], [b"a", b"c"]], object),
               "class": np.array([b"b", b"a"], object)}
    assert multiclass.prediction_batch(outputs) == [
        {"class": "b", "probabilities": {"a": np.float32(0.2).item(),
                                         "b": np.float32(0.8).item()}},
        {"class": "a", "probabilities": {"a": np.float32(0.6).item(),
                                         "c": np.float32(0.4).item()}}]
    regression = task_named("regression")
    assert regression.prediction_batch({"value": np.array([[3.5], [-1.0]], np.float32)}) == [
        {"value": 3.5}, {"value": -1.0}]

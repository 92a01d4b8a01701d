"""`pipeline/analyzers.py` against tf.Transform's own approximate vocabulary, both fitted in
the same Beam run on the same rows, in TF1 graph mode (the pipeline's) and TF2 mode."""

from __future__ import annotations

import tempfile
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from pipeline.analyzers import EMPTY_VOCABULARY_TOKEN, apply_vocabularies

SPEC = {"color": tf.io.FixedLenFeature([], tf.string),
        "city": tf.io.FixedLenFeature([], tf.string),
        "blank": tf.io.FixedLenFeature([], tf.string),
        "text": tf.io.FixedLenFeature([], tf.string)}
TOP_K = {"color": 10, "city": 3, "blank": 5, "text": 10}
OOV = 2


def _rows() -> list[dict[str, bytes]]:
    """Ties (b, c and d twice each: reverse lexicographical order decides), the empty string
    and a value with a line break (which a text vocabulary file cannot hold), more distinct
    cities than `top_k` (5 of them, 6, 4, 2, 1 and 1 times), a feature with nothing
    writable, and words of a text feature."""
    colors = [b"a"] * 5 + [b"b", b"c", b"d"] * 2 + [b"", b"line\nbreak", b"e"]
    cities = [b"city0", b"city1", b"city2", b"city0", b"city3", b"city1", b"city0",
              b"city4", b"city0", b"city1", b"city2", b"city0", b"city1", b"city0"]
    words = [b"the cat", b"the dog sat", b"a cat sat", b"the end"]
    return [{"color": color, "city": city, "blank": b"",
             "text": words[index % len(words)]}
            for index, (color, city) in enumerate(zip(colors, cities, strict=True))]


def _preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    words = tf.strings.split(inputs["text"])
    values = {"color": inputs["color"], "city": inputs["city"], "blank": inputs["blank"],
              "text": words}
    ours = apply_vocabularies(values, TOP_K, OOV)
    outputs = {f"ours_{name}": ids for name, ids in ours.items()}
    for name, value in values.items():
        outputs[f"tft_{name}"] = tft.experimental.compute_and_apply_approximate_vocabulary(
            value, top_k=TOP_K[name], num_oov_buckets=OOV, vocab_filename=f"tft_{name}")
    outputs["ours_text"] = outputs["ours_text"].to_tensor(default_value=-1, shape=[None, 3])
    outputs["tft_text"] = outputs["tft_text"].to_tensor(default_value=-1, shape=[None, 3])
    return outputs


@pytest.fixture(scope="module", params=[True, False], ids=["tf1", "tf2"])
def fitted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> tft.TFTransformOutput:
    output = tmp_path_factory.mktemp("analyzers")
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    # The temporary directory goes before the output is read: the files must have been
    # copied into the transform graph's assets, not left where the analyzer wrote them.
    with tempfile.TemporaryDirectory() as temp_dir, \
            tft_beam.Context(temp_dir=temp_dir, force_tf_compat_v1=request.param):
        with beam.Pipeline() as pipeline:
            rows = pipeline | beam.Create(_rows())
            transform_fn = (rows, metadata) | tft_beam.AnalyzeDataset(_preprocessing_fn)
            _ = transform_fn | tft_beam.WriteTransformFn(str(output))
    return tft.TFTransformOutput(str(output))


def _lines(path: str) -> bytes:
    return Path(path).read_bytes()


# A vocabulary with fewer distinct values than its top_k is exact, so its file is fixed;
# beyond top_k, Misra-Gries keeps at most top_k values and every value more frequent than
# a (top_k + 1)th of the rows, but which others survive depends on how Beam batched the
# rows, for tf.Transform's analyzer as for ours.
EXACT = [name for name in SPEC if name != "city"]


def test_every_exact_vocabulary_file_is_tf_transforms_byte_for_byte(
        fitted: tft.TFTransformOutput) -> None:
    for name in SPEC:
        ours = fitted.vocabulary_file_by_name(name)
        assert ours is not None and Path(ours).parent.name == "assets", name
    for name in EXACT:
        assert _lines(fitted.vocabulary_file_by_name(name)) == _lines(
            fitted.vocabulary_file_by_name(f"tft_{name}")), name
    assert fitted.vocabulary_by_name("color") == [b"a", b"d", b"c", b"b", b"e"]
    cities = fitted.vocabulary_by_name("city")
    assert len(cities) <= TOP_K["city"] and cities[:2] == [b"city0", b"city1"]
    assert fitted.vocabulary_by_name("blank") == [EMPTY_VOCABULARY_TOKEN]
    assert fitted.vocabulary_by_name("text") == [b"the", b"sat", b"cat", b"dog", b"end", b"a"]


def test_the_ids_equal_tf_transforms_on_seen_and_unseen_values(
        fitted: tft.TFTransformOutput) -> None:
    layer = fitted.transform_features_layer()
    examples = {"color": tf.constant([b"a", b"b", b"e", b"never seen", b""]),
                "city": tf.constant([b"city0", b"city1", b"city4", b"nowhere", b"city2"]),
                "blank": tf.constant([b"", b"x", b"", b"", b""]),
                "text": tf.constant([b"the cat", b"a new word", b"", b"sat sat", b"end"])}
    outputs = {name: value.numpy() for name, value in layer(examples).items()}
    for name in EXACT:
        np.testing.assert_array_equal(outputs[f"ours_{name}"], outputs[f"tft_{name}"],
                                      err_msg=name)
    assert outputs["ours_city"][:2].tolist() == [0, 1]
    size = len(fitted.vocabulary_by_name("color"))
    assert outputs["ours_color"][:3].tolist() == [0, 3, 4]
    assert all(size <= value < size + OOV for value in outputs["ours_color"][3:])


def test_top_k_settings_stop_where_tf_transforms_approximate_vocabulary_does() -> None:
    """Both are sketches of at most top_k values; tf.Transform refuses more, and so must the
    settings, before a run starts."""
    from tensorflow_transform import analyzers as tft_analyzers

    from pipeline.settings import PipelineConfig
    from pipeline.settings.loading import load_config
    from pipeline.settings.values import ConfigError

    for name in ("vocabulary_top_k", "text_vocabulary_top_k"):
        declared = PipelineConfig.__dataclass_fields__[name].metadata["maximum"]
        assert declared == tft_analyzers.LARGE_VOCAB_TOP_K, name
        with pytest.raises(ConfigError, match=name):
            load_config([f"--{name}={declared + 1}"], environ={})


def test_features_whose_vocabulary_files_would_collide_are_refused() -> None:
    with tf.Graph().as_default(), pytest.raises(ValueError, match="'a b' and 'a-b'"):
        apply_vocabularies({"a b": tf.constant([b"x"]), "a-b": tf.constant([b"y"])},
                           {"a b": 5, "a-b": 5}, OOV)

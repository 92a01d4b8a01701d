"""How fast tf.Examples parse with each kind of feature spec TensorFlow offers.

    .venv/bin/python benchmarks/parse_speed.py [--rounds=3] [--key=value ...]

The pushed model's batch rate is bounded by its parse (benchmarks/serving_speed.py). Its
raw features are variable-length because ExampleGen writes a missing value as an empty
list, which every curated schema counts as present (`presence { min_fraction: 1.0 }`).
This parses the configured dataset's rows (testdata by default, without the label), each
spec in a saved signature loaded and called as serving_speed calls the model, at batch
4,096 and for one example:
- `varlen`: `VarLenFeature`, what the model parses today;
- `ragged`: `RaggedFeature`;
- `sequence`: `FixedLenSequenceFeature(allow_missing=True)` with a default;
- `varlen, no empty lists` and `fixed, no empty lists`: the same rows with every empty
  list removed (a missing value as an absent feature), read variable-length and as
  `FixedLenFeature` with a default. `FixedLenFeature` refuses an empty list
  (InvalidArgumentError), so only rows written that way can be parsed so.
Printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from serving_speed import serialized_examples, signature_speed, variable_length_spec

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow


def without_empty_lists(examples: list[bytes]) -> list[bytes]:
    import tensorflow as tf

    stripped = []
    for record in examples:
        example = tf.train.Example.FromString(record)
        features = example.features.feature
        for name in [name for name, feature in features.items()
                     if not getattr(feature, feature.WhichOneof("kind") or "float_list").value]:
            del features[name]
        stripped.append(example.SerializeToString())
    return stripped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    arguments, config_flags = parser.parse_known_args(argv)

    import tensorflow as tf

    examples = serialized_examples(config_flags)
    stripped = without_empty_lists(examples)
    varlen = variable_length_spec(examples)
    default = {tf.float32: float("nan"), tf.int64: 0, tf.string: b""}
    specs = {
        "varlen": varlen,
        "ragged": {name: tf.io.RaggedFeature(spec.dtype) for name, spec in varlen.items()},
        "sequence": {name: tf.io.FixedLenSequenceFeature(
            [], spec.dtype, allow_missing=True, default_value=default[spec.dtype])
            for name, spec in varlen.items()},
        "fixed": {name: tf.io.FixedLenFeature([], spec.dtype, default[spec.dtype])
                  for name, spec in varlen.items()},
    }
    signature = [tf.TensorSpec([None], tf.string, name="examples")]

    def parser_of(spec: dict) -> tf.types.experimental.ConcreteFunction:
        def parse(examples: tf.Tensor) -> dict[str, tf.Tensor]:
            parsed = tf.io.parse_example(examples, spec)
            sizes = [tf.cast(tf.size(getattr(value, "flat_values", getattr(
                value, "values", value))), tf.float32) for value in parsed.values()]
            return {"output": tf.reshape(tf.add_n(sizes), [1, 1])}
        return tf.function(parse, input_signature=signature,
                           autograph=False).get_concrete_function()

    runs = {"varlen": ("varlen", examples), "ragged": ("ragged", examples),
            "sequence": ("sequence", examples),
            "varlen, no empty lists": ("varlen", stripped),
            "fixed, no empty lists": ("fixed", stripped)}
    with tempfile.TemporaryDirectory(prefix="parse-speed-") as directory:
        module = tf.Module()
        tf.saved_model.save(module, directory, signatures={
            name: parser_of(spec) for name, spec in specs.items()})
        loaded = tf.saved_model.load(str(Path(directory))).signatures
        figures: dict[str, list] = {name: [] for name in runs}
        for _ in range(arguments.rounds):
            for name, (spec_name, rows) in runs.items():
                figures[name].append(signature_speed(loaded[spec_name], rows))
    for name, measured in figures.items():
        print(f"{name:24s} {statistics.median(rate for rate, _ in measured):>12,.0f} "
              f"examples/s at batch 4,096, one example "
              f"{statistics.median(ms for _, ms in measured):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

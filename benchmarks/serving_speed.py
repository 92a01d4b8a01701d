"""The pushed model's own scoring speed, beside the floors no model graph can go under.

    .venv/bin/python benchmarks/serving_speed.py --output_root=ROOT [--rounds=3] [--key=value ...]
    .venv/bin/python benchmarks/serving_speed.py --model=SAVED_MODEL_DIR [--rounds=3] ...

ROOT is an output root where `local_runner.py` pushed a model (the newest under
ROOT/serving is measured); `--model` names a SavedModel directory instead. The examples
are the configured dataset's rows (`--key=value` flags and `--variant=NAME` as for
`local_runner.py`; testdata by default), serialized as ExampleGen writes them, without the
label. Each round measures, in this one process and in turn:
- the model's `serving_default`: serialized examples per second at batch 4,096, and the
  median of 1,000 one-example calls (issue 23's targets: 600,000/s and 0.3 ms);
- the call floor: a saved signature with the same input that answers zeros, loaded and
  called the same way. Its one-example time is what calling any loaded signature from
  Python costs on this machine today (0.11 ms on 2026-12-06, 0.18-0.35 ms on 2026-12-07);
- parsing alone: a saved signature that only parses the same examples, every feature
  variable-length as ExampleGen's schema makes the raw features (a missing value is an
  empty list). Its batch rate is the most any model that reads tf.Examples can score.

This machine's speed varies by day by up to two times, so each round prints the model's
graph time beyond the call floor and its batch rate as a share of parsing's: figures
that compare across days. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow

BATCH = 4096
SINGLE_CALLS = 1000
BATCH_CALLS = 30


def serialized_examples(config_flags: list[str]) -> list[bytes]:
    """The configured dataset's rows as serialized tf.Examples, without the label."""
    from pipeline.components.example_gen import RowConverter, read_examples
    from pipeline.settings import IngestionSettings
    from pipeline.settings.loading import load_config

    config = load_config(config_flags, environ={})
    examples = []
    for example in read_examples(config.resolved_data_path(),
                                 RowConverter(IngestionSettings.from_config(config))):
        del example.features.feature[config.label_name]
        examples.append(example.SerializeToString())
    return examples


def variable_length_spec(examples: list[bytes]) -> dict:
    """Every feature the examples carry, variable-length, of the kind it holds."""
    import tensorflow as tf

    kinds = {"float_list": tf.float32, "int64_list": tf.int64, "bytes_list": tf.string}
    spec = {}
    for record in examples:
        for name, feature in tf.train.Example.FromString(record).features.feature.items():
            kind = feature.WhichOneof("kind")
            if kind and name not in spec:
                spec[name] = tf.io.VarLenFeature(kinds[kind])
    return spec


def save_floor_signatures(examples: list[bytes], directory: Path) -> dict[str, Path]:
    """SavedModels for the two floors: `call` answers zeros of the model's batch size,
    `parse` parses the examples and answers one number that reads every parsed value (so
    that nothing is pruned)."""
    import tensorflow as tf

    spec = variable_length_spec(examples)
    signature = [tf.TensorSpec([None], tf.string, name="examples")]

    class Floor(tf.Module):
        @tf.function(input_signature=signature, autograph=False)
        def call(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"output": tf.zeros([tf.shape(examples)[0], 1])}

        @tf.function(input_signature=signature, autograph=False)
        def parse(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
            parsed = tf.io.parse_example(examples, spec)
            sizes = [tf.cast(tf.size(value.values), tf.float32) for value in parsed.values()]
            return {"output": tf.reshape(tf.add_n(sizes), [1, 1])}

    module, paths = Floor(), {}
    for name in ("call", "parse"):
        paths[name] = directory / name
        tf.saved_model.save(module, str(paths[name]), signatures={
            "serving_default": getattr(module, name).get_concrete_function()})
    return paths


def signature_speed(serve: Callable, examples: list[bytes]) -> tuple[float, float]:
    """(examples per second at batch 4,096, median milliseconds of one example)."""
    import tensorflow as tf

    batch = tf.constant((examples * (BATCH // len(examples) + 1))[:BATCH])
    for _ in range(5):
        serve(examples=batch)
    started = time.perf_counter()
    for _ in range(BATCH_CALLS):
        serve(examples=batch)
    throughput = BATCH_CALLS * BATCH / (time.perf_counter() - started)
    single = tf.constant(examples[:1])
    for _ in range(50):
        serve(examples=single)
    latencies = []
    for _ in range(SINGLE_CALLS):
        started = time.perf_counter()
        serve(examples=single)
        latencies.append(time.perf_counter() - started)
    return throughput, statistics.median(latencies) * 1000


def measure(model_path: Path, examples: list[bytes], rounds: int) -> list[dict[str, tuple]]:
    """Per round: {"model" | "call" | "parse": (examples/s at 4,096, one example ms)}."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="serving-speed-") as directory:
        paths = {"model": model_path, **save_floor_signatures(examples, Path(directory))}
        signatures = {name: tf.saved_model.load(str(path)).signatures["serving_default"]
                      for name, path in paths.items()}
        return [{name: signature_speed(serve, examples) for name, serve in signatures.items()}
                for _ in range(rounds)]


def summary_line(figures: dict[str, tuple]) -> str:
    (model_rate, model_ms), (_, call_ms), (parse_rate, _) = (
        figures["model"], figures["call"], figures["parse"])
    return (f"model {model_rate:,.0f} examples/s at batch {BATCH:,}, one example "
            f"{model_ms:.3f} ms | call floor {call_ms:.3f} ms, parse alone "
            f"{parse_rate:,.0f}/s | graph beyond the floor {model_ms - call_ms:.3f} ms, "
            f"batch rate {model_rate / parse_rate:.0%} of parsing's")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--output_root", type=Path)
    where.add_argument("--model", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    arguments, config_flags = parser.parse_known_args(argv)
    model = arguments.model
    if model is None:
        versions = [entry for entry in (arguments.output_root / "serving").glob("*")
                    if entry.name.isdigit()]
        if not versions:
            raise SystemExit(f"no pushed model under {arguments.output_root / 'serving'}")
        model = max(versions, key=lambda entry: int(entry.name))
    print(f"Model: {model}")
    for number, figures in enumerate(
            measure(model, serialized_examples(config_flags), arguments.rounds), start=1):
        print(f"round {number}: {summary_line(figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

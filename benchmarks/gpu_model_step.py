"""The networks' own training speed on an accelerator with no TensorFlow: Keras 3 on JAX.

    .venv/bin/python benchmarks/gpu_model_step.py prepare --out=spec.json [flags]
    KERAS_BACKEND=jax python3 benchmarks/gpu_model_step.py measure --spec=spec.json

Why this exists: `benchmarks/gpu_check.py` is the GPU check (the project's `run_fn`, the
real feeder, MirroredStrategy), and needs TensorFlow with CUDA. The GPU machine lent to
this project's sessions has JAX and PyTorch with CUDA 13 and no TensorFlow, and takes at
most 64 MiB of files per call, against about 2 GB for TensorFlow with its CUDA wheels.
Our architectures are plain Keras 3 (models/*.py import no TensorFlow), so they build
and train there unchanged under Keras's JAX backend. That measures the networks' step on
the GPU fed from memory: the rate the feeder must keep up with for the input never to
bound training. It does not measure `run_fn`, the feeder or TensorFlow's GPU kernels.

`prepare` (here, with TensorFlow) runs the data steps on testdata (or `--data_path`) and
writes the Trainer's settings and the feature shapes that Transform produced. `measure`
(there) builds each registered architecture from them and trains on random inputs of
the right ranges held in memory, per batch size and precision (float32, mixed
bfloat16), printing examples per second after a warm-up (which holds the compilation).
Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def prepare(out: Path, flags: list[str]) -> None:
    import tempfile

    # isort: off
    import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
    # isort: on
    import tensorflow_transform as tft
    from tfx.orchestration import metadata
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from training_throughput import run_artifacts

    from models.feeder import count_examples, training_shapes
    from models.fn_args import trainer_fn_args
    from models.sizing import size_training
    from pipeline.definition import create_pipeline
    from pipeline.kinds import DataOnly
    from pipeline.settings import TrainingSettings
    from pipeline.settings.loading import load_config
    from pipeline.targets import local_target

    with tempfile.TemporaryDirectory(prefix="gpu-model-step-") as scratch:
        config = load_config([f"--output_root={scratch}", *flags], environ={})
        target = local_target(f"{scratch}/pipeline", metadata_connection_config=
            metadata.sqlite_metadata_connection_config(f"{scratch}/metadata.sqlite"))
        LocalDagRunner().run(create_pipeline(config, target, DataOnly()))
        artifacts = run_artifacts(config, DataOnly.pipeline_name(config))
        settings = TrainingSettings.from_config(config)
        fn_args = trainer_fn_args({**artifacts, "model": f"{scratch}/model",
                                   "model_run": f"{scratch}/model_run",
                                   "training_settings": settings.to_dict()})
        # The numbers the Trainer would choose for this table (models/sizing.py).
        settings, _ = size_training(settings, count_examples(fn_args.train_files))
        shapes = training_shapes(tft.TFTransformOutput(fn_args.transform_output),
                                 fn_args.train_files, settings)
    out.write_text(json.dumps({"settings": settings.to_dict(), "shapes": shapes.to_dict()},
                              indent=1))
    print(f"wrote {out}: {shapes.to_dict()}")


def random_inputs(shapes, rows: int, seed: int = 0) -> tuple[dict, object]:  # noqa: ANN001
    """Inputs of each feature's type and range, and labels of the task's kind."""
    import numpy as np

    from tasks import task_named

    generator = np.random.default_rng(seed)
    width = () if shapes.numeric_width == 1 else (shapes.numeric_width,)
    inputs = {name: generator.standard_normal((rows, *width)).astype("float32")
              for name in shapes.numeric}
    inputs.update({name: generator.integers(0, size, rows).astype("int64")
                   for name, size in shapes.categorical_cardinalities.items()})
    inputs.update({name: generator.integers(0, size, (rows, length)).astype("int64")
                   for name, (size, length) in shapes.text.items()})
    if not task_named(shapes.task).has_classes:
        labels = generator.standard_normal(rows).astype("float32")
    elif shapes.outputs > 1:  # a class id per example
        labels = generator.integers(0, shapes.outputs, rows).astype("int64")
    else:  # 0/1
        labels = generator.integers(0, 2, rows).astype("float32")
    return inputs, labels


def measure(spec_path: Path, batch_sizes: list[int], steps: int, budget: float) -> None:
    import keras

    from models.registry import architecture_names, build_model
    from models.shapes import FeatureShapes
    from pipeline.settings import TrainingSettings

    spec = json.loads(spec_path.read_text())
    shapes = FeatureShapes.from_dict(spec["shapes"])
    settings = TrainingSettings.from_dict(spec["settings"], "gpu_model_step")
    if keras.backend.backend() == "jax":
        import jax

        devices = jax.devices()
    else:
        devices = "(the backend's own)"
    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}, devices {devices}")
    print(f"default batch size {settings.batch_size}; {steps} timed steps each")
    print(f"{'architecture':<20} {'batch':>6} {'precision':<15} {'examples/s':>12} "
          f"{'ms/step':>8} {'warm-up s':>9}")
    started = time.monotonic()
    for name in architecture_names():
        for batch_size in batch_sizes:
            inputs, labels = random_inputs(shapes, batch_size * steps)
            for precision in ("float32", "mixed_bfloat16"):
                if time.monotonic() - started > budget:
                    print(f"stopped: the {budget:.0f} s budget is spent")
                    return
                keras.mixed_precision.set_global_policy(precision)
                keras.utils.set_random_seed(0)
                model = build_model(name, shapes, settings)
                warm = time.monotonic()
                model.fit(inputs, labels, batch_size=batch_size, epochs=1,
                          steps_per_epoch=min(20, steps), verbose=0, shuffle=False)
                warm = time.monotonic() - warm
                timed = time.monotonic()
                model.fit(inputs, labels, batch_size=batch_size, epochs=1, verbose=0,
                          shuffle=False)
                seconds = time.monotonic() - timed
                print(f"{name:<20} {batch_size:>6} {precision:<15} "
                      f"{steps * batch_size / seconds:>12,.0f} "
                      f"{1000 * seconds / steps:>8.2f} {warm:>9.1f}", flush=True)
    keras.mixed_precision.set_global_policy("float32")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_parser = commands.add_parser("prepare")
    prepare_parser.add_argument("--out", type=Path, required=True)
    measure_parser = commands.add_parser("measure")
    measure_parser.add_argument("--spec", type=Path, required=True)
    measure_parser.add_argument("--batch_sizes", default="256,4096")
    measure_parser.add_argument("--steps", type=int, default=200)
    measure_parser.add_argument("--budget_seconds", type=float, default=360)
    options, rest = parser.parse_known_args(argv)
    if options.command == "prepare":
        prepare(options.out, rest)
    else:
        measure(options.spec, [int(size) for size in options.batch_sizes.split(",")],
                options.steps, options.budget_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

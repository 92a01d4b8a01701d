"""Is training bound by its input? The Trainer's examples per second with the real feeder
(`models/feeder.py`, reading Transform's gzipped TFRecords) against the same model fed the
same batches from memory; the ratio is the share of the model's own speed the feeder
keeps (1.0: the input never waits the model).

Used by benchmarks/growth_benchmark.py and benchmarks/gpu_check.py on a pipeline run's
artifacts, found through ML Metadata.
"""

from __future__ import annotations

import time
from typing import Any

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow


def run_artifacts(config: Any, pipeline_name: str | None = None) -> dict[str, str]:
    """The directories of the latest run's Transform output and transformed examples (of
    `pipeline_name`, by default the config's pipeline)."""
    from pipeline.metadata.store import latest_run_context, open_store, run_executions
    from pipeline.orchestration.layout import LocalLayout

    store = open_store(LocalLayout.for_config(config).metadata_path)
    run = latest_run_context(store, pipeline_name or config.pipeline_name)
    transform = next(step for step in run_executions(store, run.id)
                     if step.component == "Transform")
    return {"transform_graph": transform.output("TransformGraph").uri,
            "examples": transform.output("Examples").uri}


def input_bound_ratio(config: Any, artifacts: dict[str, str], work_directory: str,
                      steps: int = 300, warmup_steps: int = 30) -> dict[str, float]:
    """Examples per second of one pass over `steps` batches: the feeder alone (no model),
    the model fed by the feeder and the model fed from memory, each after `warmup_steps`
    (which build and trace the model)."""
    import tensorflow as tf
    import tensorflow_transform as tft

    from models.distribution import choose_strategy
    from models.feeder import build_feeder, count_examples, training_shapes
    from models.fn_args import trainer_fn_args
    from models.registry import build_model
    from models.sizing import size_training
    from pipeline.settings import TrainingSettings

    settings = TrainingSettings.from_config(config)
    fn_args = trainer_fn_args({**artifacts, "model": f"{work_directory}/model",
                               "model_run": f"{work_directory}/model_run",
                               "training_settings": settings.to_dict()})
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    # The numbers the Trainer would choose for this table (models/sizing.py).
    settings, _ = size_training(settings, count_examples(fn_args.train_files))
    shapes = training_shapes(transform_output, fn_args.train_files, settings)
    strategy = choose_strategy()
    batch_size = settings.batch_size * strategy.num_replicas_in_sync
    with strategy.scope():
        model = build_model(settings.architecture, shapes, settings)

    def feeder() -> tf.data.Dataset:
        return build_feeder(fn_args.train_files, fn_args.data_accessor, transform_output,
                            settings, batch_size, training=True).repeat()

    alone = feeder().take(warmup_steps + steps)
    iterator = iter(alone)
    for _ in range(warmup_steps):
        next(iterator)
    started = time.monotonic()
    for _ in iterator:  # the feeder with no model: what the input can give at most
        pass
    feeder_alone = steps * batch_size / (time.monotonic() - started)

    model.fit(feeder().take(warmup_steps), epochs=1, verbose=0)
    started = time.monotonic()
    model.fit(feeder().take(steps), epochs=1, verbose=0)
    fed = steps * batch_size / (time.monotonic() - started)

    in_memory = feeder().take(steps).cache()
    for _ in in_memory:  # fill the cache: from here on, batches come from memory
        pass
    model.fit(in_memory.take(warmup_steps), epochs=1, verbose=0)
    started = time.monotonic()
    model.fit(in_memory, epochs=1, verbose=0)
    from_memory = steps * batch_size / (time.monotonic() - started)
    return {"feeder_alone_examples_per_second": feeder_alone,
            "feeder_examples_per_second": fed, "memory_examples_per_second": from_memory,
            "ratio": fed / from_memory, "batch_size": batch_size,
            "replicas": strategy.num_replicas_in_sync}

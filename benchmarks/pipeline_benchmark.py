"""Side-by-side benchmark: this pipeline and TFX's Chicago taxi native-Keras example.

    .venv/bin/python benchmarks/pipeline_benchmark.py [--skip-reference] [--variant=full_sample]

Both run on the same 15,000-trip sample from a cold start in fresh directories, each in
its own process, so imports and start-up count. Printed, never asserted:
- wall time and peak memory (the summed RSS of the whole process tree, sampled every
  0.1 s, so Beam's worker processes count);
- eval AUC of each pushed model on its own pipeline's eval split (computed here the same
  way for both: the reference's Evaluator reports no AUC), the accuracy its Evaluator
  reports, and the accuracy of always answering "not a big tipper";
- the pushed model's scoring speed (benchmarks/serving_speed.py): serialized tf.Examples
  per second at batch 4,096 and the median latency of one example, beside the floors
  measured in the same process (calling any loaded signature, parsing alone).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import serving_speed

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
from pipeline.settings import REPOSITORY_ROOT


def _proportional_bytes(pid: int) -> int:
    """A process's proportional set size (PSS): its private pages, plus each page it shares
    with other processes divided by how many share it. Summed over processes it counts
    shared memory once: TensorFlow's libraries, and what a forked model server shares with
    the process it was forked from, which summed RSS counts in each of them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _tree_rss_bytes(root_pid: int) -> tuple[int, int, int]:
    """(summed RSS, largest single RSS, summed PSS) of `root_pid` and its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            parent, resident_pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
        rss[int(entry)] = resident_pages * os.sysconf("SC_PAGE_SIZE")
    total, largest, proportional, stack = 0, 0, 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        largest = max(largest, rss.get(pid, 0))
        proportional += _proportional_bytes(pid) if pid in rss else 0
        stack.extend(children.get(pid, []))
    return total, largest, proportional


def sample_memory(command: list[str], env: dict[str, str], log_path: Path, cwd: Path,
                  interval: float = 0.1) -> tuple[float, list[tuple[float, int, int, int]], int]:
    """Runs `command`, sampling its process tree's memory every `interval` seconds:
    (wall seconds, [(time.time(), summed RSS, largest single RSS, summed PSS)], exit
    code)."""
    started = time.monotonic()
    samples: list[tuple[float, int, int]] = []
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=cwd)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append((time.time(), *_tree_rss_bytes(process.pid)))
                time.sleep(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        done.set()
        sampler.join()
    return time.monotonic() - started, samples, code


def measure(command: list[str], env: dict[str, str], log_path: Path, cwd: Path
            ) -> tuple[float, tuple[int, int], int]:
    """Runs `command`: (wall seconds, (peak summed, peak single-process RSS), exit code)."""
    seconds, samples, code = sample_memory(command, env, log_path, cwd)
    return (seconds, (max((total for _, total, _, _ in samples), default=0),
                      max((largest for _, _, largest, _ in samples), default=0)), code)


def latest_evaluation_metrics(metadata_path: Path) -> dict[str, float]:
    """Overall-slice metrics of the newest ModelEvaluation in an ML Metadata store."""
    from evaluation.results import metrics_by_slice
    from pipeline.metadata.store import open_store

    evaluations = open_store(metadata_path).get_artifacts_by_type("ModelEvaluation")
    if not evaluations:
        return {}
    newest = max(evaluations, key=lambda artifact: artifact.id)
    return metrics_by_slice(newest.uri, names=None).get("Overall", {})


def _example_gen_output(metadata_path: Path) -> str:
    """The uri of the newest ExampleGen's examples, found through ML Metadata."""
    from pipeline.metadata.store import open_store, outputs_of

    store = open_store(metadata_path)
    (pipeline_context,) = store.get_contexts_by_type("pipeline")
    nodes = [c for c in store.get_contexts_by_type("node")
             if c.name.startswith(f"{pipeline_context.name}.") and c.name.endswith("ExampleGen")]
    executions = store.get_executions_by_context(nodes[0].id)
    (artifact,) = outputs_of(store, max(execution.id for execution in executions))
    return artifact.uri


def eval_split_auc(metadata_path: Path, model_path: Path, output_key: str) -> float:
    """ROC AUC of a pushed model on its own pipeline's eval split, the label being a big
    tipper (tips > 0.2 * fare) for both pipelines; rank statistic, ties averaged."""
    import numpy as np
    import tensorflow as tf
    from scipy.stats import rankdata

    from pipeline.settings.label import LabelRule
    from pipeline.settings.loading import load_config

    defaults = load_config([], environ={})  # the default dataset: taxi's big tippers
    label_name, rule = defaults.label_name, LabelRule.parse(defaults.label_rule)

    files = tf.io.gfile.glob(f"{_example_gen_output(metadata_path)}/Split-eval/*")
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    labels = []
    for record in records:
        feature = tf.train.Example.FromString(record).features.feature
        if label_name in feature:  # ours: the label is in the examples
            labels.append(feature[label_name].int64_list.value[0] == 1)
        else:  # the reference keeps the raw columns: apply our label rule to them
            labels.append(rule.evaluate({
                name: (feature[name].float_list.value or [None])[0] for name in rule.columns
                if name in feature}) == 1)
    serve = tf.saved_model.load(str(model_path)).signatures["serving_default"]
    scores = np.concatenate([
        serve(examples=tf.constant(records[start:start + 4096]))[output_key].numpy().ravel()
        for start in range(0, len(records), 4096)])
    labels = np.array(labels, dtype=bool)
    ranks = rankdata(scores)
    positives, negatives = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def run_ours(work: Path, variant: str) -> dict:
    output_root = work / "ours"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_USE_LEGACY_KERAS", None)
    command = [sys.executable, "local_runner.py", f"--variant={variant}",
               f"--output_root={output_root}"]
    seconds, peak, code = measure(command, env, work / "ours.log", REPOSITORY_ROOT)
    result = {"name": f"this pipeline ({variant})", "seconds": seconds, "peak": peak,
              "code": code, "metrics": latest_evaluation_metrics(output_root / "metadata.sqlite")}
    versions = sorted((output_root / "serving").glob("*"))
    if code == 0 and versions:
        from pipeline.settings.loading import load_config
        from tasks import task_named

        # The serving output of the default dataset's task (taxi's big tippers: binary).
        output_key = task_named(load_config([], environ={}).task).prediction_key
        result["auc"] = eval_split_auc(output_root / "metadata.sqlite", versions[-1],
                                       output_key)
        examples = serving_speed.serialized_examples([f"--variant={variant}"])
        (result["scoring"],) = serving_speed.measure(versions[-1], examples, rounds=1)
    return result


def run_reference(work: Path) -> dict:
    """TFX's taxi_pipeline_native_keras as shipped, in the $HOME layout it expects."""
    import tfx

    home = work / "home"
    example_directory = Path(tfx.__file__).parent / "examples" / "chicago_taxi_pipeline"
    data = home / "taxi" / "data" / "simple"
    data.mkdir(parents=True)
    shutil.copy(example_directory / "data" / "simple" / "data.csv", data / "data.csv")
    shutil.copy(example_directory / "taxi_utils_native_keras.py", home / "taxi")
    env = {**os.environ, "HOME": str(home), "TF_USE_LEGACY_KERAS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m",
               "tfx.examples.chicago_taxi_pipeline.taxi_pipeline_native_keras"]
    seconds, peak, code = measure(command, env, work / "reference.log", work)
    metadata = home / "tfx" / "metadata" / "chicago_taxi_native_keras" / "metadata.db"
    result = {"name": "TFX taxi native-Keras example", "seconds": seconds, "peak": peak,
              "code": code,
              "metrics": latest_evaluation_metrics(metadata) if metadata.exists() else {}}
    versions = sorted((home / "taxi" / "serving_model" / "chicago_taxi_native_keras").glob("*"))
    if code == 0 and versions:
        result["auc"] = eval_split_auc(metadata, versions[-1], "outputs")
    return result


def _accuracy(metrics: dict[str, float]) -> str:
    for key in ("accuracy", "binary_accuracy", "BinaryAccuracy"):
        if key in metrics:
            return f"{metrics[key]:.3f}"
    return "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", default="full_sample")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    arguments = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pipeline-benchmark-"))
    results = [run_ours(work, arguments.variant)]
    if not arguments.skip_reference:
        results.append(run_reference(work))

    print(f"\n{'pipeline':<34}{'exit':>5}{'wall s':>9}{'peak MB sum':>13}"
          f"{'peak MB 1 proc':>16}{'eval AUC':>10}{'accuracy':>10}")
    for result in results:
        auc = f"{result['auc']:.3f}" if "auc" in result else "-"
        print(f"{result['name']:<34}{result['code']:>5}{result['seconds']:>9.1f}"
              f"{result['peak'][0] / 2**20:>13.0f}{result['peak'][1] / 2**20:>16.0f}"
              f"{auc:>10}{_accuracy(result['metrics']):>10}")
    ours = results[0]
    mean_label = ours["metrics"].get("mean_label")
    if mean_label is not None:
        print(f"\nAlways answering 'not a big tipper' would score accuracy {1 - mean_label:.3f}.")
    if "scoring" in ours:
        print("Pushed model (benchmarks/serving_speed.py): "
              f"{serving_speed.summary_line(ours['scoring'])}")
    if len(results) == 2 and results[1]["code"] == 0:
        reference = results[1]
        print(f"Wall time: {ours['seconds'] / reference['seconds']:.2f} x the reference; "
              f"peak memory: {ours['peak'][0] / max(reference['peak'][0], 1):.2f} x summed over "
              f"processes, {ours['peak'][1] / max(reference['peak'][1], 1):.2f} x "
              "for the largest process.")
    if arguments.keep:
        print(f"Working directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(result["code"] == 0 for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())

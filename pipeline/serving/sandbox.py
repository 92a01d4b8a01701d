"""ServingSandbox: the blessed candidate served from a fresh process, the way a model
server loads it, before the Pusher may ship it.

Why not TFX's InfraValidator: it checks only that TF Serving loads the model and answers,
measures no latency, needs Docker or Kubernetes, and does not run on Vertex AI. This step
runs wherever the pipeline runs (locally, and in the pipeline image on Vertex AI):
1. it copies the candidate, adds TF Serving's warmup requests built from real eval
   examples (`assets.extra/tf_serving_warmup_requests`) and keeps that copy in its
   InfraBlessing artifact (`stamped_model/`, TFX's layout), which is what the Pusher
   ships (pipeline/components/atomic_pusher.py): TF Serving and Vertex AI's prebuilt
   containers replay the warmup before their first request;
2. it starts a server in a process of its own on that copy: `tensorflow_model_server`
   when it is on PATH (a cloud image can have it), else pipeline/serving/model_server.py,
   which speaks the same REST API over a plain TensorFlow process and replays the same
   warmup. Ours is forked from a process that has imported it and TensorFlow and done
   nothing else (pipeline/processes.py), so a process's second and later sandboxes do not
   pay those 20 s of imports again; the model is loaded only in the server's process;
3. it sends every one of `sandbox_examples` eval examples (label removed) and checks the
   answers equal the serving signature's answers in this process, loaded as the
   Evaluator loads it (`tf.saved_model.load`, evaluation/slices.py: `serving_default`).
   The server loads the model as TF Serving's C++ loader does, which is not the same:
   a model only the Evaluator's loader can read passes evaluation and fails here;
4. for `sandbox_seconds` it sends single examples, then batches of `sandbox_batch_size`,
   from `sandbox_clients` concurrent clients, and measures p50 and p99 latency and
   examples per second.
The blessing is 0 (and the Pusher pushes nothing) when the model fails to load, the
answers differ, one example's p99 latency exceeds `max_latency_p99_ms`, or the batch
throughput falls below `min_examples_per_second`. The figures and the reason are the
artifact's properties in ML Metadata. A candidate the Evaluator did not bless is not
served at all.
"""

# No `from __future__ import annotations`: TFX reads this module's annotations at runtime.
# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import base64
import http.client
import json
import os
import shutil
import statistics
import subprocess
import threading
import time
from typing import Any

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import Examples, InfraBlessing, Model, ModelBlessing

from pipeline.loopback import free_ports
from pipeline.processes import WarmProcess, wait_for_line, warm_up_for
from pipeline.serving.figures import SandboxFigures
from pipeline.serving.model_server import (
    LOAD_FAILURE,
    SIGNATURE,
    error_summary,
    row_format,
    write_warmup_requests,
)
from pipeline.settings import EVAL_SPLIT, REPOSITORY_ROOT, SandboxSettings
from pipeline.storage import copy_tree, local_directory, local_files, write_text

STAMPED_MODEL_DIRECTORY = "stamped_model"  # TFX's path_constants.STAMPED_MODEL_DIR
MODEL_NAME = "candidate"
SERVER_MODULE = "pipeline.serving.model_server"
# What it imports when it runs (Keras chosen first): the fork server imports them once.
SERVER_IMPORTS = ("pipeline.keras_choice", "tensorflow")
LOAD_TIMEOUT_SECONDS = 300
WARMUP_BATCHES = (1, 8)  # example counts of the warmup requests, after a batch-size one
# Answers are float32 values written as JSON text by the server: equal to this share of
# the answers' own scale (the largest answer's magnitude, at least 1). Relative to the
# scale, not to each answer: a regression in large units (prices in the thousands) puts a
# value near 0 through the same float32 scaling, whose rounding is of the scale's size.
ANSWER_TOLERANCE = 1e-5


class SandboxFailure(Exception):
    """Why the candidate may not be pushed."""


def eval_examples(examples: Any, count: int, label_name: str) -> list[bytes]:
    """The first `count` serialized examples of the eval split, without the label: what a
    caller of the served model sends."""
    import tensorflow as tf

    split = artifact_utils.get_split_uri([examples], EVAL_SPLIT)
    files = sorted(tf.io.gfile.glob(os.path.join(split, "*")))
    compression = "GZIP" if files and files[0].endswith(".gz") else None
    serialized = []
    for record in tf.data.TFRecordDataset(files, compression_type=compression).take(count):
        example = tf.train.Example.FromString(record.numpy())
        if label_name in example.features.feature:
            del example.features.feature[label_name]
        serialized.append(example.SerializeToString(deterministic=True))
    if not serialized:
        raise SandboxFailure(f"the eval split at {split} holds no examples")
    return serialized


def in_process_answers(model_directory: str, examples: list[bytes]) -> list[Any]:
    """The serving signature's answers in this process, in TF Serving's row format."""
    import tensorflow as tf

    signature = tf.saved_model.load(model_directory).signatures[SIGNATURE]
    outputs = signature(examples=tf.constant(examples, tf.string))
    return row_format({name: value.numpy() for name, value in outputs.items()})


def _tf_serving_binary() -> str | None:
    """TF Serving's model server when installed; `Server` runs ours otherwise."""
    return shutil.which("tensorflow_model_server")


def start_warming_the_server() -> None:
    """Starts the fork server that `Server` forks ours from (when TF Serving is not
    installed), without waiting for it: its imports (TensorFlow, several seconds in a
    process that has none running yet, as every Vertex AI step is) overlap the sandbox's
    reading of examples and copying of the model instead of following them."""
    if not _tf_serving_binary():
        warm_up_for(SERVER_MODULE, SERVER_IMPORTS)


@local_files
class Server:
    """A model server process on `base_path/1`: TF Serving when installed, else ours,
    forked from a process that has imported TensorFlow and nothing else
    (pipeline/processes.py), so that a process's later sandboxes skip those imports; the
    model is loaded only in the server's own process. `base_path` and `log_path` are
    local (serve_and_measure's temporary copy): the log is a file the process writes as
    it runs."""

    def __init__(self, base_path: str, log_path: str) -> None:
        binary = _tf_serving_binary()
        root = str(REPOSITORY_ROOT)
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self.log_path = log_path
        if binary:
            self.kind = "tensorflow_model_server"
            self.port, grpc_port = free_ports(2)
            with open(log_path, "w") as log:
                self.process = subprocess.Popen(  # noqa: S603 - our own command line
                    [binary, f"--rest_api_port={self.port}", f"--port={grpc_port}",
                     f"--model_name={MODEL_NAME}", f"--model_base_path={base_path}"],
                    stdout=log, stderr=subprocess.STDOUT, cwd=root, env=environment)
        else:
            self.kind = "tensorflow"
            self.port = 0
            self.port_path = log_path + ".port"
            self.process = WarmProcess(
                SERVER_MODULE, [f"--model_base_path={base_path}", f"--model_name={MODEL_NAME}"],
                environment, root, stdout_path=self.port_path, stderr_path=log_path,
                imports=SERVER_IMPORTS)

    def reason(self) -> str:
        """The server's own account of its failure, else its last line of output."""
        with open(self.log_path) as handle:
            lines = [line.strip() for line in handle if line.strip()]
        ours = [line[len(LOAD_FAILURE):] for line in lines if line.startswith(LOAD_FAILURE)]
        return (ours or lines or [f"exit code {self.process.returncode}"])[-1]

    def wait_until_available(self, timeout: float) -> float:
        """Seconds until the model is AVAILABLE; SandboxFailure if it never is."""
        started = time.monotonic()
        if self.kind == "tensorflow":
            # "PORT n" once listening; nothing when the process exits first.
            line = wait_for_line(self.port_path, "PORT ", self.process, timeout)
            if line is None:
                if self.process.poll() is None:
                    raise SandboxFailure(f"the model server did not listen within "
                                         f"{timeout:.0f} s")
                raise SandboxFailure(f"{LOAD_FAILURE}{self.reason()}")
            self.port = int(line.split()[1])
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise SandboxFailure(f"{LOAD_FAILURE}{self.reason()}")
            try:
                status = request(self.port, "GET", f"/v1/models/{MODEL_NAME}")
                states = [version["state"] for version in status["model_version_status"]]
                if "AVAILABLE" in states:
                    return time.monotonic() - started
            except (OSError, KeyError, ValueError):
                pass
            time.sleep(0.2)
        raise SandboxFailure(f"the model was not available after {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def request(port: int, method: str, path: str, body: dict | None = None,
            connection: http.client.HTTPConnection | None = None) -> dict:
    """One REST call; raises on a non-200 answer."""
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise SandboxFailure(f"the server answered {response.status}: "
                                 f"{payload.decode(errors='replace')[:300]}")
        return json.loads(payload)
    finally:
        if own:
            connection.close()


def predict_body(examples: list[bytes]) -> dict:
    return {"signature_name": SIGNATURE,
            "instances": [{"b64": base64.b64encode(example).decode("ascii")}
                          for example in examples]}


def _magnitude(value: Any) -> float:
    """The largest magnitude of the numbers in an answer (nested lists and dicts)."""
    if isinstance(value, dict):
        return max((_magnitude(item) for item in value.values()), default=0.0)
    if isinstance(value, list):
        return max((_magnitude(item) for item in value), default=0.0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return abs(float(value))
    return 0.0


def _differs(served: Any, expected: Any, scale: float = 1.0) -> bool:
    if isinstance(expected, dict):
        return not isinstance(served, dict) or set(served) != set(expected) or any(
            _differs(served[key], expected[key], scale) for key in expected)
    if isinstance(expected, list):
        return not isinstance(served, list) or len(served) != len(expected) or any(
            _differs(a, b, scale) for a, b in zip(served, expected, strict=False))
    if isinstance(expected, float) or isinstance(served, float):
        return not isinstance(served, (int, float)) or \
            abs(served - expected) > ANSWER_TOLERANCE * max(1.0, scale, abs(expected))
    return served != expected


def check_answers(port: int, examples: list[bytes], expected: list[Any], batch_size: int
                  ) -> int:
    """Sends every example (in batches) and compares with `expected`; the count checked."""
    scale = _magnitude(expected)
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        served = request(port, "POST", f"/v1/models/{MODEL_NAME}:predict",
                         predict_body(chunk))["predictions"]
        if len(served) != len(chunk):
            raise SandboxFailure(f"the server answered {len(served)} predictions for "
                                 f"{len(chunk)} examples")
        for offset, (answer, reference) in enumerate(
                zip(served, expected[start:start + batch_size], strict=True)):
            if _differs(answer, reference, scale):
                raise SandboxFailure(
                    f"the served answer for eval example {start + offset} differs from the "
                    f"model's in-process answer: {str(answer)[:120]} != {str(reference)[:120]}")
    return len(examples)


def load_test(port: int, bodies: list[dict], per_request: int, clients: int,
              seconds: float) -> dict[str, float]:
    """`clients` threads send `bodies` round-robin for `seconds`, each on its own
    keep-alive connection: p50/p99 latency (ms), requests and examples per second."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            turn = index
            while time.monotonic() < deadline:
                started = time.perf_counter()
                request(port, "POST", f"/v1/models/{MODEL_NAME}:predict",
                        bodies[turn % len(bodies)], connection)
                latencies[index].append(time.perf_counter() - started)
                turn += clients
        except Exception as error:  # noqa: BLE001 - reported as the sandbox's reason
            errors.append(f"{type(error).__name__}: {error}")
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    if errors:
        raise SandboxFailure(f"a request failed under load: {errors[0]}")
    every = sorted(latency for per_client in latencies for latency in per_client)
    if not every:
        raise SandboxFailure("no request completed under load")
    return {"p50_ms": 1000 * statistics.median(every),
            "p99_ms": 1000 * every[min(len(every) - 1, int(0.99 * len(every)))],
            "requests": len(every),
            "examples_per_second": len(every) * per_request / wall}


def serve_and_measure(model_directory: str, blessing_uri: str, examples: list[bytes],
                      settings: Any) -> SandboxFigures:
    """Steps 2-4 of the module's docstring on the stamped model; the figures, or
    SandboxFailure with the reason. The server runs on a local copy of the stamped model
    (`model_directory` may be on gs://), and its log is copied back to `blessing_uri`."""
    with local_directory("sandbox-") as local:
        base = os.path.join(local, "server")
        copy_tree(model_directory, os.path.join(base, "1"))
        log_path = os.path.join(local, "server.log")
        server = Server(base, log_path)
        try:
            # While the server loads the model in its process, this one loads it too (from
            # the artifact, as the Evaluator does), for the answers the Evaluator saw.
            try:
                expected = in_process_answers(model_directory, examples)
            except Exception as error:  # noqa: BLE001 - any failure to load is the verdict
                raise SandboxFailure(f"{LOAD_FAILURE}in the Evaluator's way: "
                                     f"{type(error).__name__}: {error_summary(error)}"
                                     ) from error
            load_seconds = server.wait_until_available(LOAD_TIMEOUT_SECONDS)
            answers_checked = check_answers(server.port, examples, expected,
                                            settings.sandbox_batch_size)
            half = settings.sandbox_seconds / 2
            single = load_test(server.port, [predict_body([example]) for example in examples],
                               1, settings.sandbox_clients, half)
            batch_size = settings.sandbox_batch_size
            batches = [predict_body((examples * (batch_size // len(examples) + 1))
                                    [start:start + batch_size])
                       for start in range(0, max(len(examples), batch_size), batch_size)]
            batched = load_test(server.port, batches, batch_size, settings.sandbox_clients,
                                half)
        finally:
            server.stop()
            copy_log(log_path, os.path.join(blessing_uri, "server.log"))
    return SandboxFigures(
        server=server.kind, load_seconds=load_seconds, answers_checked=answers_checked,
        latency_p50_ms=single["p50_ms"], latency_p99_ms=single["p99_ms"],
        single_requests=single["requests"], batch_latency_p50_ms=batched["p50_ms"],
        batch_latency_p99_ms=batched["p99_ms"], batch_requests=batched["requests"],
        examples_per_second=batched["examples_per_second"])


@local_files
def copy_log(local_path: str, uri: str) -> None:
    """The server's log, from serve_and_measure's local temporary directory, copied to the
    artifact (kept for a person reading why)."""
    import tensorflow as tf

    if os.path.exists(local_path):
        tf.io.gfile.copy(local_path, uri, overwrite=True)


def judge(figures: SandboxFigures, settings: Any) -> str | None:
    """The reason to block the push, or None."""
    if figures.latency_p99_ms > settings.max_latency_p99_ms:
        return (f"one example's p99 latency {figures.latency_p99_ms:.2f} ms exceeds "
                f"max_latency_p99_ms={settings.max_latency_p99_ms:g}")
    if figures.examples_per_second < settings.min_examples_per_second:
        return (f"throughput {figures.examples_per_second:,.0f} examples/s at batch "
                f"{settings.sandbox_batch_size} is below "
                f"min_examples_per_second={settings.min_examples_per_second:g}")
    return None


@component
def ServingSandbox(  # noqa: N802
    model: InputArtifact[Model],
    model_blessing: InputArtifact[ModelBlessing],
    examples: InputArtifact[Examples],
    settings: Parameter[str],
    code: Parameter[str],
    blessing: OutputArtifact[InfraBlessing],
) -> None:
    """Serves the blessed candidate in a sandbox and blesses it for the Pusher only when it
    loads, answers as the Evaluator saw it, and is fast enough (see the module's
    docstring). `code` is the hash of this step's source, so that editing it re-runs a
    cached sandbox."""
    from tfx.utils import path_utils

    sandbox = SandboxSettings.from_dict(json.loads(settings), "ServingSandbox")
    figures: SandboxFigures | None = None
    reason: str | None
    if not model_blessing.get_int_custom_property("blessed"):
        reason = "not served: the Evaluator did not bless the candidate"
    else:
        stamped = os.path.join(blessing.uri, STAMPED_MODEL_DIRECTORY)
        start_warming_the_server()
        try:
            requests = eval_examples(examples, sandbox.sandbox_examples, sandbox.label_name)
            copy_tree(path_utils.serving_model_path(model.uri), stamped)
            write_warmup_requests(stamped, [requests[:sandbox.sandbox_batch_size],
                                            *(requests[:count] for count in WARMUP_BATCHES)],
                                  MODEL_NAME)
            figures = serve_and_measure(stamped, blessing.uri, requests, sandbox)
            reason = judge(figures, sandbox)
        except SandboxFailure as failure:
            reason = str(failure)
    blessed = reason is None
    blessing.set_int_custom_property("blessed", int(blessed))
    # TFX's Pusher pushes stamped_model/ from an InfraBlessing that says it has one.
    blessing.set_int_custom_property("has_model", int(blessed))
    blessing.set_string_custom_property("reason", reason or "passed")
    properties = figures.to_properties() if figures else {}
    for key, value in properties.items():
        if isinstance(value, str):
            blessing.set_string_custom_property(key, value)
        elif isinstance(value, int):
            blessing.set_int_custom_property(key, value)
        else:
            blessing.set_float_custom_property(key, float(value))
    write_text(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "")
    summary = (", ".join(f"{key} {value:.2f}" if isinstance(value, float) else f"{key} {value}"
                         for key, value in properties.items()))
    print(f"ServingSandbox: {'passed' if blessed else 'blocked: ' + reason}"
          + (f" ({summary})" if summary else ""), flush=True)

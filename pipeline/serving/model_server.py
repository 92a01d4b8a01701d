"""A model server for the serving sandbox: TF Serving's REST API over a plain TensorFlow
process, and TF Serving's warmup records.

    python -m pipeline.serving.model_server --model_base_path=DIR --model_name=NAME [--port=0]

Why our own: the sandbox (pipeline/serving/sandbox.py) must load a candidate
the way a model server does, but `tensorflow_model_server` cannot be installed here and
is not in every image. This server speaks the subset of TF Serving's REST API the sandbox
and Vertex AI's prebuilt containers use, with TF Serving's rules, so the sandbox's client
is the same whichever server answers:
- it loads the newest numeric version under `model_base_path` with TensorFlow's C++
  SavedModel loader, as TF Serving does (`LoadedModel` says why that matters), and
  serves its `serving_default` signature;
- before it reports the model AVAILABLE it replays the model's warmup records
  (`assets.extra/tf_serving_warmup_requests`, PredictionLog records), as TF Serving does;
- `GET /v1/models/NAME` gives the version status; `POST /v1/models/NAME:predict` takes
  `{"instances": [{"b64": ...}, ...]}` (one serialized tf.Example each, the signature's
  one string input) and answers in TF Serving's row format: `{"predictions": [...]}`,
  each prediction the output's value when the signature has one output, else a dict of
  output name to value.
A model that fails to load makes the process exit non-zero with the reason on stderr.
On start it prints `PORT <n>` on stdout once it listens.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import argparse
import base64
import json
import os
import sys
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
SIGNATURE = "serving_default"
INPUT_KEY = "examples"  # models/export.py: the serving signature's one input


def write_warmup_requests(model_directory: str, request_batches: Iterable[Sequence[bytes]],
                          model_name: str = "model") -> str:
    """Writes TF Serving's warmup file into a SavedModel: one PredictionLog record per
    batch of serialized examples, each a PredictRequest to the serving signature."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path = os.path.join(model_directory, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for batch in request_batches:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SIGNATURE))
            request.inputs[INPUT_KEY].CopyFrom(
                tf.make_tensor_proto(list(batch), dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            # Deterministic (map entries in key order): the same model and examples give
            # the same bytes, so a re-run's stamped model equals the one serving.
            writer.write(log.SerializeToString(deterministic=True))
    return path


def read_warmup_requests(model_directory: str) -> list[tuple[str, dict[str, Any]]]:
    """The warmup file's requests as (signature name, {input name: numpy value}); an
    empty list when the model has none."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(model_directory, WARMUP_FILE)
    if not tf.io.gfile.exists(path):
        return []
    requests = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(record)
        request = log.predict_log.request
        requests.append((request.model_spec.signature_name or SIGNATURE,
                         {key: tf.make_ndarray(value) for key, value in request.inputs.items()}))
    return requests


LOAD_FAILURE = "the model failed to load: "


def error_summary(error: BaseException) -> str:
    """The informative line of an error (TensorFlow's start "Graph execution error:" and
    end with the node's name)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    useful = [line for line in lines if not line.endswith("execution error:")
              and not line.startswith("[[")]
    return (useful or lines or [""])[0][:300]


def latest_version(model_base_path: str) -> str:
    """The newest numeric version directory under `model_base_path`, as TF Serving picks."""
    import tensorflow as tf

    versions = [name.rstrip("/") for name in tf.io.gfile.listdir(model_base_path)]
    versions = [name for name in versions if name.isdigit()]
    if not versions:
        raise FileNotFoundError(f"no numeric version directory under {model_base_path}")
    return max(versions, key=int)


def _json_value(value: Any) -> Any:
    """A numpy value as TF Serving's REST API writes it: numbers as numbers, bytes as
    UTF-8 text (or {"b64": ...} when they are not text), arrays as nested lists."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def row_format(outputs: dict[str, Any]) -> list[Any]:
    """TF Serving's row format: one entry per example; the value itself when there is one
    output, else {output name: value}."""
    names = sorted(outputs)
    count = len(outputs[names[0]])
    if len(names) == 1:
        return [_json_value(outputs[names[0]][index]) for index in range(count)]
    return [{name: _json_value(outputs[name][index]) for name in names}
            for index in range(count)]


class LoadedModel:
    """The newest version under `model_base_path`, loaded as TF Serving loads it, and
    warmed up.

    TF Serving (and so Vertex AI's prebuilt containers) loads a SavedModel with
    TensorFlow's C++ loader: the MetaGraph into a session, its restore op for the
    variables, its initializers for the tables, then runs the signature's tensors.
    `tf.compat.v1.saved_model.loader.load` is that loader; `tf.saved_model.load`, which
    the Evaluator uses, is not, and can load models the C++ loader cannot (a Keras 3
    network whose variables are tracked only through Keras's own wrappers: every
    variable "could not be found"). So this server loads the C++ loader's way."""

    def __init__(self, model_base_path: str) -> None:
        import tensorflow as tf

        self.version = latest_version(model_base_path)
        directory = os.path.join(model_base_path, self.version)
        self._session = tf.compat.v1.Session(graph=tf.compat.v1.Graph())
        meta_graph = tf.compat.v1.saved_model.loader.load(
            self._session, [tf.saved_model.SERVING], directory)
        if SIGNATURE not in meta_graph.signature_def:
            raise ValueError(f"the SavedModel has no {SIGNATURE!r} signature "
                             f"(it has {', '.join(meta_graph.signature_def) or 'none'})")
        signature = meta_graph.signature_def[SIGNATURE]
        self._input = signature.inputs[INPUT_KEY].name
        self._outputs = {name: tensor.name for name, tensor in signature.outputs.items()}
        self.warmup_requests = 0
        for signature_name, inputs in read_warmup_requests(directory):
            if signature_name == SIGNATURE:
                self.predict_serialized(list(inputs[INPUT_KEY]))
                self.warmup_requests += 1

    def predict_serialized(self, examples: list[bytes]) -> dict[str, Any]:
        return self._session.run(self._outputs, {self._input: examples})


def _handler(model: LoadedModel, model_name: str) -> type[BaseHTTPRequestHandler]:
    status_path = f"/v1/models/{model_name}"
    predict_path = f"{status_path}:predict"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving's REST server
        # Headers and body go out as two writes; with Nagle's algorithm the body waits
        # for the client's delayed ACK of the headers, 40 ms a request.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # one line per request is noise here
            pass

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path != status_path:
                self._reply(404, {"error": f"unknown path {self.path}"})
                return
            self._reply(200, {"model_version_status": [{
                "version": model.version, "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""}}]})

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != predict_path:
                self._reply(404, {"error": f"unknown path {self.path}"})
                return
            try:
                request = json.loads(body)
                if request.get("signature_name", SIGNATURE) != SIGNATURE:
                    raise ValueError(f"unknown signature {request['signature_name']!r}")
                examples = [base64.b64decode(instance["b64"])
                            for instance in request["instances"]]
                self._reply(200, {"predictions": row_format(model.predict_serialized(examples))})
            except Exception as error:  # noqa: BLE001 - the client gets the reason, as TF Serving's
                self._reply(400, {"error": f"{type(error).__name__}: {error}"})

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_base_path", required=True)
    parser.add_argument("--model_name", default="model")
    parser.add_argument("--port", type=int, default=0)
    options = parser.parse_args(argv)
    try:
        model = LoadedModel(options.model_base_path)
    except Exception as error:  # noqa: BLE001 - the reason is the process's whole output
        print(f"{LOAD_FAILURE}{type(error).__name__}: {error_summary(error)}",
              file=sys.stderr)
        return 3
    server = ThreadingHTTPServer(("127.0.0.1", options.port),
                                 _handler(model, options.model_name))
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

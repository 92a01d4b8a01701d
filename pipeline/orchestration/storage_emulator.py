"""A Cloud Storage emulator on loopback, so that a Vertex dry run keeps every artifact on
`gs://BUCKET/...` and every library reads and writes it through its own gs:// client.

What serves gs:// here (found by trying each; see docs/vertex_dry_run.md):
- the server is `gcp-storage-emulator` (PyPI, pure Python: the JSON API, the XML upload
  and the batch endpoint), started in its own process by `StorageEmulator`;
- TensorFlow (tf.io.gfile, SavedModel, TFRecord, and so TFX's fileio, tf.Transform, TFMA,
  TFDV): TensorFlow's built-in gs:// file system has its endpoint fixed at
  www.googleapis.com, but the modular one in `tensorflow-io-gcs-filesystem` (a dependency
  of tensorflow, built on google-cloud-cpp) honours CLOUD_STORAGE_EMULATOR_ENDPOINT. It is
  loaded with TF_USE_MODULAR_FILESYSTEM=1. It crashes (a null string in its constructor)
  unless its five cache variables are set, so `environment()` sets them, to no caching;
- Beam (gcsio) and the Google Cloud client: STORAGE_EMULATOR_HOST. Beam looks for
  Application Default Credentials first and, finding none, retries for about 40 s per
  process before it connects anonymously; so the emulator also answers OAuth token
  requests (`/token`) and `StorageEmulator.credentials` is a service-account key whose
  token URI is that endpoint: every client authenticates as on Google Cloud, locally.

The emulator's XML upload fails on an empty body (`len(None)`), which is how
google-cloud-cpp creates a "directory" object; `serve()` below fixes that handler before
it starts the server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

START_TIMEOUT_S = 30
# tensorflow-io-gcs-filesystem reads these in its constructor and crashes when one is unset.
TENSORFLOW_CACHE_VARIABLES = ("GCS_READ_CACHE_BLOCK_SIZE_MB", "GCS_READ_CACHE_MAX_SIZE_MB",
                              "GCS_READ_CACHE_MAX_STALENESS", "GCS_STAT_CACHE_MAX_AGE",
                              "GCS_STAT_CACHE_MAX_ENTRIES")


class StorageEmulatorError(RuntimeError):
    """The emulator is not installed or did not start; the message says which."""


# What TensorFlow reads when it is imported: the modular gs:// file system, uncached.
TENSORFLOW_GS = {"TF_USE_MODULAR_FILESYSTEM": "1",
                 **{name: "0" for name in TENSORFLOW_CACHE_VARIABLES}}


def choose_modular_gs() -> None:
    """Makes this process's TensorFlow use the modular gs:// file system, which can reach
    the emulator (its endpoint is read at the first gs:// call, so it can be set later).
    Must run before TensorFlow is imported: afterwards the built-in one holds gs://."""
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_MODULAR_FILESYSTEM") != "1":
        raise StorageEmulatorError("TensorFlow was imported before the modular gs:// file "
                                   "system was chosen; this process cannot read the "
                                   "emulator's gs://")
    for name, value in TENSORFLOW_GS.items():
        os.environ.setdefault(name, value)


def environment(endpoint: str, credentials: Path) -> dict[str, str]:
    """The variables that send TensorFlow's, Beam's and the Google Cloud client's gs://
    calls to the emulator at `endpoint`, with `credentials` (StorageEmulator writes them)
    as Application Default Credentials. They must be set before TensorFlow is imported,
    so a dry run gives them to each task's process."""
    return {**TENSORFLOW_GS,
            "CLOUD_STORAGE_EMULATOR_ENDPOINT": endpoint,
            "STORAGE_EMULATOR_HOST": endpoint,
            "GOOGLE_APPLICATION_CREDENTIALS": str(credentials)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def service_account(endpoint: str) -> dict[str, str]:
    """A service-account key file of a fresh RSA key, its token URI the emulator's own
    (`authorized_user` files cannot say where their tokens come from; these can)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode("ascii")
    return {"type": "service_account", "project_id": "dry-run",
            "private_key_id": "dry-run", "private_key": pem,
            "client_email": "dry-run@dry-run.iam.gserviceaccount.com",
            "client_id": "0", "token_uri": f"{endpoint}/token"}


class StorageEmulator:
    """The emulator in its own process on a free loopback port, holding `bucket`, its
    objects kept under `data_directory`; a context manager that stops it."""

    def __init__(self, bucket: str, data_directory: Path) -> None:
        self.bucket = bucket
        self.data_directory = data_directory
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.credentials = data_directory / "credentials.json"
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        return environment(self.endpoint, self.credentials)

    def __enter__(self) -> StorageEmulator:
        try:
            import gcp_storage_emulator  # noqa: F401 - only to say what is missing
        except ImportError as error:
            raise StorageEmulatorError(
                "a dry run on gs:// needs the Cloud Storage emulator: install the dev "
                "dependencies (bash scripts/bootstrap.sh), or pass --storage=local") from error
        self.data_directory.mkdir(parents=True, exist_ok=True)
        self.credentials.write_text(json.dumps(service_account(self.endpoint)))
        log_path = self.data_directory.parent / "storage-emulator.log"
        self._log = log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", __name__, str(self.port), self.bucket,
             str(self.data_directory)], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StorageEmulatorError(f"the storage emulator exited with code "
                                           f"{self.process.returncode} (log: {log_path})")
            try:
                with urllib.request.urlopen(  # noqa: S310 - loopback
                        f"{self.endpoint}/storage/v1/b/{self.bucket}", timeout=2):
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise StorageEmulatorError(f"the storage emulator did not answer within "
                                   f"{START_TIMEOUT_S} s (log: {log_path})")

    def __exit__(self, *_: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()


def serve(port: int, bucket: str, data_directory: str) -> None:
    """Runs the emulator in this process until it is terminated. Objects are held in
    memory and saved to `data_directory` on SIGTERM, then loaded again by the next start,
    so that a later dry run's resolvers find the artifacts an earlier one wrote."""
    import pickle
    import signal

    from gcp_storage_emulator import server, storage
    from gcp_storage_emulator.handlers import objects

    def xml_upload(request, response, store, *args, **kwargs):  # noqa: ANN001
        if request.data is None:  # an empty object: google-cloud-cpp's "directory"
            request._data = b""
        return objects.xml_upload(request, response, store, *args, **kwargs)

    def token(request, response, store, *args, **kwargs):  # noqa: ANN001
        response.json({"access_token": "dry-run", "expires_in": 3600,
                       "token_type": "Bearer"})

    server.HANDLERS = (*tuple(
        (pattern, {method: xml_upload if handler is objects.xml_upload else handler
                   for method, handler in handlers.items()})
        for pattern, handlers in server.HANDLERS), (r"^/token$", {server.POST: token}))
    # The emulator rewrites its whole index as JSON on every write (quadratic over a
    # pipeline's thousands of objects); the in-memory index is saved once, on exit.
    storage.Storage._write_config_to_file = lambda self: None
    snapshot = Path(data_directory) / "objects.pickle"
    emulator = server.create_server("127.0.0.1", port, in_memory=True,
                                    default_bucket=None, data_dir=data_directory)
    held = emulator._storage
    fields = ("buckets", "objects", "resumable", "bucket_iam_policies", "soft_deleted")
    if snapshot.exists():
        saved = pickle.loads(snapshot.read_bytes())  # noqa: S301 - our own file
        for field in fields:
            setattr(held, field, saved[field])
        held._store._files, held._store._dirs = saved["files"], saved["dirs"]
    if bucket not in held.buckets:
        from gcp_storage_emulator.handlers.buckets import create_bucket

        create_bucket(bucket, held)

    def save_and_exit(*_: object) -> None:
        saved = {field: getattr(held, field) for field in fields}
        saved["files"], saved["dirs"] = held._store._files, held._store._dirs
        snapshot.write_bytes(pickle.dumps(saved))
        os._exit(0)

    signal.signal(signal.SIGTERM, save_and_exit)
    emulator.run()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3])

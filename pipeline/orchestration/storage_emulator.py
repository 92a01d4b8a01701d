"""A Cloud Storage emulator on loopback, so that a Vertex dry run keeps every artifact on
`gs://BUCKET/...` and every library reads and writes it through its own gs:// client.

What serves gs:// here (found by trying each; the evidence is in the comments below):
- the server is `gcp-storage-emulator` (PyPI, pure Python: the JSON API, the XML API's
  reads and uploads, resumable uploads, rewrites, batches), in its own process;
- Beam's gcsio and the Google Cloud Storage client: STORAGE_EMULATOR_HOST;
- TensorFlow (tf.io.gfile, SavedModel, TFRecord, and so TFX's fileio, tf.Transform,
  TFMA, TFDV): its built-in gs:// file system, the one a step on Vertex AI uses, has its
  endpoints fixed at https://www.googleapis.com and https://storage.googleapis.com. It
  does honour HTTPS_PROXY and CURL_CA_BUNDLE (libcurl), and GOOGLE_AUTH_TOKEN_FOR_TESTING
  with NO_GCE_CHECK for its token. So the emulator's process also runs an HTTPS proxy
  (`serve_proxy`): CONNECT to Google's storage hosts is answered with TLS under a
  certificate of those names, signed by an authority made for the run and trusted only
  through CURL_CA_BUNDLE, and each request goes on to the emulator unchanged.
  The alternative, tensorflow-io-gcs-filesystem's modular gs:// (TF_USE_MODULAR_FILESYSTEM
  =1), honours CLOUD_STORAGE_EMULATOR_ENDPOINT but is not what the cloud runs: it crashes
  unless five GCS_* cache variables are set, and it renames a directory as if it were one
  object (a RewriteObject that answers NOT_FOUND), so tf.Transform's WriteTransformFn
  fails on it while it works on the built-in file system;
- credentials: Beam looks for Application Default Credentials first and, finding none,
  retries for about 40 s per process before it connects anonymously; so the emulator
  also answers OAuth token requests (`/token`) and `StorageEmulator.credentials` is a
  service-account key whose token URI is that endpoint (`authorized_user` files cannot
  say where their tokens come from).

The emulator's uploads fail on an empty body (`len(None)`), which is how TensorFlow
creates a "directory" object; `serve()` fixes those handlers before it starts.
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

from pipeline.loopback import free_ports

START_TIMEOUT_S = 30


class StorageEmulatorError(RuntimeError):
    """The emulator is not installed or did not start; the message says which."""


def environment(endpoint: str, proxy: str, credentials: Path, authority: Path
                ) -> dict[str, str]:
    """The variables that send TensorFlow's, Beam's and the Google Cloud client's gs://
    calls to the emulator at `endpoint`: TensorFlow's through the HTTPS proxy `proxy`,
    trusting `authority`; the others directly, authenticated with `credentials`. A dry
    run gives them to each task's process; TensorFlow reads them at each request, so they
    can also be set in a process that has imported it already."""
    return {"STORAGE_EMULATOR_HOST": endpoint,
            "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
            "HTTPS_PROXY": proxy, "https_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "CURL_CA_BUNDLE": str(authority),
            "GOOGLE_AUTH_TOKEN_FOR_TESTING": "dry-run", "NO_GCE_CHECK": "True"}


def service_account(endpoint: str) -> dict[str, str]:
    """A service-account key file of a fresh RSA key, its token URI the emulator's own
    (`authorized_user` files cannot say where their tokens come from; these can)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode("ascii")
    # The key is made here, for this run only; no credential is kept in the repository.
    kind = "service_account"
    return {"type": kind, "project_id": "dry-run",
            "private_key_id": "dry-run", "private_key": pem,
            "client_email": "dry-run@dry-run.iam.gserviceaccount.com",
            "client_id": "0", "token_uri": f"{endpoint}/token"}


class StorageEmulator:
    """The emulator in its own process on a free loopback port, holding `bucket`, its
    objects kept under `data_directory`; a context manager that stops it."""

    def __init__(self, bucket: str, data_directory: Path) -> None:
        self.bucket = bucket
        self.data_directory = data_directory
        self.port, self.proxy_port = free_ports(2)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proxy = f"http://127.0.0.1:{self.proxy_port}"
        self.credentials = data_directory / "credentials.json"
        self.authority = data_directory / "authority.pem"
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        return environment(self.endpoint, self.proxy, self.credentials, self.authority)

    def __enter__(self) -> StorageEmulator:
        try:
            import gcp_storage_emulator  # noqa: F401 - only to say what is missing
        except ImportError as error:
            raise StorageEmulatorError(
                "a dry run on gs:// needs the Cloud Storage emulator: install the dev "
                "dependencies (bash scripts/bootstrap.sh), or pass --storage=local") from error
        self.data_directory.mkdir(parents=True, exist_ok=True)
        self.credentials.write_text(json.dumps(service_account(self.endpoint)))
        certificates(self.data_directory)
        log_path = self.data_directory.parent / "storage-emulator.log"
        self._log = log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", __name__, str(self.port), self.bucket,
             str(self.data_directory), str(self.proxy_port)], stdout=self._log,
            stderr=subprocess.STDOUT)
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


GOOGLE_HOSTS = ("www.googleapis.com", "storage.googleapis.com", "oauth2.googleapis.com")


def certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A certificate authority and a certificate it signs for Google's storage hosts:
    (the authority's PEM, the certificate's PEM, its key's PEM), written under
    `directory`. TensorFlow's curl trusts the authority through CURL_CA_BUNDLE."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.timezone.utc)
    # Elliptic-curve keys: each of TensorFlow's requests is a new TLS handshake.
    authority_key = ec.generate_private_key(ec.SECP256R1())
    authority = (x509.CertificateBuilder().subject_name(name("dry-run storage authority"))
                 .issuer_name(name("dry-run storage authority"))
                 .public_key(authority_key.public_key()).serial_number(1)
                 .not_valid_before(now - datetime.timedelta(days=1))
                 .not_valid_after(now + datetime.timedelta(days=30))
                 .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                 .sign(authority_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (x509.CertificateBuilder().subject_name(name(GOOGLE_HOSTS[0]))
                   .issuer_name(authority.subject).public_key(key.public_key())
                   .serial_number(2).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.SubjectAlternativeName(
                       [x509.DNSName(host) for host in GOOGLE_HOSTS]), False)
                   .sign(authority_key, hashes.SHA256()))
    paths = (directory / "authority.pem", directory / "certificate.pem",
             directory / "key.pem")
    paths[0].write_bytes(authority.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return paths


def serve_proxy(port: int, emulator_port: int, certificate: Path, key: Path) -> None:
    """An HTTPS proxy on loopback that TensorFlow's built-in gs:// file system reaches
    Google through (HTTPS_PROXY): it answers CONNECT to Google's storage hosts, speaks
    TLS as them with `certificate`, and passes each request to the emulator (the JSON API
    of www.googleapis.com, the XML API of storage.googleapis.com: the same paths)."""
    import http.client
    import http.server
    import socketserver
    import ssl
    import threading

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificate), str(key))
    hop_by_hop = {"connection", "proxy-connection", "keep-alive", "transfer-encoding",
                  "content-length", "host"}

    class Tunnel(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_CONNECT(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200, "Connection Established")
            self.end_headers()
            self.wfile.flush()
            self.connection = context.wrap_socket(self.connection, server_side=True)
            self.rfile = self.connection.makefile("rb")
            # Unbuffered, as http.server's own: the "100 Continue" that curl waits a second
            # for before it sends a body must leave at once.
            self.wfile = socketserver._SocketWriter(self.connection)
            self.close_connection = False
            while not self.close_connection:
                self.handle_one_request()

        def body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline().strip():  # trailers, up to the blank line
                    pass
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def forward(self) -> None:
            body = self.body()
            host = self.headers.get("Host", GOOGLE_HOSTS[0]).split(":")[0]
            headers = {name: value for name, value in self.headers.items()
                       if name.lower() not in hop_by_hop}
            headers["Host"] = host
            upstream = http.client.HTTPConnection("127.0.0.1", emulator_port, timeout=600)
            upstream.connect()
            upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() in hop_by_hop:
                    continue
                if name.lower() == "location":  # a resumable upload's next request
                    value = value.replace(f"http://{host}", f"https://{host}")
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            # Headers and body in one write: two small ones wait on delayed ACKs.
            self._headers_buffer.append(b"\r\n")
            if self.command != "HEAD":
                self._headers_buffer.append(payload)
            self.wfile.write(b"".join(self._headers_buffer))
            self._headers_buffer = []
            upstream.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = forward  # noqa: N815

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

        def get_request(self):  # noqa: ANN202
            connection, address = super().get_request()
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return connection, address

    proxy = Server(("127.0.0.1", port), Tunnel)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()


def serve(port: int, bucket: str, data_directory: str, proxy_port: int = 0) -> None:
    """Runs the emulator in this process until it is terminated. Objects are held in
    memory and saved to `data_directory` on SIGTERM, then loaded again by the next start,
    so that a later dry run's resolvers find the artifacts an earlier one wrote."""
    import logging
    import pickle
    import re
    import signal
    import types

    # Each request on a line of the log (storage-emulator.log), for a person reading why
    # a step's gs:// call failed.
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from gcp_storage_emulator import server, storage
    from gcp_storage_emulator.handlers import objects

    def empty_body_allowed(upload):  # noqa: ANN001, ANN202
        def handler(request, response, store, *args, **kwargs):  # noqa: ANN001, ANN202
            if request.data is None:  # an empty object, e.g. a "directory" marker
                request._data = b""
            return upload(request, response, store, *args, **kwargs)
        return handler

    uploads = {objects.xml_upload: empty_body_allowed(objects.xml_upload),
               objects.insert: empty_body_allowed(objects.insert),
               objects.upload_partial: empty_body_allowed(objects.upload_partial)}

    def token(request, response, store, *args, **kwargs):  # noqa: ANN001
        response.json({"access_token": "dry-run", "expires_in": 3600,
                       "token_type": "Bearer"})

    # An object's mediaLink, which Beam's gcsio downloads from, names the server by the
    # request's Host; through the proxy that is Google's, reachable only through the proxy.
    # Every stored object links to this server instead.
    make_resource = objects._make_object_resource
    objects._make_object_resource = lambda base_url, *args, **kwargs: make_resource(
        f"http://127.0.0.1:{port}", *args, **kwargs)
    server.HANDLERS = (*tuple(
        (pattern, {method: uploads.get(handler, handler)
                   for method, handler in handlers.items()})
        for pattern, handlers in server.HANDLERS), (r"^/token$", {server.POST: token}))
    class NoDelayServer(server.server.HTTPServer):
        """The emulator's HTTP server, answering without Nagle's delay: it writes headers
        and body apart, and the second write would wait for a delayed ACK (40 ms)."""

        def get_request(self):  # noqa: ANN202
            connection, address = super().get_request()
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return connection, address

    server.server = types.SimpleNamespace(HTTPServer=NoDelayServer)
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
        # Each object's mediaLink names the server that stored it, and Beam's gcsio
        # downloads from that link: point them at this server's port.
        here = f"http://127.0.0.1:{port}"
        for stored in held.objects.values():
            for resource in stored.values():
                for link in ("mediaLink", "selfLink"):
                    if isinstance(resource.get(link), str):
                        resource[link] = re.sub(r"^http://127\.0\.0\.1:\d+", here,
                                                resource[link])
    if bucket not in held.buckets:
        from gcp_storage_emulator.handlers.buckets import create_bucket

        create_bucket(bucket, held)

    def save_and_exit(*_: object) -> None:
        saved = {field: getattr(held, field) for field in fields}
        saved["files"], saved["dirs"] = held._store._files, held._store._dirs
        snapshot.write_bytes(pickle.dumps(saved))
        os._exit(0)

    signal.signal(signal.SIGTERM, save_and_exit)
    if proxy_port:
        serve_proxy(proxy_port, port, Path(data_directory) / "certificate.pem",
                    Path(data_directory) / "key.pem")
    emulator.run()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]))

"""What the tests' own servers (the BigQuery emulator, MariaDB) share."""

from __future__ import annotations

import subprocess


def stop(server: subprocess.Popen, timeout: float) -> None:
    """Asks `server` to stop, and kills it after `timeout` seconds."""
    server.terminate()
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()

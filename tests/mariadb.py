"""A MariaDB server of the tests' own, on loopback, for the shared metadata store
(metadata_connection=mysql://...): started in a temporary data directory, given a
database and a user with a password, and stopped afterwards. scripts/bootstrap.sh
installs Debian's package."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.loopback import free_ports
from tests.servers import stop


@dataclasses.dataclass(frozen=True)
class MariaDb:
    port: int
    database: str
    user: str
    password: str

    @property
    def connection(self) -> str:
        """The pipeline's `metadata_connection` for it (the password goes in
        MLMD_MYSQL_PASSWORD)."""
        return f"mysql://{self.user}@127.0.0.1:{self.port}/{self.database}"


@contextlib.contextmanager
def mariadb_server(directory: Path) -> Iterator[MariaDb]:
    """A running server whose files live under `directory`."""
    server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    if not Path(server).exists():
        raise RuntimeError("MariaDB is not installed: run scripts/bootstrap.sh as root, or "
                           "apt-get install mariadb-server")
    data, socket_path = directory / "data", directory / "mariadb.sock"
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                    "--auth-root-authentication-method=socket", "--skip-test-db"],
                   check=True, capture_output=True)
    [port] = free_ports(1)
    log = (directory / "mariadb.log").open("w")
    process = subprocess.Popen(
        [server, "--no-defaults", f"--datadir={data}", f"--socket={socket_path}",
         f"--port={port}", "--bind-address=127.0.0.1", "--user=root",
         "--skip-name-resolve", f"--pid-file={directory / 'mariadb.pid'}"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        client = ["mariadb", "--no-defaults", f"--socket={socket_path}", "-uroot"]
        deadline = time.monotonic() + 60
        while subprocess.run([*client, "-e", "SELECT 1"], capture_output=True).returncode:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"MariaDB did not start: {(directory / 'mariadb.log')}")
            time.sleep(0.3)
        server_info = MariaDb(port, "team_metadata", "ml", "a-password")
        subprocess.run([*client, "-e",
                        f"CREATE DATABASE {server_info.database}; "
                        f"CREATE USER '{server_info.user}'@'127.0.0.1' IDENTIFIED BY "
                        f"'{server_info.password}'; GRANT ALL ON {server_info.database}.* "
                        f"TO '{server_info.user}'@'127.0.0.1';"], check=True)
        yield server_info
    finally:
        stop(process, timeout=30)
        log.close()

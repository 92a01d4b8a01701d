"""Free ports on 127.0.0.1, for the servers this project starts on loopback (the
sandbox's model server, the dry run's storage emulator and training replicas, the
tests' emulators)."""

from __future__ import annotations

import contextlib
import socket


def free_ports(count: int = 1) -> list[int]:
    """`count` ports free at this moment, held open together so that they differ."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]

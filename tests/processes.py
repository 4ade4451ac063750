"""Real processes for tests: a private PostgreSQL cluster the test may stop, and `backline
serve` listening on a loopback port."""

from __future__ import annotations

import glob
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench.tools import as_nobody, find, stop_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; CI machines often are root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on its own port, so a test can stop and restart it."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        initdb = shutil.which("initdb") or (binaries and f"{binaries[-1]}/initdb")
        if not initdb:
            pytest.skip("PostgreSQL server binaries (initdb) are not installed")
        self.bin = Path(initdb).parent
        # Its own directory under the system temporary directory: the server's user must be
        # able to reach it, which a root-owned pytest tmp_path does not allow.
        self.root = Path(tempfile.mkdtemp(prefix="backline-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    f"{self.bin}/initdb",
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run(
            _as_postgres(
                [
                    f"{self.bin}/pg_ctl",
                    "-D",
                    str(self.data),
                    "-w",
                    "-l",
                    str(self.root / "log"),
                    "-o",
                    f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [f"{self.bin}/pg_ctl", "-D", str(self.data), "-w", "-m", "immediate", "stop"]
            ),
            check=False,
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Server:
    """`backline serve` in a child process, as an operator runs it."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        with self.log.open("w") as output:  # the child has its own copy of the file
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backline.cli", "serve", "--port", str(self.port), *args],
                env=full_env,
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"backline serve exited:\n{self.log.read_text()}")
            try:
                self.health()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"backline serve did not start:\n{self.log.read_text()}")

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.base + "/healthz", timeout=5) as response:
            return dict(json.load(response))

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Relay:
    """A TCP relay to a server, for tests that take the server away without touching it.

    ``freeze()``: connections stay open but nothing passes, and new ones are accepted but never
    reach the server (a stalled database, a dropped network path); ``thaw()`` lets everything
    through again. ``cut()``: open connections are closed and new ones refused (the server is
    gone); ``restore()`` listens again on the same port.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.frozen = threading.Event()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        # How many connections clients have opened through the relay.
        self.accepted = 0
        self.port = 0
        self.listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = int(listener.getsockname()[1])
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while not self.closed.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        while self.frozen.is_set() and not self.closed.is_set():
            time.sleep(0.05)
        upstream = socket.create_connection(self.target)
        with self.lock:
            self.sockets += [client, upstream]
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while not self.closed.is_set():
                if self.frozen.is_set():
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select([source], [], [], 0.05)
                if not ready:
                    continue
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket closed by cut()
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def freeze(self) -> None:
        self.frozen.set()

    def thaw(self) -> None:
        self.frozen.clear()

    def cut(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.closed.set()
        self.cut()


def relayed(database_url: str) -> tuple[str, Relay]:
    """``database_url`` (PostgreSQL) reached through a :class:`Relay` the test can cut."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(database_url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = parts.netloc.rsplit("@", 1)
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{relay.port}")), relay


_PGBOUNCER_INI = """\
[databases]
* = host={host} port={port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {root}/users.txt
pool_mode = transaction
; Each transaction on the next server connection: what a busy pool does to a client.
server_round_robin = 1
default_pool_size = 4
logfile = {root}/pgbouncer.log
pidfile = {root}/pgbouncer.pid
"""


class PgBouncer:
    """Debian's PgBouncer in transaction mode, in front of the test server, as a pooler in
    production would be: each transaction of a client may run on another server connection,
    and the ``options`` startup parameter is refused (no ``ignore_startup_parameters``)."""

    def __init__(self, database_url: str) -> None:
        from urllib.parse import urlsplit

        binary = find("pgbouncer")
        if binary is None:
            if os.environ.get("BACKLINE_TEST_REQUIRE_PGBOUNCER") == "1":
                pytest.fail("PgBouncer is required but not installed (apt-get install pgbouncer)")
            pytest.skip("PgBouncer is not installed (apt-get install pgbouncer)")
        parts = urlsplit(database_url)
        self.database_url = database_url
        self.port = free_port()
        # Its own directory under the system temporary directory, handed to an unprivileged
        # user when this runs as root (PgBouncer refuses to run as root).
        self.root = Path(tempfile.mkdtemp(prefix="backline-pgbouncer-"))
        (self.root / "users.txt").write_text(f'"{parts.username or "postgres"}" ""\n')
        ini = self.root / "pgbouncer.ini"
        ini.write_text(
            _PGBOUNCER_INI.format(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 5432,
                listen=self.port,
                root=self.root,
            )
        )
        self.process = subprocess.Popen(
            as_nobody(self.root, [binary, str(ini)]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("PgBouncer did not start") from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        """The test database's URL, through PgBouncer."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.database_url)
        auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{self.port}"))

    def stop(self) -> None:
        stop_server(self.root, self.root / "pgbouncer.pid", self.process)

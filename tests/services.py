"""Real Redis and PostgreSQL servers for the tests, from Debian's packages (``make system-deps`` installs them).

Each runs as a child process of the test on a free 127.0.0.1 port with its data in its own directory, and is
stopped by its PID (never by name). PostgreSQL refuses to run as root, so as root ``initdb``/``postgres`` run as
the ``postgres`` system user the Debian package creates, with the data directory handed to it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class RedisServer:
    """``redis-server`` on a free loopback port, no persistence, its files in ``directory``."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make system-deps`")
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "redis.log"
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
             "--logfile", str(log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        log.touch()
        _wait_port(self.port, self.proc, "redis-server", log, timeout)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)


def _pg_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): run `make system-deps`")
    return found[-1].parent


class PostgresServer:
    """A throw-away PostgreSQL cluster (``initdb`` into ``directory``) on a free loopback port, trust auth.

    As root the cluster lives in a fresh directory under the system temp dir instead (pytest's own is private to
    root, so the ``postgres`` user could not reach it), removed again by :meth:`stop`."""

    def __init__(self, directory: Path, *, user: str = "airflow", database: str = "airflow"):
        self.directory = Path(tempfile.mkdtemp(prefix="regwire-pg-")) if os.geteuid() == 0 else Path(directory)
        self.port = free_port()
        self.user, self.database = user, database
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _as_owner(self) -> dict:
        if os.geteuid() != 0:
            return {}
        owner = pwd.getpwnam("postgres")
        return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 60) -> PostgresServer:
        bindir = _pg_bindir()
        self.directory.mkdir(parents=True, exist_ok=True)
        data, sockets = self.directory / "data", self.directory / "run"
        sockets.mkdir(exist_ok=True)
        log = self.directory / "postgres.log"
        log.touch()
        owner = self._as_owner()
        if owner:
            for path in (self.directory, sockets, log):
                os.chown(path, owner["user"], owner["group"])
        done = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                               "--no-sync"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **owner)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr}")
        self.proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
             "-k", str(sockets), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200"],
            stdin=subprocess.DEVNULL, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
            **owner)
        _wait_port(self.port, self.proc, "postgres", log, timeout)
        deadline = time.monotonic() + timeout
        while True:  # the port opens before the server accepts logins
            done = subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                                   self.user, self.database], capture_output=True, text=True)
            if done.returncode == 0 or "already exists" in done.stderr:
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"createdb failed: {done.stderr}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, signal.SIGINT, 60)  # "fast" shutdown
        if os.geteuid() == 0:
            shutil.rmtree(self.directory, ignore_errors=True)

"""A throwaway local PostgreSQL server (``initdb`` + ``pg_ctl`` in a temporary folder, a free local port).

Used by the test suite and ``benchmarks/bench_postgres.py``; handy for trying ``retailsim load`` without a
database server. Works as root (the server then runs as the ``postgres`` system user, because ``initdb``
refuses to run as root) and as an ordinary user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from retailsim.errors import RetailsimError


class PostgresServerError(RetailsimError):
    """The throwaway server could not be found, initialised or started."""


def find_pg_bindir() -> Path | None:
    """Folder holding ``initdb``, ``pg_ctl`` and ``postgres``: ``$PG_BINDIR``, the newest Debian
    ``/usr/lib/postgresql/*/bin``, or the folder of ``initdb`` on ``PATH``; None when absent."""
    candidates: list[Path] = []
    if env := os.environ.get("PG_BINDIR"):
        candidates.append(Path(env))

    def version(initdb: Path) -> float:
        try:
            return float(initdb.parent.parent.name)
        except ValueError:
            return 0.0

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version, reverse=True)
    candidates += [p.parent for p in debian]
    if which := shutil.which("initdb"):
        candidates.append(Path(which).resolve().parent)
    for d in candidates:
        if all((d / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class TemporaryPostgres:
    """Start a private PostgreSQL cluster; stop it and delete its files on exit.

    Parameters
    ----------
    password
        Password of the superuser ``postgres``. TCP connections need it (``scram-sha-256``), so wrong
        passwords really fail, as on a production server.
    bindir
        PostgreSQL programs; found with :func:`find_pg_bindir` when None.
    durable
        Keep ``fsync`` on. Off by default: a throwaway server need not survive a power cut, and tests run faster.

    Examples
    --------
    >>> with TemporaryPostgres() as pg:  # doctest: +SKIP
    ...     load_postgres(dataset, pg.url)
    """

    def __init__(
        self, *, password: str = "retailsim", bindir: Path | None = None, durable: bool = False
    ) -> None:
        found = bindir or find_pg_bindir()
        if found is None:
            raise PostgresServerError(
                "PostgreSQL server programs (initdb, pg_ctl) not found; install Debian's `postgresql` "
                "(scripts/ensure-postgres.sh) or set PG_BINDIR"
            )
        self.bindir = found
        self.password = password
        self.durable = durable
        self.host = "127.0.0.1"
        self.port = 0
        self.base: Path | None = None
        self._running = False
        self._as_root = os.geteuid() == 0

    # -- process helpers -------------------------------------------------------------------------------
    def _run_kw(self) -> dict[str, Any]:
        if not self._as_root:
            return {}
        pw = pwd.getpwnam("postgres")
        env = {**os.environ, "HOME": pw.pw_dir, "USER": "postgres", "LOGNAME": "postgres"}
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [], "env": env}

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base,
            check=False,
            **self._run_kw(),
        )
        if check and res.returncode != 0:
            log = self._log_tail()
            raise PostgresServerError(
                f"{args[0]} failed ({res.returncode}): {(res.stderr or res.stdout).strip()}{log}"
            )
        return res

    def _log_tail(self) -> str:
        if self.base and (self.base / "server.log").exists():
            tail = (self.base / "server.log").read_text(errors="replace").splitlines()[-15:]
            return "\nserver log:\n" + "\n".join(tail)
        return ""

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> TemporaryPostgres:
        """Initialise the cluster and start the server (waits until it accepts connections)."""
        if self._as_root:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresServerError(
                    "running as root but there is no `postgres` system user to run the server as"
                ) from None
        self.base = Path(tempfile.mkdtemp(prefix="retailsim-pg-"))
        try:
            if self._as_root:
                os.chown(self.base, pw.pw_uid, pw.pw_gid)
            pwfile = self.base / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self._as_root:
                os.chown(pwfile, pw.pw_uid, pw.pw_gid)
            self._run(
                "initdb",
                "-D",
                str(self.base / "data"),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            pwfile.unlink()
            opts = [
                "-c listen_addresses=127.0.0.1",
                f"-k {self.base}",
                "-c max_connections=20",
                "-c shared_buffers=128MB",
                "-c max_wal_size=2GB",
            ]
            if not self.durable:
                opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            last = ""
            for _ in range(3):  # another process may grab the free port between our probe and the bind
                self.port = free_port(self.host)
                res = self._run(
                    "pg_ctl",
                    "-D",
                    str(self.base / "data"),
                    "-l",
                    str(self.base / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    " ".join([f"-p {self.port}", *opts]),
                    "start",
                    check=False,
                )
                if res.returncode == 0:
                    self._running = True
                    return self
                last = (res.stderr or res.stdout).strip() + self._log_tail()
            raise PostgresServerError(f"pg_ctl start failed: {last}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        if self.base is None:
            return
        if self._running or (self.base / "data" / "postmaster.pid").exists():
            with contextlib.suppress(PostgresServerError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.base / "data"), "-m", "fast", "-w", "-t", "60", "stop")
            self._running = False
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------------
    def url_for(
        self, *, user: str = "postgres", password: str | None = None, dbname: str = "postgres"
    ) -> str:
        """A ``postgresql://`` URL of this server (``password`` defaults to the superuser's)."""
        pw = self.password if password is None else password
        return f"postgresql://{user}:{pw}@{self.host}:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        """Superuser URL over TCP with the password."""
        return self.url_for()

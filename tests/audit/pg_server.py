"""A throw-away PostgreSQL server for the store tests and the benchmark.

Rules this module enforces:

* The server is a REAL PostgreSQL from the distribution's packages: ``initdb``/``pg_ctl`` are found
  via ``$DTA_PG_BINDIR``, then the newest ``/usr/lib/postgresql/*/bin`` (Debian/Ubuntu, which
  ``scripts/test`` installs as root), then ``$PATH``.
* PostgreSQL refuses to run as root: when we are root the cluster directory is owned by, and every
  server command runs as, the unprivileged ``postgres`` system user (``runuser -u postgres --``).
* The cluster lives in a fresh private temporary directory (mode 0700), listens on 127.0.0.1 on a
  free port only, keeps its unix socket in that private directory, and uses ``trust`` auth for the
  one superuser role ``dta`` — it is a test fixture, never a deployment recipe.
* :meth:`PgServer.stop` stops the server (``pg_ctl stop -m immediate``) and removes the directory;
  it is also registered with :mod:`atexit`. A test process killed outright cannot clean up, so
  each cluster directory records its owner's pid, and every start first stops and removes the
  clusters whose owner process is gone.
* ``$DTA_TEST_PG_URL`` (an existing server's ``postgresql://`` URL) replaces the local server.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

__all__ = ["PgServer", "PgUnavailable", "find_bindir", "unique_url"]

_PREFIX = "dta-pg-"


class PgUnavailable(RuntimeError):
    """No PostgreSQL server can be started here (message says why)."""


def find_bindir() -> Path:
    """Directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Raises:
        PgUnavailable: no PostgreSQL server binaries are installed.
    """
    env = os.environ.get("DTA_PG_BINDIR")
    if env:
        if (Path(env) / "initdb").is_file():
            return Path(env)
        raise PgUnavailable(f"DTA_PG_BINDIR={env} has no initdb")

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parents[1].name
        return tuple(int(p) for p in name.split(".") if p.isdigit()) or (0,)

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    if which:
        return Path(which).parent
    raise PgUnavailable(
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb "
        "on PATH); install the distribution's 'postgresql' package or set DTA_PG_BINDIR"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def unique_url(base: str, prefix: str = "t") -> str:
    """``base`` with a fresh ``schema=`` query parameter, so each test gets its own log."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}schema={prefix}_{uuid.uuid4().hex[:16]}"


class PgServer:
    """One private PostgreSQL cluster: ``start()``, ``url``, ``stop()``.

    Args:
        durable: keep PostgreSQL's default ``fsync=on``/``synchronous_commit=on`` (benchmarks);
            tests turn them off because they kill clients, never the server.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.bindir: Path | None = None
        self.root: Path | None = None
        self.port = 0
        self.url = ""
        self._user: str | None = None
        self._external = False

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self._user:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        return subprocess.run(
            cmd, capture_output=True, text=True, check=False, timeout=timeout, cwd="/"
        )

    def start(self) -> PgServer:
        """Initialise and start the cluster (or adopt ``$DTA_TEST_PG_URL``).

        Raises:
            PgUnavailable: binaries missing, no unprivileged user, or the server did not start.
        """
        external = os.environ.get("DTA_TEST_PG_URL")
        if external:
            self.url, self._external = external, True
            return self
        self.bindir = find_bindir()
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    pwd.getpwnam(name)
                    self._user = name
                    break
            if self._user is None:
                raise PgUnavailable("running as root and no unprivileged 'postgres' user exists")
            if shutil.which("runuser") is None:
                raise PgUnavailable("running as root and 'runuser' is not available")
        self._reap_orphans()
        self.root = Path(tempfile.mkdtemp(prefix=_PREFIX))
        (self.root / "owner.pid").write_text(str(os.getpid()))
        atexit.register(self.stop)
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        data, sock = self.root / "data", self.root / "sock"
        res = self._run(
            str(self.bindir / "initdb"), "-D", str(data), "-U", "dta", "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        if res.returncode:
            self.stop()
            raise PgUnavailable(f"initdb failed: {res.stderr.strip()[-500:]}")
        self._run("mkdir", "-m", "0700", str(sock))
        settings = [
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={sock}",
            "-c max_connections=60",
            "-c shared_buffers=64MB",
            "-c log_min_messages=warning",
        ]
        if not self.durable:
            settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        last = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = _free_port()
            opts = " ".join([f"-c port={self.port}", *settings])
            res = self._run(
                str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.root / "server.log"),
                "-o", opts, "-w", "-t", "60", "start",
            )  # fmt: skip
            if res.returncode == 0:
                self.url = f"postgresql://dta@127.0.0.1:{self.port}/postgres"
                return self
            last = res.stderr.strip() or res.stdout.strip()
            with contextlib.suppress(OSError):
                last += " | " + (self.root / "server.log").read_text()[-500:]
        self.stop()
        raise PgUnavailable(f"pg_ctl start failed: {last[-800:]}")

    def _reap_orphans(self) -> None:
        """Stop and delete clusters left by test processes that were killed."""
        for owner in glob.glob(os.path.join(tempfile.gettempdir(), _PREFIX + "*", "owner.pid")):
            root = Path(owner).parent
            try:
                pid = int(Path(owner).read_text())
                os.kill(pid, 0)
                continue  # its owner still runs
            except ProcessLookupError:
                pass
            except (OSError, ValueError):
                continue
            orphan = PgServer()
            orphan.bindir, orphan.root, orphan._user = self.bindir, root, self._user
            orphan.stop()

    def stop(self) -> None:
        """Stop the server and delete its directory (idempotent)."""
        if self._external or self.root is None:
            return
        root, self.root = self.root, None
        data = root / "data"
        if self.bindir is not None and (data / "postmaster.pid").exists():
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)

"""Private PostgreSQL 15 clusters for the operations tests (Debian's ``pg_createcluster``).

Contract:
- ``Cluster.create(port, settings)`` makes a fresh cluster named ``onecard_ops_<port>``
  listening on 127.0.0.1:<port> only, trust authentication (replication included) for
  127.0.0.1, started and answering; ``drop()`` stops it and removes its configuration
  and data. A leftover of an interrupted run on that port is dropped first.
- ``Cluster.standby_of(primary, port, name)`` makes a streaming standby of ``primary``
  with ``pg_basebackup -R`` (its walreceiver announces itself as ``name``, the name
  ``synchronous_standby_names`` lists on the primary) and starts it.
  ``Cluster.restored(port, base, settings)`` starts a cluster from a base backup copy
  with ``recovery.signal`` (point-in-time recovery).
- ``kill_postmaster()`` is ``kill -9`` of the postmaster; ``promote()`` is
  ``pg_ctlcluster … promote`` (it waits until the standby takes writes).
- ``cluster_lock()`` serialises the tests that use these ports across pytest processes
  on one machine. Everything here is bounded: each wait has a deadline.
- Needs ``pg_createcluster`` and root (the clusters are owned by ``postgres``) or the
  ``postgres`` user; ``available()`` says whether this machine can.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

VERSION = "15"
LOCK = Path(tempfile.gettempdir()) / "onecard-ops-clusters.lock"
ETC = Path("/etc/postgresql") / VERSION
HBA = """\
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
"""
# Small and quick: these clusters hold one small city.
BASE_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "shared_buffers": "'32MB'",
    "max_connections": "60",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "log_min_messages": "warning",
}


def available() -> str | None:
    """``None`` when clusters can be made here, else why not (a skip reason)."""
    if shutil.which("pg_createcluster") is None:
        return "pg_createcluster (postgresql-common) is not installed"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != "postgres":
        return "making PostgreSQL clusters needs root or the postgres user"
    return None


def as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def run(cmd: list[str], timeout: float = 120) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


@contextlib.contextmanager
def cluster_lock() -> Iterator[None]:
    with LOCK.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def postgres_dir(prefix: str) -> Path:
    """A fresh directory the postgres user owns (WAL archive, base backups)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


@dataclass
class Cluster:
    port: int
    name: str = ""
    killed: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = self.name or f"onecard_ops_{self.port}"

    # --- making ---------------------------------------------------------------------------
    @classmethod
    def create(cls, port: int, settings: dict[str, str] | None = None) -> Cluster:
        c = cls(port)
        c._make(settings or {})
        c.start()
        return c

    @classmethod
    def standby_of(
        cls, primary: Cluster, port: int, name: str, settings: dict[str, str] | None = None
    ) -> Cluster:
        c = cls(port)
        c._make(settings or {})
        c._replace_data(
            lambda: run(
                as_postgres(
                    [
                        "pg_basebackup",
                        "-d",
                        f"host=127.0.0.1 port={primary.port} user=postgres application_name={name}",
                        "-D",
                        str(c.data_dir),
                        "-R",  # standby.signal + primary_conninfo
                        "-X",
                        "stream",
                        "-c",
                        "fast",
                    ]
                )
            )
        )
        c.start()
        return c

    @classmethod
    def restored(cls, port: int, base: Path, settings: dict[str, str]) -> Cluster:
        """A cluster started from a copy of the plain base backup ``base`` in recovery
        (``recovery.signal``) with ``settings`` (restore_command, recovery_target_…)."""
        c = cls(port)
        c._make(settings)

        def copy() -> None:
            run(["cp", "-a", f"{base}/.", str(c.data_dir)])
            (c.data_dir / "recovery.signal").touch()
            if os.geteuid() == 0:
                run(["chown", "-R", "postgres:postgres", str(c.data_dir)])

        c._replace_data(copy)
        c.start()
        return c

    def _make(self, settings: dict[str, str]) -> None:
        self.drop()  # a leftover of an interrupted run
        run(
            [
                "pg_createcluster",
                VERSION,
                self.name,
                "-p",
                str(self.port),
                "--start-conf=manual",
                "--",
                "--auth=trust",
                "--no-sync",  # a throw-away cluster: initdb need not wait for the disk
            ]
        )
        (self.etc / "pg_hba.conf").write_text(HBA)
        lines = [f"{k} = {v}" for k, v in {**BASE_SETTINGS, **settings}.items()]
        conf = self.etc / "conf.d" / "onecard-ops.conf"
        conf.write_text("\n".join(lines) + "\n")

    def _replace_data(self, fill: object) -> None:
        assert callable(fill)
        for child in self.data_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        fill()

    # --- running ----------------------------------------------------------------------------
    @property
    def etc(self) -> Path:
        return ETC / self.name

    @property
    def data_dir(self) -> Path:
        return Path("/var/lib/postgresql") / VERSION / self.name

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60) -> None:
        """Start the cluster (``pg_ctlcluster`` waits until it accepts connections, or
        for a cluster in recovery, until it is consistent or has failed)."""
        run(["pg_ctlcluster", VERSION, self.name, "start"], timeout=timeout)

    def sql(self, query: str, database: str = "postgres") -> list[tuple[object, ...]]:
        dsn = self.dsn.replace("dbname=postgres", f"dbname={database}")
        with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
            cur = conn.execute(query)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []

    def wait_until(self, query: str, timeout: float = 60, database: str = "postgres") -> None:
        """Poll until ``query`` answers a true first value."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                rows = self.sql(query, database)
                last = rows[0][0] if rows else None
                if last:
                    return
            except psycopg.Error as exc:
                last = exc
            time.sleep(0.2)
        raise TimeoutError(f"{self.name}: {query!r} still {last!r} after {timeout} s")

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def kill_postmaster(self) -> None:
        """``kill -9`` of the postmaster, as a crash would: no shutdown checkpoint, no
        goodbye to clients. Its children notice and exit; any left are killed at drop."""
        pid = self.postmaster_pid()
        self.killed = [pid, *_children(pid)]
        os.kill(pid, signal.SIGKILL)

    def promote(self, timeout: float = 60) -> None:
        run(["pg_ctlcluster", VERSION, self.name, "promote"], timeout=timeout)
        self.wait_until("SELECT NOT pg_is_in_recovery()", timeout)

    def drop(self) -> None:
        for pid in self.killed:  # the backends of a killed postmaster, if any linger
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.killed = []
        if not self.etc.exists() and not self.data_dir.exists():
            return
        subprocess.run(
            ["pg_dropcluster", "--stop", VERSION, self.name],
            capture_output=True,
            timeout=120,
        )
        # pg_dropcluster refuses a cluster whose postmaster died without a clean stop;
        # what is left is ours to remove.
        with contextlib.suppress(FileNotFoundError):
            pid = self.postmaster_pid()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 0)
                raise RuntimeError(f"cluster {self.name} still runs as pid {pid}")
        shutil.rmtree(self.etc, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        for log in Path("/var/log/postgresql").glob(f"postgresql-{VERSION}-{self.name}.log*"):
            log.unlink(missing_ok=True)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found

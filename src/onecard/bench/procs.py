"""Child processes of the bench: the real HTTP server and pgbench; /proc readings.

Contract: ``Server`` starts ``onecard serve`` (uvicorn + ``create_app``, exactly what a
user runs; ``--workers`` processes) on 127.0.0.1 in a subprocess with the given environment, waits until it
answers, and stops it (SIGINT, then SIGKILL after a grace period). ``run_pgbench``
initialises pgbench's tables in their own database and runs the built-in tpcb-like
script for a duration and client count, returning its TPS.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url

from onecard.bench.city import check_local, plain_url, recreate_database
from onecard.core.db import make_engine, normalise_url

CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except OSError:
        return 0.0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a multi-process server's workers)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu_seconds(pid: int) -> float:
    return sum(proc_cpu_seconds(p) for p in process_tree(pid))


def tree_peak_rss_mb(pid: int) -> float:
    """Sum of every process's own peak RSS (an upper bound of the tree's peak)."""
    return sum(peak_rss_mb(p) for p in process_tree(pid))


def peak_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, for utilisation over an interval."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return total - idle, total


def postgres_cpu_seconds() -> float:
    total = 0.0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
        except OSError:
            continue
        total += proc_cpu_seconds(int(name))
    return total


@dataclass
class Server:
    url: str
    port: int
    env: dict[str, str]
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None
    log_path: str = "/tmp/onecard-bench-server.log"

    def start(self, timeout: float = 60.0) -> None:
        check_local(self.url)
        env = {**os.environ, **self.env}
        with open(self.log_path, "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from onecard.cli import main; main()",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--database-url",
                    self.url,
                    "--workers",
                    str(self.workers),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not start in time")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, grace: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def pgbench_url(url: str, database: str) -> str:
    return make_url(normalise_url(url)).set(database=database).render_as_string(hide_password=False)


def checkpoint(url: str) -> None:
    """Write out every dirty buffer now (``CHECKPOINT``), so that a measured phase does not
    pay for the writes of the one before it (pgbench's thousands of transactions a second,
    the city's bulk load): the checkpointer flushing them during the rush took up to a core
    of PostgreSQL's CPU, even at 100 payments/s."""
    engine = make_engine(pgbench_url(url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text("CHECKPOINT"))
    finally:
        engine.dispose()


def run_pgbench(
    url: str, clients: int, seconds: int, scale: int, database: str = "onecard_pgbench"
) -> tuple[float, str]:
    """Initialise pgbench's tables in their own database, run tpcb-like; (tps, output)."""
    target = pgbench_url(url, database)
    recreate_database(target)
    dsn = plain_url(target)
    subprocess.run(
        ["pgbench", "-i", "-q", "-s", str(scale), dsn],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        ["pgbench", "-b", "tpcb-like", "-c", str(clients), "-j", "2", "-T", str(seconds), dsn],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    if m is None:
        m = re.search(r"tps = ([0-9.]+)", out)
    tps = float(m.group(1)) if m else float("nan")
    engine = make_engine(pgbench_url(url, "postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    engine.dispose()
    return tps, out

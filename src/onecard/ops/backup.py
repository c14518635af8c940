"""Backups that restore: ``onecard backup`` and ``onecard restore``.

Contract:
- ``backup(url, path)`` writes one self-contained file from a live database, safe while
  payments are being taken: PostgreSQL through ``pg_dump -Fc`` (one consistent snapshot,
  compressed), SQLite through its online backup API (``sqlite3.Connection.backup``).
  The file appears under its name only when complete (written beside it as
  ``…partial``, synced, then renamed); an existing file is kept unless ``overwrite``.
- ``restore(path, url)`` brings that file back into the database at ``url``: a PostgreSQL
  dump into PostgreSQL (the database is created when it does not exist), a SQLite
  backup into SQLite. It refuses a file that is no OneCard backup of that kind, and a
  target that already holds data unless ``replace`` (then the target's ``public``
  schema is dropped and the backup restored in the same transaction). A PostgreSQL
  restore runs ``pg_restore`` into ``psql --single-transaction`` with
  ``ON_ERROR_STOP``, a SQLite restore is one write transaction of the backup API: a
  restore that fails changes nothing.
- Both report progress as ``progress(label, done, total)`` (bytes of table data for
  PostgreSQL, pages for SQLite) and raise ``core.errors``' backup errors (the tool's own message
  attached) rather than leaving a half-made file or database.
- Objects are restored owned by the connecting user (``--no-owner``) and without the
  source's grants (``--no-privileges``): a backup restores on another server whose
  roles differ. Roles and grants are the operator's to re-apply (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from onecard.core.db import libpq_params, make_engine, normalise_url
from onecard.core.errors import (
    BackupFileExists,
    BackupSourceMissing,
    BackupToolFailed,
    InvalidInput,
    NotABackup,
    TargetHoldsData,
    ToolMissing,
)

Progress = Callable[[str, int, int], None]  # (label, done, total)
Kind = Literal["postgresql", "sqlite"]

PG_MAGIC = b"PGDMP"  # pg_dump's custom format
SQLITE_MAGIC = b"SQLite format 3\x00"
# Tables every OneCard database has, whatever its migration: what makes a file ours.
OUR_TABLES = ("alembic_version", "journal_entries", "postings", "accounts")
KIND_NAMES: dict[Kind, str] = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
CHUNK = 1 << 20
SQLITE_PAGES_PER_STEP = 1024


@dataclass
class BackupReport:
    path: Path
    kind: Kind
    bytes: int
    tables: int
    seconds: float


@dataclass
class RestoreReport:
    target: str
    kind: Kind
    tables: int
    entries: int
    revision: str
    created: bool
    replaced: bool
    seconds: float


def database_kind(url: str) -> Kind:
    backend = make_url(normalise_url(url)).get_backend_name()
    if backend == "postgresql":
        return "postgresql"
    if backend == "sqlite":
        return "sqlite"
    raise InvalidInput(f"unsupported database: {backend}")


def backup_kind(path: Path) -> Kind:
    """What made the file (by its first bytes); ``NotABackup`` for anything else."""
    if not path.is_file():
        raise BackupSourceMissing(path=str(path))
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(PG_MAGIC):
        return "postgresql"
    if head == SQLITE_MAGIC:
        return "sqlite"
    raise NotABackup(path=str(path), kind="PostgreSQL / SQLite")


def newest_revision() -> str:
    """The migration a database at the newest schema records (``alembic_version``)."""
    from alembic.script import ScriptDirectory

    from onecard.migrations.runner import HERE

    head = ScriptDirectory(str(HERE)).get_current_head()
    assert head is not None
    return head


def display_target(url: str) -> str:
    """The URL without its password (and without the driver's name), for messages."""
    shown = make_url(normalise_url(url)).render_as_string(hide_password=True)
    return shown.replace("postgresql+psycopg://", "postgresql://", 1)


# --- backup -------------------------------------------------------------------------------
def backup(
    url: str, path: Path, *, overwrite: bool = False, progress: Progress | None = None
) -> BackupReport:
    """Write a backup of the database at ``url`` to ``path`` (see the module contract)."""
    path = path.resolve()
    if path.exists() and not overwrite:
        raise BackupFileExists(path=str(path))
    if not path.parent.is_dir():
        raise BackupSourceMissing(path=str(path.parent))
    partial = path.with_name(path.name + ".partial")
    started = time.monotonic()
    kind = database_kind(url)
    try:
        if kind == "postgresql":
            tables = _pg_dump(url, partial, progress)
        else:
            tables = _sqlite_backup(url, partial, progress)
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(path, kind, path.stat().st_size, tables, time.monotonic() - started)


def _pg_dump(url: str, out: Path, progress: Progress | None) -> int:
    sizes = _pg_table_sizes(url)
    total = max(1, sum(sizes.values()))
    done = 0
    current: str | None = None

    def on_line(line: str) -> None:
        nonlocal done, current
        m = re.search(r'dumping contents of table "(?:public\.)?([^"]+)"', line)
        if m and progress:
            if current is not None:
                done += sizes.get(current, 0)
            current = m.group(1)
            progress(f"备份 backup {current}", done, total)

    conninfo, env = _tool_env(url)
    cmd = [_tool("pg_dump"), "--format=custom", "--verbose", f"--file={out}", conninfo]
    _run_tool("pg_dump", cmd, env, on_line)
    if progress:
        progress("备份 backup", total, total)
    return len(sizes)


def _pg_table_sizes(url: str) -> dict[str, int]:
    """Every table of the ``public`` schema and its size on disk (the progress weights)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.relname, pg_table_size(c.oid) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
                )
            ).all()
    except DBAPIError as exc:
        raise _unreachable(url, exc) from exc
    finally:
        engine.dispose()
    found = {str(r[0]): int(r[1]) for r in rows}
    if "journal_entries" not in found:
        raise InvalidInput(f"no OneCard database at {display_target(url)} (no ledger tables)")
    return found


def _sqlite_backup(url: str, out: Path, progress: Progress | None) -> int:
    source = _sqlite_path(url)
    if not source.is_file():
        raise BackupSourceMissing(path=str(source))
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        if not _is_onecard_sqlite(src):
            raise InvalidInput(f"no OneCard database at {source} (no ledger tables)")
        dest = sqlite3.connect(out)
        try:
            src.backup(dest, pages=SQLITE_PAGES_PER_STEP, progress=_sqlite_progress(progress))
            # One self-contained file: the copy's header says WAL like its source's did.
            dest.execute("PRAGMA journal_mode=DELETE")
            tables = _sqlite_tables(dest)
        finally:
            dest.close()
    finally:
        src.close()
    return tables


# --- restore ------------------------------------------------------------------------------
def restore(
    path: Path, url: str, *, replace: bool = False, progress: Progress | None = None
) -> RestoreReport:
    """Restore the backup at ``path`` into the database at ``url`` (module contract)."""
    path = path.resolve()
    kind = backup_kind(path)
    target_kind = database_kind(url)
    if kind != target_kind:
        raise NotABackup(path=str(path), kind=KIND_NAMES[target_kind])
    started = time.monotonic()
    if kind == "postgresql":
        created, replaced = _pg_restore(path, url, replace, progress)
    else:
        created, replaced = _sqlite_restore(path, url, replace, progress)
    tables, entries, revision = _describe(url)
    return RestoreReport(
        display_target(url),
        kind,
        tables,
        entries,
        revision,
        created,
        replaced,
        time.monotonic() - started,
    )


def _pg_restore(
    path: Path, url: str, replace: bool, progress: Progress | None
) -> tuple[bool, bool]:
    _pg_listing(path)
    psql = [_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
    restore_cmd = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--verbose", "-f", "-"]
    created = _pg_admin(url, create=True)
    try:
        tables, entries = (0, 0) if created else _pg_holdings(url)
        if tables and not replace:
            raise TargetHoldsData(target=display_target(url), tables=tables, entries=entries)
        if tables:
            # Drop whatever is there in the same transaction that restores the backup: a
            # failure leaves the old database as it was. PostgreSQL 15's default public
            # schema: owned by pg_database_owner, usable by everyone.
            psql += [
                "-c",
                "SET client_min_messages = warning; DROP SCHEMA public CASCADE;"
                " CREATE SCHEMA public AUTHORIZATION pg_database_owner;"
                " GRANT USAGE ON SCHEMA public TO PUBLIC;",
            ]
        conninfo, env = _tool_env(url)
        psql += ["-f", "-", "-d", conninfo]
        _pg_stream(path, restore_cmd, psql, env, progress)
    except BaseException:
        if created:  # a failed restore leaves no database behind that it made
            _pg_admin(url, drop=True)
        raise
    return created, bool(tables)


def _pg_stream(
    path: Path,
    restore_cmd: list[str],
    psql: list[str],
    env: dict[str, str],
    progress: Progress | None,
) -> None:
    total = path.stat().st_size
    label = ["恢复 restore"]

    def on_line(line: str) -> None:
        m = re.search(r'processing data for table "(?:public\.)?([^"]+)"', line)
        if m:
            label[0] = f"恢复 restore {m.group(1)}"

    def fed(done: int) -> None:
        if progress:
            progress(label[0], done, total)

    _apply_script(path, restore_cmd, psql, env, on_line, fed)
    if progress:
        progress("恢复 restore", total, total)


def _apply_script(
    path: Path,
    restore_cmd: list[str],
    psql_cmd: list[str],
    env: dict[str, str],
    on_line: Callable[[str], None],
    fed: Callable[[int], None],
) -> None:
    """Feed ``path`` to pg_restore and its script to psql. psql commits whatever it was
    given when its input ends, so its input ends only after pg_restore finished cleanly;
    any other ending kills psql instead, and its transaction rolls back."""
    pipe = subprocess.PIPE
    applier = subprocess.Popen(
        psql_cmd, env=env, stdin=pipe, stdout=subprocess.DEVNULL, stderr=pipe
    )
    assert applier.stdin is not None and applier.stderr is not None
    applier_err = _collect(applier.stderr)
    complete = False
    reader_err = ""
    try:
        reader = subprocess.Popen(restore_cmd, env=env, stdin=pipe, stdout=pipe, stderr=pipe)
        assert reader.stdin is not None and reader.stdout is not None
        assert reader.stderr is not None
        try:
            threads = [
                threading.Thread(target=_feed, args=(path, reader.stdin, fed), daemon=True),
                threading.Thread(target=_relay, args=(reader, applier.stdin), daemon=True),
            ]
            for t in threads:
                t.start()
            reader_err = _lines(reader.stderr, on_line)
            reader.wait()
            for t in threads:
                t.join()
        finally:
            if reader.poll() is None:
                reader.kill()
            reader.wait()
            reader.stdout.close()
            reader.stderr.close()
        complete = reader.returncode == 0
    finally:
        if complete and applier.poll() is None:
            applier.stdin.close()  # the end of a complete script: psql commits
        else:
            applier.kill()
        applier.wait()
        with contextlib.suppress(BrokenPipeError):
            applier.stdin.close()
    said = applier_err()
    if applier.returncode not in (0, -signal.SIGKILL):
        raise BackupToolFailed(_tail(said) or f"exit {applier.returncode}", tool="psql")
    if not complete:
        raise BackupToolFailed(_tail(reader_err) or f"exit {reader.returncode}", tool="pg_restore")
    if applier.returncode != 0:
        raise BackupToolFailed(_tail(said) or f"exit {applier.returncode}", tool="psql")


def _relay(reader: subprocess.Popen[bytes], sink: IO[bytes]) -> None:
    """pg_restore's script to psql; if psql stops taking it, stop pg_restore too."""
    assert reader.stdout is not None
    while chunk := reader.stdout.read(CHUNK):
        try:
            sink.write(chunk)
        except BrokenPipeError:
            reader.kill()
            return


def _feed(path: Path, sink: IO[bytes], fed: Callable[[int], None]) -> None:
    done = 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                sink.write(chunk)
                done += len(chunk)
                fed(done)
    except BrokenPipeError:
        pass  # pg_restore stopped early; its own error says why
    finally:
        with contextlib.suppress(BrokenPipeError):
            sink.close()


def _pg_listing(path: Path) -> None:
    """The dump's table of contents; ``NotABackup`` unless it holds OneCard's tables."""
    out = subprocess.run([_tool("pg_restore"), "--list", str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        raise NotABackup(_tail(out.stderr), path=str(path), kind="PostgreSQL")
    for table in OUR_TABLES:
        if not re.search(rf"TABLE DATA public {table} ", out.stdout):
            raise NotABackup(f"no table {table}", path=str(path), kind="PostgreSQL")


def _pg_admin(url: str, *, create: bool = False, drop: bool = False) -> bool:
    """Create the URL's database if it does not exist (``create``; True when it made it),
    or drop it (``drop``), through the server's ``postgres`` database."""
    u = make_url(normalise_url(url))
    name = u.database
    if not name:
        raise InvalidInput("the database URL names no database")
    quoted = '"' + name.replace('"', '""') + '"'
    admin = make_engine(
        u.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            if drop:
                conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
                return False
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if exists or not create:
                return False
            conn.execute(text(f"CREATE DATABASE {quoted}"))
            return True
    except DBAPIError as exc:
        raise _unreachable(url, exc) from exc
    finally:
        admin.dispose()


def _pg_holdings(url: str) -> tuple[int, int]:
    """(tables and views outside the system schemas, ledger entries) of the target."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tables = int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_class c"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
                        " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                        " AND n.nspname NOT LIKE 'pg\\_toast%'"
                    )
                ).scalar_one()
            )
            return tables, _entries(conn)
    except DBAPIError as exc:
        raise _unreachable(url, exc) from exc
    finally:
        engine.dispose()


def _sqlite_restore(
    path: Path, url: str, replace: bool, progress: Progress | None
) -> tuple[bool, bool]:
    target = _sqlite_path(url)
    _check_sqlite_length(path)
    src = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        if not _is_onecard_sqlite(src):
            raise NotABackup("no ledger tables", path=str(path), kind="SQLite")
        # A damaged file (cut short in a copy, say) would be copied page by page as it is.
        damage = str(src.execute("PRAGMA quick_check(1)").fetchone()[0])
        if damage != "ok":
            raise NotABackup(damage, path=str(path), kind="SQLite")
        if not target.parent.is_dir():
            raise BackupSourceMissing(path=str(target.parent))
        created = not target.exists()
        try:
            tables = _sqlite_copy(src, target, replace, progress)
        except BaseException:
            if created:  # a failed restore leaves no file behind that it made
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{target}{suffix}").unlink(missing_ok=True)
            raise
    except sqlite3.DatabaseError as exc:
        raise BackupToolFailed(str(exc), tool="SQLite") from exc
    finally:
        src.close()
    return created, bool(tables)


def _sqlite_copy(
    src: sqlite3.Connection, target: Path, replace: bool, progress: Progress | None
) -> int:
    """Copy ``src`` over ``target`` in one write transaction; the target's table count
    before (``TargetHoldsData`` when it held any and not ``replace``)."""
    dest = sqlite3.connect(target, timeout=30)
    try:
        tables = _sqlite_tables(dest)
        if tables and not replace:
            entries = _entries_sqlite(dest)
            raise TargetHoldsData(target=str(target), tables=tables, entries=entries)
        src.backup(dest, pages=SQLITE_PAGES_PER_STEP, progress=_sqlite_progress(progress))
        dest.execute("PRAGMA journal_mode=WAL")  # what the server runs in
    finally:
        dest.close()
    return tables


# --- what a database holds ----------------------------------------------------------------
def _describe(url: str) -> tuple[int, int, str]:
    """(tables, ledger entries, migration revision) of a restored database."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                tables = int(
                    conn.execute(
                        text("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
                    ).scalar_one()
                )
            else:
                tables = int(
                    conn.execute(
                        text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                    ).scalar_one()
                )
            revision = str(
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            )
            return tables, _entries(conn), revision
    finally:
        engine.dispose()


def _entries(conn: Connection) -> int:
    if conn.dialect.name == "postgresql":
        present = conn.execute(text("SELECT to_regclass('public.journal_entries')")).scalar()
        if present is None:
            return 0
    return int(conn.execute(text("SELECT count(*) FROM journal_entries")).scalar_one())


def _sqlite_tables(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    return int(row[0])


def _entries_sqlite(conn: sqlite3.Connection) -> int:
    try:
        return int(conn.execute("SELECT count(*) FROM journal_entries").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _check_sqlite_length(path: Path) -> None:
    """A SQLite file cut short (its header counts more pages than it holds) is refused:
    the backup API would copy what is there without noticing."""
    with path.open("rb") as f:
        header = f.read(100)
    if len(header) < 100:
        raise NotABackup("cut short", path=str(path), kind="SQLite")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The header's page count is valid when its change counter matches (SQLite 3.7+).
    counted = pages > 0 and header[24:28] == header[92:96]
    size = path.stat().st_size
    if size % page_size or (counted and size < pages * page_size):
        raise NotABackup("cut short", path=str(path), kind="SQLite")


def _is_onecard_sqlite(conn: sqlite3.Connection) -> bool:
    try:
        names = {
            str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError:
        return False
    return set(OUR_TABLES) <= names


def _sqlite_path(url: str) -> Path:
    name = make_url(url).database
    if not name or name == ":memory:":
        raise InvalidInput("a SQLite backup needs a database file, not an in-memory database")
    return Path(name).resolve()


def _sqlite_progress(progress: Progress | None) -> Callable[[int, int, int], object] | None:
    if progress is None:
        return None

    def step(_status: int, remaining: int, total: int) -> None:
        progress("页 pages", total - remaining, total)

    return step


# --- running the PostgreSQL tools ---------------------------------------------------------
def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(tool=name)
    return found


def _tool_env(url: str) -> tuple[str, dict[str, str]]:
    """libpq connection string and environment (password, time-out) for a tool."""
    conninfo, password = libpq_params(url)
    env = {**os.environ, "PGAPPNAME": "onecard-backup"}
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    if password is not None:
        env["PGPASSWORD"] = password
    return conninfo, env


def _run_tool(
    name: str, cmd: list[str], env: dict[str, str], on_line: Callable[[str], None]
) -> None:
    with subprocess.Popen(
        cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stderr is not None
        err = _lines(proc.stderr, on_line)
        proc.wait()
    if proc.returncode != 0:
        raise BackupToolFailed(_tail(err) or f"exit {proc.returncode}", tool=name)


def _lines(stream: IO[bytes], on_line: Callable[[str], None]) -> str:
    """Read a tool's stderr line by line until it closes; the lines that are not
    progress chatter (its errors and warnings) are returned."""
    kept: list[str] = []
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip()
        on_line(line)
        if "error" in line.lower() or "fatal" in line.lower() or "warning" in line.lower():
            kept.append(line)
    return "\n".join(kept)


def _collect(stream: IO[bytes]) -> Callable[[], str]:
    """Drain ``stream`` on a thread (so the tool never blocks on a full pipe); the
    returned function gives what it said once the tool has finished."""
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(stream), daemon=True)
    reader.start()

    def result() -> str:
        reader.join()
        stream.close()
        return b"".join(chunks).decode("utf-8", "replace")

    return result


def _tail(message: str, lines: int = 5) -> str:
    return "\n".join(message.strip().splitlines()[-lines:])


def _unreachable(url: str, exc: DBAPIError) -> BackupToolFailed:
    first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return BackupToolFailed(f"{display_target(url)}: {first}", tool="PostgreSQL")

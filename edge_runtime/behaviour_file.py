"""The behaviour log's SQLite file: open it safely, hold it alone, and salvage it after a crash.

Rules, in the order :func:`open_log_file` applies them:

- A file that is not ours is never written to: a file that is not SQLite, another application's
  SQLite database (no ``meta`` table with our format) and a log of another format are refused
  before any statement that could change them (no schema, no journal-mode switch).
- One writer per file: a writable log takes an exclusive ``flock`` on the file, so a second
  process (or a second log object) gets a clear error instead of racing on sequence numbers.
  Read-only logs take no lock and never write.
- A damaged log (a file cut short by a crash, a bad page) is opened with what survived: the rows
  that can still be read are copied into a fresh file and the damaged file is kept beside it,
  renamed ``NAME.damaged-TIMESTAMP``, so nothing is lost by the repair.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from masknet_edge.edge_runtime.errors import BehaviourLogError

try:  # POSIX; on other systems a log is not protected against a second writer
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOG_FORMAT", "WAL_BYTES", "LogFile", "erase_log_file", "open_log_file"]

#: Written into the file's ``meta`` table; a file with another format is refused, never rewritten.
LOG_FORMAT = "masknet-edge behaviour log 1"

#: The write-ahead log is truncated to this size after each checkpoint.
WAL_BYTES = 1024 * 1024

_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, ts REAL NOT NULL, item TEXT NOT NULL
);
"""

_log = logging.getLogger(__name__)

Row = tuple[object, object, object, object]


@dataclass
class LogFile:
    """An open log file: its connection, the lock that keeps other writers out, and what a repair did."""

    db: sqlite3.Connection
    lock_fd: int | None
    #: Where the damaged original was moved when the file had to be repaired; None otherwise.
    damaged_copy: Path | None = None

    def close(self) -> None:
        """Close the connection, then release the lock."""
        self.db.close()
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # closing the descriptor releases the flock
            self.lock_fd = None


def _fail(path: Path, what: str, exc: BaseException | None = None) -> BehaviourLogError:
    detail = f" ({exc})" if exc is not None else ""
    return BehaviourLogError(f"behaviour log {path}: {what}{detail}")


def _lock(path: Path) -> int | None:
    """An exclusive, non-blocking ``flock`` on ``path``; BehaviourLogError when someone holds it."""
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise _fail(
            path,
            "another process (or another BehaviourLog in this one) is recording into it; a log has "
            "one writer: share one BehaviourLog object, or open it with readonly=True to read it",
        ) from None
    return fd


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if not readonly:
        return sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        # A WAL file on a read-only file system without its shared-memory file: read it as immutable.
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False, isolation_level=None)


def _check_ours(path: Path, db: sqlite3.Connection) -> None:
    """Refuse (without writing) a database that is not a behaviour log of our format."""
    query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    try:
        tables = {r[0] for r in db.execute(query)}
    except sqlite3.DatabaseError:
        # A file cut short: SQLite refuses one whose header counts more pages than it holds,
        # unless told to read the schema anyway (a setting for this connection only; we only read).
        try:
            db.execute("PRAGMA writable_schema=ON")
            tables = {r[0] for r in db.execute(query)}
        except sqlite3.DatabaseError as exc:
            raise _fail(
                path, "is not a behaviour log (or its first pages are damaged); not touching it", exc
            ) from None
    if "meta" not in tables:
        raise _fail(
            path,
            f"is another application's SQLite database (tables {sorted(tables)[:5]}), not a behaviour "
            "log; not touching it: give the log its own file",
        )
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise _fail(path, "its meta table cannot be read; not touching it", exc) from None
    if row is None or row[0] != LOG_FORMAT:
        found = None if row is None else row[0]
        raise _fail(path, f"was written as {found!r:.80}, not {LOG_FORMAT!r}; not rewriting it")
    if tables != {"meta", "events"}:
        raise _fail(path, f"holds tables {sorted(tables)[:5]}, not a behaviour log's; not touching it")


def _healthy(db: sqlite3.Connection) -> bool:
    try:
        return db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    except sqlite3.DatabaseError:
        return False


def salvage_rows(db: sqlite3.Connection) -> list[Row]:
    """Every event row that can still be read from a damaged file, in ``seq`` order.

    Reads in ``seq`` order; where a page cannot be read, seeks past it with growing steps, so rows
    after a damaged page are found too. A damaged page may hand back rows out of order (zeroed
    cells read as ``seq`` 0): only rows beyond the last one kept are taken, so the scan always ends.
    """
    rows: list[Row] = []
    after = -(2**63)
    query = "SELECT seq, kind, ts, item FROM events WHERE seq > ? ORDER BY seq"
    while True:
        try:
            for row in db.execute(query, (after,)):
                if isinstance(row[0], int) and row[0] > after:
                    rows.append(row)
                    after = row[0]
            return rows
        except sqlite3.DatabaseError:
            after = _next_readable(db, after)
            if after is None:
                return rows


def _next_readable(db: sqlite3.Connection, after: int) -> int | None:
    """Just below the first ``seq`` beyond ``after`` that a query can reach; None when none is found."""
    step = 1
    while after + step < 2**63:
        try:
            nxt = db.execute(
                "SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT 1", (after + step,)
            ).fetchone()
        except sqlite3.DatabaseError:
            nxt = ()
        if nxt is None:
            return None
        if nxt and isinstance(nxt[0], int) and nxt[0] > after + step:
            return nxt[0] - 1
        step *= 2
    return None


def _configure(db: sqlite3.Connection, durable: bool) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    db.execute("PRAGMA secure_delete=ON")
    # A small write-ahead log: checkpoint every 256 pages and truncate it to 1 MiB after, so the
    # files stay ~1.1 MiB instead of SQLite's default ~4 MiB of WAL.
    db.execute("PRAGMA wal_autocheckpoint=256")
    db.execute(f"PRAGMA journal_size_limit={WAL_BYTES}")


def _write_header(db: sqlite3.Connection) -> None:
    """The tables of a new log and its format mark."""
    db.executescript(_SCHEMA)
    db.execute("INSERT INTO meta VALUES ('format', ?)", (LOG_FORMAT,))


def _create(path: Path) -> None:
    """Create an empty file readable by its owner only (the log holds personal data)."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _repair(path: Path, db: sqlite3.Connection, durable: bool, lock_fd: int | None) -> LogFile:
    """Copy the readable rows of a damaged log into a fresh file; keep the damaged one beside it."""
    rows = salvage_rows(db)
    db.close()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    damaged = path.with_name(f"{path.name}.damaged-{stamp}")
    fresh = path.with_name(f".{path.name}.{os.getpid()}.repair")
    with contextlib.suppress(FileNotFoundError):
        fresh.unlink()
    _create(fresh)
    new = sqlite3.connect(fresh, isolation_level=None)
    try:
        _write_header(new)
        new.execute("BEGIN")
        new.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?)", rows)
        new.execute("COMMIT")
    finally:
        new.close()
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{damaged}{suffix}"))
    os.replace(fresh, path)
    _log.warning(
        "behaviour log %s was damaged; %d readable events kept, the damaged file moved to %s",
        path,
        len(rows),
        damaged,
    )
    if lock_fd is not None:  # the lock was on the damaged file's inode: take it on the new file
        os.close(lock_fd)
        lock_fd = _lock(path)
    out = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    _configure(out, durable)
    return LogFile(out, lock_fd, damaged)


def _remove_side_files(path: Path) -> None:
    """Remove the side files an open of a refused file created: an empty WAL and its shared-memory
    index (a look at another application's WAL database leaves them)."""
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    if wal.is_file() and wal.stat().st_size == 0:
        wal.unlink()
        shm.unlink(missing_ok=True)


def open_log_file(path: Path, *, durable: bool, readonly: bool) -> LogFile:
    """Open (or, when writable and absent, create) the behaviour log at ``path``."""
    if path.is_dir():
        raise _fail(path, "is a folder; give the path of a log file")
    if readonly and not path.is_file():
        raise _fail(path, "does not exist; an app creates a log with BehaviourLog(path, spec)")
    if not readonly:
        folder = path.parent if str(path.parent) else Path(".")
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise _fail(
                path,
                "cannot be written (a read-only file, folder or file system); open it with "
                "readonly=True to rank from it, or move it somewhere writable to record",
            )
    try:
        if not readonly and not path.exists():
            _create(path)
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise _fail(path, "cannot open", exc) from None
    new = head == b""
    if not new and head != _SQLITE_MAGIC:
        raise _fail(path, "is not a behaviour log (not an SQLite file); not touching it")
    had_wal = Path(f"{path}-wal").exists()
    lock_fd = None if readonly else _lock(path)
    try:
        db = _connect(path, readonly)
    except sqlite3.Error as exc:
        if lock_fd is not None:
            os.close(lock_fd)
        raise _fail(path, "cannot open", exc) from None
    log_file = LogFile(db, lock_fd)
    try:
        if readonly:
            _check_ours(path, db)
            db.execute("PRAGMA query_only=ON")
            return log_file
        if new:
            _configure(db, durable)
            _write_header(db)
            return log_file
        _check_ours(path, db)
        if not _healthy(db):
            return _repair(path, db, durable, lock_fd)
        _configure(db, durable)
        return log_file
    except BehaviourLogError:
        log_file.close()
        if not had_wal:
            _remove_side_files(path)
        raise
    except (sqlite3.DatabaseError, OSError) as exc:
        log_file.close()
        raise _fail(path, "cannot open", exc) from None


def erase_log_file(path: Path) -> None:
    """Overwrite a behaviour log (and its WAL and shared-memory files) with zeros, then delete them.

    Refuses a file that is not a behaviour log, and one that a writer holds open. A damaged log is
    repaired by the open; its damaged original is erased too.
    """
    log_file = open_log_file(path, durable=False, readonly=False)  # checks the file is ours; locks it
    originals = [path] if log_file.damaged_copy is None else [path, log_file.damaged_copy]
    try:
        log_file.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        lock_fd = log_file.lock_fd
        log_file.lock_fd = None
        log_file.close()
    try:
        for p in (Path(f"{base}{suffix}") for base in originals for suffix in ("-wal", "-shm", "")):
            if not p.exists():
                continue
            left = p.stat().st_size
            with p.open("r+b") as f:
                while left > 0:  # in blocks: a log of many events need not fit in memory twice
                    left -= f.write(bytes(min(left, 1 << 20)))
                f.flush()
                os.fsync(f.fileno())
            p.unlink()
    except OSError as exc:
        raise _fail(path, "cannot erase", exc) from None
    finally:
        if lock_fd is not None:
            os.close(lock_fd)

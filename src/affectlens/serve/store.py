"""The job store: one SQLAlchemy table, SQLite by default or PostgreSQL.

Every state change is one short transaction, and a claim only succeeds on a row
that is still ``queued``, so a job is run by one worker at a time. A finished job's
result and its ``done`` status are written together: a crash can only re-run a job
that never finished.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (Column, DateTime, Float, Integer, MetaData, String, Table, Text, bindparam, create_engine,
                        delete, event, func, insert, select, update)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINAL = ("done", "failed", "cancelled")
#: a job whose process died this many times is failed instead of re-queued
MAX_ATTEMPTS = 3

metadata = MetaData()
jobs = Table(
    "affectlens_jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("status", String(16), nullable=False, index=True),
    Column("progress", Float, nullable=False, default=0.0),
    Column("error", Text),
    Column("filename", String(255), nullable=False),
    Column("media", String(64), nullable=False),
    Column("request", Text, nullable=False),
    Column("result", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created", DateTime(timezone=True), nullable=False, index=True),
    Column("started", DateTime(timezone=True)),
    Column("finished", DateTime(timezone=True)),
)
#: the columns a status or list answer needs (never the result)
SUMMARY = [jobs.c[k] for k in ("id", "status", "progress", "error", "filename", "attempts", "created", "started",
                                "finished")]

# the polling queries, built once (status and list are the hot routes)
_GET = select(*SUMMARY).where(jobs.c.id == bindparam("id"))
_LIST = select(*SUMMARY).order_by(jobs.c.created.desc(), jobs.c.id).limit(bindparam("n"))
_LIST_STATUS = _LIST.where(jobs.c.status == bindparam("status"))


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _utc(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite drops the zone; everything stored is UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.isoformat()


@dataclass
class JobRow:
    id: str
    status: str
    progress: float
    error: str | None
    filename: str
    attempts: int
    created: str
    started: str | None
    finished: str | None

    @classmethod
    def of(cls, row) -> "JobRow":
        m = row._mapping
        return cls(m["id"], m["status"], float(m["progress"]), m["error"], m["filename"], int(m["attempts"]),
                   _utc(m["created"]), _utc(m["started"]), _utc(m["finished"]))

    def public(self) -> dict:
        return dict(self.__dict__)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def open_engine(url: str) -> Engine:
    """A SQLAlchemy engine for ``sqlite:///…`` or ``postgresql://…`` (psycopg 3)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10},
                            pool_size=8, max_overflow=32)
        event.listen(eng, "connect", _sqlite_pragmas)
    else:
        eng = create_engine(url, pool_size=16, max_overflow=32, pool_recycle=600)
    metadata.create_all(eng)
    return eng


class JobStore:
    """Jobs and their results in one table."""

    def __init__(self, url: str):
        self.engine = open_engine(url)
        self.local = self.engine.dialect.name == "sqlite"
        # PostgreSQL reads run in autocommit: one round trip each (no BEGIN / ROLLBACK around the
        # SELECT). SQLite reads open no transaction anyway, and switching modes costs more there.
        self.reader = self.engine if self.local else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._threads = threading.local()

    @contextmanager
    def _read(self):
        """This thread's own read connection, kept open (a pool checkout per poll costs more than
        the query); a failed connection is dropped and the next read opens a new one."""
        conn = getattr(self._threads, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._threads.conn = self.reader.connect()
        try:
            yield conn
        except DBAPIError:
            self._threads.conn = None
            conn.close()
            raise
        else:
            if not self.local:
                return
            conn.rollback()  # SQLite: end the implicit read so WAL checkpoints are never held back

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------ writes
    def add(self, filename: str, media: str, request_json: str, job_id: str | None = None) -> JobRow:
        job_id = job_id or uuid.uuid4().hex
        row = {"id": job_id, "status": "queued", "progress": 0.0, "filename": filename, "media": media,
               "request": request_json, "attempts": 0, "created": now()}
        with self.engine.begin() as c:
            c.execute(insert(jobs).values(**row))
        return self.get(job_id)

    def recover(self) -> tuple[int, int]:
        """After a crash: ``running`` jobs go back to ``queued`` (or fail after MAX_ATTEMPTS tries).
        Returns (re-queued, failed)."""
        with self.engine.begin() as c:
            failed = c.execute(update(jobs).where(jobs.c.status == "running", jobs.c.attempts >= MAX_ATTEMPTS)
                               .values(status="failed", finished=now(),
                                       error=f"the server stopped during this job {MAX_ATTEMPTS} times")).rowcount
            requeued = c.execute(update(jobs).where(jobs.c.status == "running")
                                 .values(status="queued", progress=0.0, started=None)).rowcount
        return requeued, failed

    def claim(self) -> tuple[str, str, str] | None:
        """Mark the oldest queued job running; returns (id, media, request JSON) or None."""
        while True:
            with self.engine.begin() as c:
                row = c.execute(select(jobs.c.id, jobs.c.media, jobs.c.request).where(jobs.c.status == "queued")
                                .order_by(jobs.c.created, jobs.c.id).limit(1)).first()
                if row is None:
                    return None
                won = c.execute(update(jobs).where(jobs.c.id == row.id, jobs.c.status == "queued")
                                .values(status="running", started=now(), progress=0.0,
                                        attempts=jobs.c.attempts + 1)).rowcount
            if won == 1:
                return row.id, row.media, row.request

    def set_progress(self, job_id: str, progress: float) -> None:
        with self.engine.begin() as c:
            c.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status == "running")
                      .values(progress=min(max(progress, 0.0), 1.0)))

    def finish(self, job_id: str, result_json: str | None = None, error: str | None = None) -> bool:
        """``done`` with its result, or ``failed`` with ``error``; False when the job was cancelled."""
        values = ({"status": "failed", "error": error} if error is not None
                  else {"status": "done", "result": result_json, "progress": 1.0})
        with self.engine.begin() as c:
            return c.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status == "running")
                             .values(finished=now(), **values)).rowcount == 1

    def cancel(self, job_id: str) -> bool:
        """``queued`` or ``running`` → ``cancelled``; False when the job had already ended."""
        with self.engine.begin() as c:
            return c.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(("queued", "running")))
                             .values(status="cancelled", finished=now(), error="cancelled")).rowcount == 1

    def delete(self, job_id: str) -> str | None:
        """Remove an ended job; returns its media file name (for the caller to delete)."""
        with self.engine.begin() as c:
            row = c.execute(select(jobs.c.media).where(jobs.c.id == job_id, jobs.c.status.in_(FINAL))).first()
            if row is None:
                return None
            c.execute(delete(jobs).where(jobs.c.id == job_id))
            return row.media

    # ------------------------------------------------------------ reads
    def get(self, job_id: str) -> JobRow | None:
        with self._read() as c:
            row = c.execute(_GET, {"id": job_id}).first()
        return JobRow.of(row) if row else None

    def list(self, status: str | None = None, limit: int = 50) -> list[JobRow]:
        with self._read() as c:
            if status:
                rows = c.execute(_LIST_STATUS, {"status": status, "n": limit})
            else:
                rows = c.execute(_LIST, {"n": limit})
            return [JobRow.of(r) for r in rows]

    def result(self, job_id: str) -> tuple[str | None, str | None]:
        """(result JSON, media file name) of a done job, or (None, None)."""
        with self._read() as c:
            row = c.execute(select(jobs.c.result, jobs.c.media).where(jobs.c.id == job_id,
                                                                       jobs.c.status == "done")).first()
        return (row.result, row.media) if row else (None, None)

    def count(self, status: str) -> int:
        with self._read() as c:
            return int(c.execute(select(func.count()).select_from(jobs).where(jobs.c.status == status)).scalar())

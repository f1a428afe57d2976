"""The state database every store shares: SQLite (the embedded default) or PostgreSQL, through
SQLAlchemy Core, with the tables of all stores in one `METADATA` (the schema Alembic migrates).

One `StateDb` is one connection. The stores are plain synchronous code over it; in the
gateway they run through `StateDb.run`, one call at a time (a lock), on the event loop's own
thread: on PostgreSQL over an asyncio connection (SQLAlchemy's greenlet bridge), so that the
loop goes on while a query waits on the network; on SQLite inline, its writes being local and
short. A store asks for a transaction (`transaction`), which joins the one already open, so
that the rule engine's batch, and everything its rules write, commits as one."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    CursorResult,
    Dialect,
    Engine,
    Executable,
    Integer,
    MetaData,
    Row,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    exc,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, StaticPool

METADATA = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
})
"""Every store's tables: what `gateway.migrations` brings a database up to."""

class Fenced(Exception):
    """The state database refuses this gateway's transaction: a partition it judges was
    taken over by another gateway (its lease lapsed while this one was paused or cut off),
    so what it judged is no longer its to write. Never the fault of one reading."""

    def __init__(self, partitions: Collection[int]) -> None:
        self.partitions = sorted(partitions)
        super().__init__(f"partitions {self.partitions} were taken over by another gateway")


STORE_FAILURES: tuple[type[BaseException], ...] = (
    exc.OperationalError, exc.InterfaceError, exc.InternalError, exc.ResourceClosedError,
    OSError, Fenced)
"""Errors of the state database itself (locked, full, gone, cut off, or refusing a gateway
fenced off), not of what is written: worth retrying, and never the fault of one reading."""

Insert = PostgresqlInsert | SqliteInsert
P = ParamSpec("P")
T = TypeVar("T")


class Utc(TypeDecorator[datetime]):
    """A moment, stored as ISO 8601 text in UTC: text sorts in time order (every value has the
    same offset), and a database written by release 0.1.0 (text columns) reads as it is."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        return value.astimezone(UTC).isoformat() if value is not None else None

    def process_result_value(self, value: str | None, dialect: Dialect) -> datetime | None:
        return datetime.fromisoformat(value) if value else None


class Json(TypeDecorator[Any]):
    """A JSON value, stored as its text (orjson), the same on both engines."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return orjson.dumps(value).decode() if value is not None else None

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return orjson.loads(value) if value is not None else None


Id = BigInteger().with_variant(Integer(), "sqlite")
"""A growing row number (outbox, dead letters): 64 bits on PostgreSQL, as SQLite's INTEGER
is; on SQLite exactly INTEGER, which AUTOINCREMENT requires."""

SortedText = Text().with_variant(Text(collation="C"), "postgresql")
"""Text that sorts by code point on both engines (SQLite's BINARY; PostgreSQL's "C"), so that
a page of a listing is the same whichever engine serves it."""


def state_url(url: str | URL) -> URL:
    """`url` with PostgreSQL's driver named (psycopg 3, whatever the URL says or leaves out);
    raises ValueError for an engine other than SQLite and PostgreSQL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    raise ValueError(f"the state database must be SQLite or PostgreSQL, not {backend!r}")


def create_state_engine(url: str | URL, **options: Any) -> Engine:
    url = state_url(url)
    if url.get_backend_name() == "postgresql":
        # A gateway holds one connection for its life (see StateDb), and a test's may hold
        # more: no pool to size, and none left behind when it closes.
        options.setdefault("poolclass", NullPool)
        return create_engine(url, **options)
    memory = url.database in (None, "", ":memory:")
    engine = create_engine(
        url, poolclass=StaticPool if memory else NullPool,
        connect_args={"check_same_thread": False}, **options)
    event.listen(engine, "connect", _sqlite_connected)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connected(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 begins transactions on its own, and not before a SELECT or a
    # SAVEPOINT; SQLAlchemy's documented fix: it begins none, and we begin on "begin".
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a process crash; only an OS crash can lose the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


class StateDb:
    """One connection to the state database (see the module's docstring)."""

    def __init__(self, engine: Engine, async_engine: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._async_engine = async_engine
        self._async_conn: AsyncConnection | None = None
        self._conn: Connection | None = None
        self._lock: asyncio.Lock | None = None
        self._succeeded_at: float | None = None

    @classmethod
    def open(cls, url: str | URL, **options: Any) -> StateDb:
        """For synchronous use: a test, the CLI."""
        return cls(create_state_engine(url, **options))

    @classmethod
    def open_for_loop(cls, url: str | URL) -> StateDb:
        """For the gateway, whose stores then run through `run`."""
        engine = create_state_engine(url)
        if engine.dialect.name != "postgresql":
            return cls(engine)
        return cls(engine, create_async_engine(engine.url, poolclass=NullPool))

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def conn(self) -> Connection:
        if self._async_engine is not None:
            if self._conn is None:
                raise RuntimeError("the state database is used outside StateDb.run")
            return self._conn
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            if self._conn is not None:
                with contextlib.suppress(exc.SQLAlchemyError):
                    self._conn.close()
            self._conn = self.engine.connect()
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The open transaction, or a new one committed on leaving (rolled back on an error)."""
        conn = self.conn
        if conn.in_transaction():
            yield conn
            return
        with conn.begin():
            yield conn

    @property
    def in_transaction(self) -> bool:
        return self._conn is not None and self._conn.in_transaction()

    def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        """`statement` in the open transaction, or in one of its own."""
        with self.transaction() as conn:
            return conn.execute(statement, parameters)

    def rows(self, statement: Executable, parameters: Any = None) -> list[Row[Any]]:
        with self.transaction() as conn:
            return list(conn.execute(statement, parameters))

    def row(self, statement: Executable, parameters: Any = None) -> Row[Any] | None:
        with self.transaction() as conn:
            return conn.execute(statement, parameters).first()

    def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        with self.transaction() as conn:
            return conn.execute(statement, parameters).scalar()

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)`, which uses the stores, alone: calls wait for each other
        (the stores and the rule engine are not written for two callers at once)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._async_engine is None:
                result = fn(*args, **kwargs)
            else:
                if self._async_conn is None or self._async_conn.closed:
                    self._async_conn = await self._async_engine.connect()
                try:
                    result = await self._async_conn.run_sync(self._with_conn, fn, *args,
                                                             **kwargs)
                except exc.DBAPIError as error:
                    if error.connection_invalidated:
                        await self._reconnect()
                    raise
            self._succeeded_at = time.monotonic()
            return result

    def busy_and_working(self, within_s: float) -> bool:
        """Whether a call is under way now and one succeeded within `within_s`: a store
        that busy is evidently working, and a readiness probe need not queue behind it."""
        return (self._lock is not None and self._lock.locked()
                and self._succeeded_at is not None
                and time.monotonic() - self._succeeded_at <= within_s)

    def _with_conn(self, conn: Connection, fn: Callable[P, T], /, *args: P.args,
                   **kwargs: P.kwargs) -> T:
        self._conn = conn
        try:
            return fn(*args, **kwargs)
        finally:
            self._conn = None

    async def _reconnect(self) -> None:
        """The server went away (restarted, cut off): the next call connects again."""
        if self._async_conn is not None:
            with contextlib.suppress(exc.SQLAlchemyError, OSError):
                await self._async_conn.close()
            self._async_conn = None

    async def aclose(self) -> None:
        async with self._lock or asyncio.Lock():
            await self._reconnect()
            if self._async_engine is not None:
                await self._async_engine.dispose()
        self.close()

    def close(self) -> None:
        if self._conn is not None and self._async_engine is None:
            with contextlib.suppress(exc.SQLAlchemyError):
                self._conn.close()
            self._conn = None
        self.engine.dispose()


Runner = Callable[..., Coroutine[Any, Any, Any]]
"""StateDb.run's shape, for a part that calls the stores through it."""


async def inline(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`StateDb.run` for code that has no StateDb (a test of a part alone)."""
    return fn(*args, **kwargs)


def upsert(db: StateDb, table: Table) -> Insert:
    """An INSERT of `table` that takes ON CONFLICT clauses, in the dialect of `db` (both
    engines spell them the same: `on_conflict_do_update`, `on_conflict_do_nothing`)."""
    if db.is_postgresql:
        return postgresql.insert(table)
    return sqlite.insert(table)


def is_unique_violation(error: BaseException) -> bool:
    """Whether a write failed on a unique key (a primary key or a unique index)."""
    if not isinstance(error, exc.IntegrityError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(error.orig)

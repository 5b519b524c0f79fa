"""A service as a supervised child: mirakuru starts, awaits and stops it; a pid file lets a
later run reap it if the Python process that owned it crashed; port-for finds free ports."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import port_for
import psutil
import structlog
from mirakuru import Executor, ProcessExitedWithError, SimpleExecutor, TimeoutExpired
from mirakuru.exceptions import ProcessFinishedWithError

log = structlog.get_logger()

TIMEOUT = 30.0  # to answer after the start, and to exit after the stop signal
SERVICES = ("postgres", "redis", "kafka")  # the pid files a data dir may hold
_LIVE: dict[int, Service] = {}


class _Child(Executor):
    """Up when `ready()` says so. No probe before the start: the data dir's pid file, not the
    port, tells whether one already runs. The pid file is written before the wait, so a crash
    while waiting still leaves the child reapable."""

    def __init__(
        self, argv: list[str], ready: Callable[[], bool], on_spawn: Callable[[int], None],
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(argv, timeout=TIMEOUT, **kwargs)
        self._ready, self._on_spawn = ready, on_spawn

    def pre_start_check(self) -> bool:
        return False

    def after_start_check(self) -> bool:
        return self._ready()

    def start(self) -> Self:
        SimpleExecutor.start(self)
        assert self.process is not None
        self._on_spawn(self.process.pid)
        return self.wait_for(self.check_subprocess)


@dataclass(eq=False)
class Service:
    name: str
    url: str
    port: int
    pid: int
    log_path: Path
    _child: _Child = field(repr=False)
    _pid_file: Path = field(repr=False)

    def stop(self) -> None:
        """Its stop signal to its process group; SIGKILL if it outlives the timeout. Idempotent."""
        if _LIVE.pop(self.pid, None) is None:
            return
        how = "stopped"
        if not self._child.running():
            how = "already exited"
            self._child.kill()  # reaps it; its pid is not reused while unreaped
        else:
            try:
                self._child.stop()
            except ProcessFinishedWithError as exited:
                how = f"exit code {exited.exit_code}"
        if _read_pid_file(self._pid_file).get("pid") == self.pid:  # a later start may own it now
            self._pid_file.unlink(missing_ok=True)
        log.info("service.stopped", service=self.name, pid=self.pid, port=self.port, how=how)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@atexit.register  # registered after mirakuru's own hook, so it runs first: graceful, not SIGKILL
def _stop_all() -> None:
    for svc in list(_LIVE.values()):
        svc.stop()


def free_port() -> int:
    """A free port outside the ephemeral range (no client connection can take it meanwhile)."""
    return port_for.select_random()


def pick_port(preferred: int) -> int:
    """`preferred` if a server could listen on 127.0.0.1:`preferred`, else a free port."""
    # Not port_for.port_is_used: it binds without SO_REUSEADDR, so a port in TIME_WAIT after the
    # last run would look taken, where servers (which set it) start on it fine.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def prepare(data_dir: Path) -> Path:
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


def spawn(
    name: str,
    argv: list[str],
    data_dir: Path,
    url: str,
    port: int,
    ready: Callable[[], bool],
    *,
    stop_signal: signal.Signals = signal.SIGTERM,
    user: pwd.struct_passwd | None = None,
) -> Service:
    """Start `argv` in its own session, logging to `<data_dir>/<name>.log`, and wait until
    `ready()`; raise with the log's tail if it exits or does not answer in time."""
    pid_file, log_path = data_dir / f"{name}.pid", data_dir / f"{name}.log"
    reap(pid_file)
    if pid_file.exists():
        raise RuntimeError(f"{name} already runs for {data_dir}, owned by a live process")
    started = time.monotonic()

    def record(pid: int) -> None:
        owner = os.getpid()
        rec = {"pid": pid, "start": _started_at(pid), "stop": stop_signal, "owner": owner}
        pid_file.write_text(json.dumps(rec | {"owner_start": _started_at(owner)}))
        log.info("service.starting", service=name, pid=pid, port=port, log=str(log_path))

    with log_path.open("ab") as out:
        offset = out.tell()
        child = _Child(
            argv, ready, record, stop_signal=stop_signal, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, popen_kwargs=as_user(user),
        )  # fmt: skip
        try:
            child.start()
        except (ProcessExitedWithError, TimeoutExpired) as failed:  # mirakuru reaped the child
            pid_file.unlink(missing_ok=True)
            tail = log_path.read_bytes()[offset:][-4000:].decode(errors="replace")
            why = f"not up in {TIMEOUT}s"
            if isinstance(failed, ProcessExitedWithError):
                why = f"exited with code {failed.exit_code}"
            raise RuntimeError(
                f"{name} on port {port} {why}; log tail ({log_path}):\n{tail}"
            ) from None
    assert child.process is not None
    svc = Service(name, url, port, child.process.pid, log_path, child, pid_file)
    _LIVE[svc.pid] = svc
    elapsed_ms = round((time.monotonic() - started) * 1000)
    log.info("service.started", service=name, pid=svc.pid, url=url, elapsed_ms=elapsed_ms)
    return svc


def reap_stale(data_dir: Path) -> list[int]:
    """Kill services recorded in `data_dir`'s pid files whose owning process has died."""
    return [pid for n in SERVICES if (pid := reap(Path(data_dir) / f"{n}.pid")) is not None]


def reap(pid_file: Path) -> int | None:
    """Kill the process recorded in `pid_file` if its owner died; drop the file if stale."""
    if not pid_file.exists():
        return None
    rec = _read_pid_file(pid_file)
    ours = _is_running(rec.get("pid"), rec.get("start"))
    if ours and _is_running(rec.get("owner"), rec.get("owner_start")):
        return None  # a live run (possibly this one) still owns it
    if ours:  # an orphan leads its own session (mirakuru), so its group is what it forked
        pid = rec["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, int(rec.get("stop", signal.SIGTERM)))
        how = "graceful"
        if not wait_until(lambda: not group_alive(pid), 10):
            how = "killed"
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            wait_until(lambda: not group_alive(pid), 10)
        log.warning(
            "service.reaped", service=pid_file.stem, pid=pid, owner=rec.get("owner"), how=how
        )
    pid_file.unlink(missing_ok=True)
    return int(rec["pid"]) if ours else None


def live_name(pid: int) -> str | None:
    """The name of process `pid` if it is alive (not a zombie)."""
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        if proc.status() != psutil.STATUS_ZOMBIE:
            return proc.name()
    return None


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is in process group `pgid`."""
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                return True
    return False


def wait_until(cond: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """subprocess kwargs to run as `user` (uid, its gid, and no supplementary root groups)."""
    return {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _started_at(pid: int) -> float | None:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).create_time()
    return None


def _is_running(pid: object, started: object) -> bool:
    """Whether `pid` is alive (not a zombie) and is the process that started at `started`, not
    a reused pid. psutil's start time follows the wall clock, so it is compared to a second;
    the kernel does not cycle through every pid within a second."""
    if not isinstance(pid, int) or pid <= 0 or not isinstance(started, float):
        return False
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        return abs(proc.create_time() - started) < 1 and proc.status() != psutil.STATUS_ZOMBIE
    return False


def _read_pid_file(pid_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

"""What the HTTP scenarios run on: real services, a fresh database, a pinned server and load.

Services are found or started the way the tests find them (tests/conftest.py): the machine's
Postgres at 127.0.0.1:5432 when it answers, else an embedded one; the machine's Redis at
127.0.0.1:6379 when it answers, else one started here; a Tansu Kafka broker started here (in
memory, `kafka_idempotence=False`: Tansu has no InitProducerId). Every `stockledger bench` run
creates its own database (dropped at exit) and prefixes its ids with a run id (its Redis keys
are deleted at exit).

CPU split (2 cores), the same for a figure and its ceiling:
  CPU 0   the server: one uvicorn process (uvloop + httptools) with the API, the outbox relay,
          the projector and the expiry worker, exactly like `stockledger serve`
  CPU 1   the load generator (bench/loadgen.py)
  either  Postgres, Redis, the Kafka broker and this driver process (unpinned)
Each scenario starts its own server process (fresh caches, its own Kafka topic and consumer
group) on the run's database.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis

from stockledger.ops.local_services import (
    Service,
    free_port,
    pg_answers,
    redis_answers,
    start_kafka,
    start_postgres,
    start_redis,
)
from stockledger.projections.redis_stock import DEFAULT_PREFIX, level_key

from .loadgen import Spec, Stats, request

ROOT = Path(__file__).resolve().parent.parent
MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
MACHINE_REDIS = "redis://127.0.0.1:6379/0"
SERVER_CPU, LOAD_CPU = 0, 1
SPLIT = "server CPU 0, load generator CPU 1, Postgres/Redis/Kafka unpinned"
PROFILE_DIR = os.environ.get("STOCKLEDGER_BENCH_PROFILE")  # a folder: attach py-spy, keep stacks


def pinned(cpu: int, argv: list[str]) -> list[str]:
    """`argv` restricted to one CPU (taskset when present; the affinity is set before exec)."""
    if shutil.which("taskset") and cpu < (os.cpu_count() or 1):
        return ["taskset", "-c", str(cpu), *argv]
    return argv


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Keys:
    orders: str
    warehouse: str
    admin: str

    def setting(self) -> str:
        return ",".join(
            f"{key}:bench-{role}:{role}"
            for role, key in (
                ("orders", self.orders),
                ("warehouse", self.warehouse),
                ("admin", self.admin),
            )
        )


@dataclass
class Harness:
    run_id: str
    workdir: Path
    postgres_server: str
    database_url: str
    redis_url: str
    kafka: str
    keys: Keys
    started: list[Service] = field(default_factory=list)
    database_name: str = ""
    servers: list[int] = field(default_factory=list)  # pids

    # -- servers ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def server(
        self,
        name: str,
        app: str = "bench.server:create_bench_app",
        workers: int = 1,
        otel: Mapping[str, str] | None = None,
        runner: str = "uvicorn",
        **settings: str,
    ) -> AsyncIterator[Server]:
        """A `stockledger serve`-like uvicorn process (with the bench routes) pinned to CPU 0;
        `app` is the app factory (another one for an experiment), `workers` processes on its
        one port (as `serve --workers N`), `otel` the OpenTelemetry settings (none: tracing
        off, whatever the bench's own environment says), `runner` the ASGI server (uvicorn,
        as `serve`, or granian: H1), `settings` STOCKLEDGER_*."""
        port = free_port()
        tag = f"{self.run_id}-{name.lower()}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            **(otel or {}),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "STOCKLEDGER_DATABASE_URL": self.database_url,
            "STOCKLEDGER_REDIS_URL": self.redis_url,
            "STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "STOCKLEDGER_KAFKA_TOPIC": f"bench-{tag}",
            "STOCKLEDGER_KAFKA_CONSUMER_GROUP": f"bench-{tag}",
            "STOCKLEDGER_KAFKA_IDEMPOTENCE": "false",
            "STOCKLEDGER_API_KEYS": self.keys.setting(),
            **{f"STOCKLEDGER_{k.upper()}": v for k, v in settings.items()},
        }
        if runner == "granian":  # the same options, as far as granian has them
            argv = [str(Path(sys.executable).with_name("granian")), "--interface", "asgi"]
            argv += ["--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"]
            argv += ["--http", "1", "--no-ws", "--log-level", "warning", "--no-access-log"]
            argv += ["--workers", str(workers), "--factory", app]
        else:
            argv = [sys.executable, "-m", "uvicorn", app, "--factory"]
            argv += ["--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"]
            argv += ["--http", "httptools", "--log-level", "warning", "--no-access-log"]
            argv += ["--timeout-keep-alive", "5"]  # as `serve` (http_keep_alive_seconds)
            if workers > 1:
                argv += ["--workers", str(workers)]
        if workers > 1:
            metrics_dir = self.workdir / f"metrics-{tag}"
            metrics_dir.mkdir(parents=True, exist_ok=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        log_path = self.workdir / f"server-{name.lower()}.log"
        with log_path.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                *pinned(SERVER_CPU, argv),
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        self.servers.append(proc.pid)
        server = Server(self, proc, port, log_path)
        try:
            await server.wait_ready()
            yield server
        finally:
            await server.stop()

    async def load(self, spec: Spec, *, pin: bool = True) -> Stats:
        """Run the load generator in its own process, pinned to CPU 1."""
        argv = [sys.executable, "-m", "bench.loadgen"]
        proc = await asyncio.create_subprocess_exec(
            *(pinned(LOAD_CPU, argv) if pin else argv),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate(spec.to_json().encode())
        except BaseException:  # cancelled or interrupted: do not leave it running
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
        if proc.returncode != 0:
            raise RuntimeError(
                f"load generator failed ({proc.returncode}):\n{err.decode()[-3000:]}"
            )
        return Stats.from_json(out.decode())

    def redis(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(self.redis_url)

    def ids(self, scenario: str) -> str:
        """A prefix for ids unique to this run and scenario (e.g. `B1a2b3c-P1`)."""
        return f"B{self.run_id}-{scenario}"

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        import asyncpg

        async def drop() -> None:
            conn = await asyncpg.connect(self.postgres_server)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
            finally:
                await conn.close()
            client = self.redis()
            try:
                async for key in client.scan_iter(match=f"stockledger:*B{self.run_id}-*"):
                    await client.delete(key)
            finally:
                await client.aclose()

        for pid in self.servers:  # interrupted runs: no server outlives the harness
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        with contextlib.suppress(Exception):
            asyncio.run(drop())
        for service in reversed(self.started):
            service.stop()
        if not PROFILE_DIR:
            shutil.rmtree(self.workdir, ignore_errors=True)


_HARNESS: Harness | None = None


async def harness() -> Harness:
    """The run's services and database, started on first use and torn down at exit."""
    global _HARNESS
    if _HARNESS is None:
        _HARNESS = await asyncio.to_thread(_start)
        atexit.register(_HARNESS.close)
        # `timeout` and friends send SIGTERM: exit through atexit so the cleanup runs
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return _HARNESS


def _start() -> Harness:
    import asyncpg

    from stockledger.store.db import migrate

    run_id = secrets.token_hex(3)
    workdir = Path(tempfile.mkdtemp(prefix=f"stockledger-bench-{run_id}-"))
    started: list[Service] = []
    if pg_answers(MACHINE_POSTGRES):
        postgres = MACHINE_POSTGRES
    else:
        started.append(start_postgres(workdir / "postgres"))
        postgres = started[-1].url
    if redis_answers(MACHINE_REDIS):
        redis_url = MACHINE_REDIS
    else:
        started.append(start_redis(workdir / "redis"))
        redis_url = started[-1].url
    started.append(start_kafka(workdir / "kafka"))
    name = f"stockledger_httpbench_{run_id}"

    async def create() -> None:
        conn = await asyncpg.connect(postgres)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())  # a worker thread: its own event loop
    database_url = postgres.rsplit("/", 1)[0] + "/" + name
    migrate(database_url)
    keys = Keys(*(f"bench-{secrets.token_urlsafe(12)}" for _ in range(3)))
    return Harness(
        run_id, workdir, postgres, database_url, redis_url, started[-1].url, keys, started, name
    )


@dataclass
class Server:
    harness: Harness
    proc: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self.harness.keys, role)}"}

    def raw(self, method: str, path: str, role: str, body: Any = None) -> bytes:
        """A raw request for the load generator."""
        payload = None if body is None else orjson.dumps(body)
        return request(method, path, self.auth(role), payload)

    def spec(self, requests: list[bytes], **options: Any) -> Spec:
        return Spec(port=self.port, requests=requests, **options)

    async def drive(self, spec: Spec, label: str) -> Stats:
        """Run a load against this server, reading the server's CPU time over the measured
        window (`Stats.server_share`: well under 100% while requests queue means something
        else is the limit, or the machine is busy with other work)."""
        spec.watch_pid = self.pid
        async with self.profiled(label, spec.warmup + spec.duration):
            return await self.harness.load(spec)

    async def call(
        self, method: str, path: str, role: str, body: Any = None, **kw: Any
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
            return await client.request(method, path, json=body, headers=self.auth(role), **kw)

    async def metrics(self) -> dict[str, float]:
        """The server's Prometheus samples, summed over labels (`name` -> value)."""
        text = (await self.call("GET", "/metrics", "orders")).text
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                key = name.split("{", 1)[0]
                values[key] = values.get(key, 0.0) + float(value)
        return values

    async def wait_ready(self, within: float = 90) -> None:
        """Up, and the whole pipeline proven: a receipt is visible in Redis."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.base, timeout=5) as client:
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"server exited; log: {self.log_path}\n{self._tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/health")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not up in {within} s\n{self._tail()}")
                await asyncio.sleep(0.1)
        sku = f"{self.harness.ids('WARMUP')}-{self.port}"
        await self.receive([(sku, "WH-A")], 1)
        await self.wait_projected([(sku, "WH-A")], 1, within=max(5.0, deadline - time.monotonic()))

    async def receive(self, streams: list[tuple[str, str]], quantity: int) -> Stats:
        """One receipt per stream, through HTTP (setup, not measured)."""
        requests = [
            self.raw(
                "POST",
                "/v1/receipts",
                "warehouse",
                {
                    "sku": sku,
                    "warehouseId": wh,
                    "quantity": quantity,
                    "purchaseOrderId": f"PO-{sku}",
                    "unitCost": "2.50",
                    "supplier": "Bench",
                },
            )
            for sku, wh in streams
        ]
        stats = await self.harness.load(self.spec(requests, connections=32, mode="once"))
        if stats.count(201) != len(streams):
            raise RuntimeError(f"setup receipts failed: {stats.statuses} {stats.samples}")
        return stats

    async def wait_projected(
        self, streams: list[tuple[str, str]], version: int, within: float = 120
    ) -> None:
        """Until every stream's Redis hash is at `version` or later."""
        client = self.harness.redis()
        deadline = time.monotonic() + within
        try:
            while True:
                async with client.pipeline(transaction=False) as pipe:
                    for sku, wh in streams:
                        pipe.hget(level_key(DEFAULT_PREFIX, sku, wh), "version")
                    found = await pipe.execute()
                behind = sum(1 for v in found if v is None or int(v) < version)
                if not behind:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{behind} streams not projected in {within} s")
                await asyncio.sleep(0.2)
        finally:
            await client.aclose()

    @contextlib.asynccontextmanager
    async def profiled(self, label: str, seconds: float) -> AsyncIterator[None]:
        """With STOCKLEDGER_BENCH_PROFILE set: py-spy samples this server for `seconds`."""
        if not PROFILE_DIR:
            yield
            return
        out = Path(PROFILE_DIR) / f"{label}.txt"
        await asyncio.to_thread(out.parent.mkdir, parents=True, exist_ok=True)
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        argv = [spy, "record", "--pid", str(self.pid), "--duration", str(int(seconds))]
        argv += ["--rate", "100", "--format", "raw", "--output", str(out)]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            yield
        finally:
            await proc.wait()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.pid in self.harness.servers:  # stopped once (H1 times its stop), not twice
            self.harness.servers.remove(self.pid)

    def _tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-3000:]
        return ""


def per_second(value: float) -> str:
    return f"{value:,.0f}/s"


def latency(stats: Stats) -> str:
    return f"p50 {stats.p50_ms:.1f} ms, p99 {stats.p99_ms:.1f} ms"


def load_note(stats: Stats) -> str:
    """Where the CPU went: the server's share of CPU 0 and its CPU time per response (its cost,
    whatever share it got), the generator's share of CPU 1 (far below 100%: not the limit),
    and the machine's load average (other work on the same two cores shows up there)."""
    load = os.getloadavg()[0]
    return (
        f"server {stats.server_share:.0%} of CPU 0 = {stats.cpu_ms_per_response:.2f} ms CPU "
        f"per response, loadgen {stats.cpu_share:.0%} of CPU 1, load avg {load:.1f}"
    )


def batches(before: dict[str, float], after: dict[str, float]) -> str:
    """Group commit between two /metrics readings: commands per transaction, conflicts."""
    name = "stockledger_write_batch_commands"
    count = after.get(f"{name}_count", 0) - before.get(f"{name}_count", 0)
    total = after.get(f"{name}_sum", 0) - before.get(f"{name}_sum", 0)
    conflicts = after.get("stockledger_append_conflicts_total", 0) - before.get(
        "stockledger_append_conflicts_total", 0
    )
    mean = total / count if count else 0.0
    return (
        f"{mean:.1f} commands per transaction ({count:,.0f} transactions, "
        f"{conflicts:,.0f} conflicts)"
    )


def statuses(stats: Stats) -> str:
    return " ".join(f"{code}x{count:,}" for code, count in stats.statuses.items()) or "none"

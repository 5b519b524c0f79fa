"""A small, fast HTTP/1.1 load generator: N keep-alive connections to 127.0.0.1.

Raw requests go out over asyncio protocols on uvloop (no client library, no coroutine per
request): a connection sends its next request from its `data_received` callback as soon as the
previous response is complete (one request in flight per connection, like a pooled client).
`timed` mode cycles through the given requests for warmup + duration seconds and counts only
responses that started and finished inside the measured window; `once` mode sends every request
exactly once. It records status codes, latencies (p50/p90/p99/max) and, optionally, how many
responses carried a header. It also reports its own CPU time: a generator near 100% of one core
would be measuring itself, not the server.

Run as `python -m bench.loadgen` (spec as JSON on stdin, stats as JSON on stdout) so the
harness can pin it to its own CPU; `run(spec)` is the same thing in-process.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import cast

LOCALHOST = "127.0.0.1"


def request(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> bytes:
    """One raw HTTP/1.1 keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


@dataclass
class Spec:
    port: int
    requests: list[bytes]
    connections: int = 64
    duration: float = 10.0  # measured seconds (timed mode)
    warmup: float = 1.0
    mode: str = "timed"  # or "once"
    match_header: str | None = None  # e.g. "x-stock-source: redis" (lowercase)
    host: str = LOCALHOST
    timeout: float = 600.0  # a bound on the whole run, whatever the server does
    watch_pid: int | None = None  # a process whose CPU time to read over the measured window

    def to_json(self) -> str:
        data = asdict(self)
        data["requests"] = [r.decode("latin-1") for r in self.requests]
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Spec:
        data = json.loads(text)
        data["requests"] = [r.encode("latin-1") for r in data["requests"]]
        return cls(**data)


@dataclass
class Stats:
    seconds: float  # measured window (timed) or total time (once)
    completed: int  # responses inside the window
    statuses: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    header_matches: int
    connection_errors: int
    cpu_seconds: float  # the generator's own user + system time over the whole run
    wall_seconds: float
    samples: dict[str, str] = field(default_factory=dict)  # status -> first body seen
    watched_cpu_seconds: float = 0.0  # CPU time of `watch_pid` inside the measured window

    @property
    def server_share(self) -> float:
        """The watched process's CPU use as a share of one core over the measured window."""
        return self.watched_cpu_seconds / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_response(self) -> float:
        """CPU time of the watched process per response: its cost, whatever share it got."""
        return 1000 * self.watched_cpu_seconds / self.completed if self.completed else 0.0

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def count(self, *statuses: int) -> int:
        return sum(self.statuses.get(str(s), 0) for s in statuses)

    def rate_of(self, *statuses: int) -> float:
        return self.count(*statuses) / self.seconds if self.seconds else 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s.startswith("5"))

    @property
    def cpu_share(self) -> float:
        """The generator's CPU use as a share of one core over its run."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0

    @classmethod
    def from_json(cls, text: str) -> Stats:
        return cls(**json.loads(text))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its live descendants (the worker processes of a
    server that forks them: `--workers N`, granian's worker) have used so far (Linux /proc)."""
    used: dict[int, int] = {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        used[int(entry)] = int(fields[11]) + int(fields[12])
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += used.get(current, 0)
        todo.extend(children.get(current, ()))
    return total / os.sysconf("SC_CLK_TCK")


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class _Run:
    """Shared state of one run: the clock, the window and what came back."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.started = time.perf_counter()
        timed = spec.mode == "timed"
        self.window_start = self.started + (spec.warmup if timed else 0.0)
        self.stop_at = self.window_start + spec.duration if timed else float("inf")
        self.next_index = 0  # once mode: the next request to send
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.samples: dict[str, str] = {}
        self.matches = 0
        self.errors = 0
        self.open = 0
        self.done = asyncio.get_running_loop().create_future()
        self.watched: list[float] = []  # the watched process's CPU time at window start, end
        if spec.watch_pid is not None:
            loop, pid = asyncio.get_running_loop(), spec.watch_pid
            for at in (self.window_start, self.stop_at):
                if at != float("inf"):
                    delay = at - time.perf_counter()
                    loop.call_later(delay, lambda: self.watched.append(process_cpu_seconds(pid)))
        self.match = (
            b"\r\n" + spec.match_header.lower().encode("latin-1") if spec.match_header else None
        )

    def take(self, cursor: int) -> tuple[bytes | None, int]:
        """The next request for a connection (and its next cursor), or None when finished."""
        requests = self.spec.requests
        if self.spec.mode == "once":
            if self.next_index >= len(requests):
                return None, cursor
            self.next_index += 1
            return requests[self.next_index - 1], cursor
        if time.perf_counter() >= self.stop_at:
            return None, cursor
        return requests[cursor % len(requests)], cursor + 1

    def record(self, sent: float, status: int, head: bytes, body: bytes) -> None:
        now = time.perf_counter()
        if sent < self.window_start or now > self.stop_at:
            return
        self.latencies.append(now - sent)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if self.match is not None and self.match in head.lower():
            self.matches += 1
        if status >= 300 and str(status) not in self.samples:
            self.samples[str(status)] = body[:300].decode("utf-8", "replace")

    def fail(self, error: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(error)

    def closed(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.done.done():
            self.done.set_result(None)


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run, cursor: int) -> None:
        self.run = run
        self.cursor = cursor
        self.buffer = b""
        self.head = b""
        self.status = 0
        self.need = -1  # body bytes still expected; -1 while reading the head
        self.sent = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.run.open += 1
        try:
            self._send_next()
        except Exception as error:
            self.run.fail(error)

    def _send_next(self) -> None:
        assert self.transport is not None
        payload, self.cursor = self.run.take(self.cursor)
        if payload is None:
            self.transport.close()
            return
        self.sent = time.perf_counter()
        self.transport.write(payload)

    def data_received(self, data: bytes) -> None:
        try:
            self._parse(data)
        except Exception as error:  # a parsing bug must end the run, not hang it
            self.run.fail(error)

    def _parse(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need < 0:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                self.head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
                self.status = int(self.head[9:12])
                at = self.head.lower().find(b"\r\ncontent-length:")
                if at < 0:  # the server always sends Content-Length; anything else is a bug
                    self.run.errors += 1
                    assert self.transport is not None
                    self.transport.close()
                    return
                stop = self.head.find(b"\r\n", at + 2)
                self.need = int(self.head[at + 17 : stop if stop > 0 else None])
            if len(self.buffer) < self.need:
                return
            body, self.buffer = self.buffer[: self.need], self.buffer[self.need :]
            self.need = -1
            self.run.record(self.sent, self.status, self.head, body)
            self._send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or self.need >= 0 or self.buffer:
            self.run.errors += 1
        self.run.closed()


async def run(spec: Spec) -> Stats:
    """Drive the server with `spec` and return what it answered."""
    if spec.host != LOCALHOST:
        raise ValueError("the load generator only talks to 127.0.0.1")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    loop = asyncio.get_running_loop()
    state = _Run(spec)
    step = max(1, len(spec.requests) // max(1, spec.connections))
    await asyncio.gather(
        *(
            loop.create_connection(partial(_Connection, state, i * step), spec.host, spec.port)
            for i in range(spec.connections)
        )
    )
    try:
        await asyncio.wait_for(
            asyncio.shield(state.done), spec.warmup + spec.duration + spec.timeout
        )
    except TimeoutError:
        raise RuntimeError(f"load run not finished within its bound; {state.statuses}") from None
    finished = time.perf_counter()
    used = resource.getrusage(resource.RUSAGE_SELF)
    ordered = sorted(state.latencies)
    measured = spec.duration if spec.mode == "timed" else finished - state.started
    return Stats(
        seconds=measured,
        completed=len(ordered),
        statuses={str(k): v for k, v in sorted(state.statuses.items())},
        p50_ms=_percentile(ordered, 0.50),
        p90_ms=_percentile(ordered, 0.90),
        p99_ms=_percentile(ordered, 0.99),
        max_ms=ordered[-1] * 1000 if ordered else 0.0,
        header_matches=state.matches,
        connection_errors=state.errors,
        cpu_seconds=(used.ru_utime - cpu.ru_utime) + (used.ru_stime - cpu.ru_stime),
        wall_seconds=finished - state.started,
        samples=state.samples,
        watched_cpu_seconds=state.watched[1] - state.watched[0] if len(state.watched) == 2 else 0.0,
    )


_CONSTANT = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}"


class _ConstantServer(asyncio.Protocol):
    """Answers every (bodyless) request with the same bytes: the generator's own ceiling."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        complete = self.buffer.count(b"\r\n\r\n")
        if complete:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(_CONSTANT * complete)


async def serve_constant(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_ConstantServer, LOCALHOST, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    import uvloop

    if sys.argv[1:2] == ["--serve-constant"]:
        uvloop.run(serve_constant(int(sys.argv[2])))
        return
    spec = Spec.from_json(sys.stdin.read())
    stats = uvloop.run(run(spec))
    sys.stdout.write(json.dumps(asdict(stats)))


if __name__ == "__main__":
    main()

"""P11: reservations through the command topic (API.md, "Commands over Kafka"), 3,000 SKUs.

The server (CPU 0, as every server here) runs with STOCKLEDGER_KAFKA_COMMAND_TOPIC; the bench
driver produces keyed `reserve` commands of 1 unit each, cycling over 1,000 SKUs x 3 warehouses
(1,000,000 units each), and reads `{topic}.results`:

- the figure: a flood of commands produced as fast as the driver can, answered/s = commands
  over (last result read - first command sent);
- latency: the same commands paced at 80% of that rate for a while, each one's time from its
  send to its result read by the driver (p50/p99);
- the ceiling, same run, same split: `bench/kafka_echo.py` on CPU 0, aiokafka consuming the
  same flood and producing each message to a results topic in the loop the command consumer
  runs (poll, produce, acks, commit), with no ledger.
- P1 of the same run (HTTP reservations over the same kind of streams), for the goal >= 3x P1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.harness import ROOT, SERVER_CPU, SPLIT, batches, harness, per_second, pinned
from bench.results import Result
from bench.runner import Context, scenario
from bench.scenarios.http_reserve import p1_run

SKUS, WAREHOUSES = 1_000, ("WH-A", "WH-B", "WH-C")
UNITS = 1_000_000
PARTITIONS = 6  # the server's default (STOCKLEDGER_KAFKA_PARTITIONS), for the echo's topics too
PRINCIPAL = "bench-orders"  # the principal of the bench's orders key (harness.Keys)


@dataclass
class Through:
    """What went through a topic and came back on its results topic."""

    sent: dict[str, float] = field(default_factory=dict)  # key -> when it was sent
    answered: dict[str, float] = field(default_factory=dict)  # key -> when its result was read
    statuses: Counter[int | None] = field(default_factory=Counter)
    cpu_seconds: float = 0.0  # of the process answering, over the run

    @property
    def rate(self) -> float:
        if not self.answered:
            return 0.0
        span = max(self.answered.values()) - min(self.sent.values())
        return len(self.answered) / span if span > 0 else 0.0

    def latency_ms(self, q: float) -> float:
        lags = sorted(self.answered[k] - self.sent[k] for k in self.answered)
        return lags[min(len(lags) - 1, int(q * len(lags)))] * 1000 if lags else 0.0


def reservations(
    prefix: str, streams: list[tuple[str, str]], count: int
) -> list[tuple[str, bytes]]:
    """`count` keyed reserve commands of 1 unit, cycling over `streams`."""
    tag = uuid.uuid4().hex[:6]
    return [
        (
            f"{prefix}-{tag}-{i}",
            orjson.dumps(
                {
                    "command": "reserve",
                    "principal": PRINCIPAL,
                    "body": {
                        "orderId": f"{prefix}-{tag}-O{i}",
                        "lines": [{"sku": sku, "warehouseId": wh, "quantity": 1}],
                    },
                }
            ),
        )
        for i, (sku, wh) in ((i, streams[i % len(streams)]) for i in range(count))
    ]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def through(
    bootstrap: str,
    topic: str,
    messages: list[tuple[str, bytes]],
    *,
    per_second: float | None = None,
    pid: int | None = None,
    stall_seconds: float = 60,
) -> Through:
    """Send `messages` (as fast as possible, or paced at `per_second`) and read their results."""
    seen = Through()
    wanted = {key for key, _ in messages}
    reader = AIOKafkaConsumer(
        f"{topic}.results",
        bootstrap_servers=bootstrap,
        group_id=f"bench-reader-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="latest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=2)
    await reader.start()
    await producer.start()
    try:
        while not reader.assignment():
            await reader.getmany(timeout_ms=100)
        await reader.seek_to_end()
        for partition in reader.assignment():
            await reader.position(partition)  # resolved now, before anything is sent

        async def read() -> None:
            while True:
                batches = await reader.getmany(timeout_ms=50, max_records=10_000)
                now = time.monotonic()
                for records in batches.values():
                    for record in records:
                        key = (record.key or b"").decode()
                        if key in wanted and key not in seen.answered:
                            seen.answered[key] = now
                            status = orjson.loads(record.value or b"{}").get("status")
                            seen.statuses[status] += 1

        reading = asyncio.create_task(read())
        cpu_before = cpu_seconds(pid) if pid else 0.0
        acks = []
        start = time.monotonic()
        for n, (key, value) in enumerate(messages):
            if per_second is not None:
                due = start + n / per_second
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
            seen.sent[key] = time.monotonic()
            acks.append(await producer.send(topic, value, key=key.encode()))
        await asyncio.gather(*acks)
        last, count = time.monotonic(), 0
        while len(seen.answered) < len(messages):
            await asyncio.sleep(0.05)
            if len(seen.answered) != count:
                last, count = time.monotonic(), len(seen.answered)
            elif time.monotonic() - last > stall_seconds:
                break  # reported short: the figure says how many were answered
        seen.cpu_seconds = (cpu_seconds(pid) - cpu_before) if pid else 0.0
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
    finally:
        await producer.stop()
        await reader.stop()
    return seen


@contextlib.asynccontextmanager
async def echo_process(bootstrap: str, topic: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """The ceiling's consumer-producer, pinned to the server's CPU, its topics created first."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, PARTITIONS, 1) for name in (topic, f"{topic}.results")]
        )
    finally:
        await admin.close()
    argv = [sys.executable, "-m", "bench.kafka_echo", bootstrap, topic, f"{topic}-group"]
    proc = await asyncio.create_subprocess_exec(
        *pinned(SERVER_CPU, argv),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 60)
        yield proc
    finally:
        proc.terminate()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(proc.wait(), 10)


@scenario("P11", "reservations through the command topic, 3,000 SKUs, vs aiokafka echoing them")
async def commands_over_kafka(context: Context) -> list[Result]:
    p1 = (await p1_run(context)).rate  # HTTP first, on its own server
    h = await harness()
    count = 15_000 if context.quick else 60_000
    paced_seconds = 5.0 if context.quick else 10.0
    prefix = h.ids("P11")
    streams = [(f"{prefix}-{n:04d}", wh) for n in range(SKUS) for wh in WAREHOUSES]
    topic = f"bench-{h.run_id}-p11-commands"
    async with h.server(
        "P11",
        kafka_command_topic=topic,
        kafka_command_group=f"{topic}-group",
        kafka_command_principals=f"{PRINCIPAL}:orders",
    ) as server:
        context.console.print(f"setup: receiving {len(streams):,} streams")
        await server.receive(streams, UNITS)
        warm = await through(h.kafka, topic, reservations(prefix, streams, 200))
        if len(warm.answered) != 200:
            raise RuntimeError(f"the command consumer answered {len(warm.answered)} of 200")
        before = await server.metrics()
        async with server.profiled("P11-commands", 15):  # STOCKLEDGER_BENCH_PROFILE: py-spy
            flood = await through(
                h.kafka, topic, reservations(prefix, streams, count), pid=server.pid
            )
        group_commit = batches(before, await server.metrics())
        context.console.print(f"commands over kafka: {flood.rate:,.0f}/s {dict(flood.statuses)}")
        pace = 0.8 * flood.rate
        paced = await through(
            h.kafka,
            topic,
            reservations(prefix, streams, int(pace * paced_seconds)),
            per_second=pace,
        )
        context.console.print(
            f"paced at {pace:,.0f}/s: p99 {paced.latency_ms(0.99):.0f} ms {dict(paced.statuses)}"
        )
    echo_topic = f"bench-{h.run_id}-p11-echo"
    async with echo_process(h.kafka, echo_topic) as echo:
        await through(h.kafka, echo_topic, reservations(prefix, streams, 200))
        ceiling = await through(
            h.kafka, echo_topic, reservations(prefix, streams, count), pid=echo.pid
        )
    context.console.print(f"aiokafka echo: {ceiling.rate:,.0f}/s")
    return [_p11(flood, paced, ceiling, p1, group_commit, pace, paced_seconds)]


def _p11(
    flood: Through,
    paced: Through,
    ceiling: Through,
    p1: float,
    group_commit: str,
    pace: float,
    paced_seconds: float,
) -> Result:
    count = len(flood.sent)
    rate, top = flood.rate, ceiling.rate
    failed = count - flood.statuses.get(201, 0)
    versus_p1 = rate / p1 if p1 else 0.0
    p99 = paced.latency_ms(0.99)
    cpu_ms = 1000 * flood.cpu_seconds / max(1, len(flood.answered))
    return Result(
        scenario=f"P11 reservations through the command topic, {SKUS:,} SKUs x 3 warehouses, "
        f"{count:,} keyed commands produced at once ({SPLIT})",
        figure=f"{per_second(rate)} answered ({failed:,} not 201), {versus_p1:.2f}x P1 of this "
        f"run ({per_second(p1)}); server {cpu_ms:.2f} ms CPU per command; {group_commit}; "
        f"paced at {per_second(pace)} for {paced_seconds:.0f} s: produce -> result p50 "
        f"{paced.latency_ms(0.5):.0f} ms, p99 {p99:.0f} ms ({len(paced.answered):,} of "
        f"{len(paced.sent):,} answered)",
        ceiling=f"{per_second(top)} aiokafka consuming and producing the same messages, no "
        f"ledger (same CPU)",
        ratio=rate / top if top else None,
        goal=">= 5,000/s, >= 3x P1, p99 <= 100 ms at 80%",
        met=rate >= 5000
        and versus_p1 >= 3
        and p99 <= 100
        and failed == 0
        and len(paced.answered) == len(paced.sent),
    )

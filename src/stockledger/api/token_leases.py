"""The rate limiter's budgets: GCRA buckets in Redis, spent locally through leases.

Each principal of a limited role has one bucket in Redis, kept as GCRA: one number, its
theoretical arrival time (TAT) on Redis's clock, read, compared and moved by one Lua script, so
two processes can never both take the last token. A process does not ask Redis for every
request: it takes a *lease* of up to `lease_cap(limit)` tokens at once (debited from the bucket
at that moment) and spends them locally, one per request, until they are gone or
`LEASE_SECONDS` have passed (what is left then is dropped, never given back). A refusal is kept
locally too, until the next token is due: nothing gives tokens back earlier.

What the leases cost in accuracy, with P processes serving one principal and k = `lease_cap`:
- Never more than the bucket allows over the whole life of the budget (every token that lets
  a request through was debited in Redis). Within a window [a, b], the requests that pass use
  tokens debited in [a - LEASE_SECONDS, b], plus at most the k each process held at `a`; so
  they exceed the bucket's allowance (burst + rate x (b - a)) by at most
  min(P x k, rate x LEASE_SECONDS). k is a sixteenth of the burst: two processes can let
  through at most 1/8 of a burst more than a single bucket would, in any window.
- A process may refuse while another still holds up to k unspent tokens (early by at most
  (P - 1) x k), and tokens left in a lease when it lapses are lost (at most k per process a
  lapse). Lease sizes follow use (double while a lease runs out, twice what the last one spent
  when it lapses), so an idle principal takes leases of 1 and loses nearly nothing.
- `RateLimit-Remaining` is what Redis had after the lease plus what the lease has left: other
  processes' unspent leases count as spent.

With bursts of 16 or fewer k is 1: every request is one exact script call, as without leases.
Checks of different principals that need Redis at the same moment share one script call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import RateLimit

if TYPE_CHECKING:
    import redis.asyncio as aioredis

LEASE_SECONDS = 0.25  # a lease's tokens are spent within this, or dropped
LEASE_SHARE = 16  # a lease holds at most this fraction of the burst
MAX_LEASES = 10_000  # principals remembered per process; lapsed ones are dropped past it

# KEYS: one bucket per lease asked for (a principal's TAT, microseconds on Redis's clock);
# ARGV, three per key: the emission interval (microseconds a token takes to come back), the
# burst, the tokens wanted. Returns per key, in order: tokens granted (as many as the bucket
# holds, up to those wanted; 0 = refused), tokens left in the bucket, microseconds until one
# more would pass, microseconds until the bucket is full. Leases of one call on one key see
# each other's spending: the script runs them one after the other, atomically.
GCRA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local answers = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local tolerance = interval * tonumber(ARGV[3 * i - 1])
  local wanted = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local granted = math.min(wanted, math.floor((now + tolerance - tat) / interval))
  if granted < 1 then
    table.insert(answers, {0, 0, tat + interval - tolerance - now, tat - now})
  else
    local new_tat = tat + granted * interval
    local ttl_ms = math.ceil((new_tat - now) / 1000) + 1
    redis.call('SET', key, string.format('%d', new_tat), 'PX', ttl_ms)
    local left = math.floor((now + tolerance - new_tat) / interval)
    table.insert(answers, {granted, left, 0, new_tat - now})
  end
end
return answers
"""

Grant = tuple[int, int, int, int]  # granted, left in the bucket, us to the next, us to full


def lease_cap(limit: RateLimit) -> int:
    """The most tokens one process takes at once for one principal of this limit."""
    return max(1, limit.burst // LEASE_SHARE)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One request's answer: passes or not, and what its RateLimit-* headers say."""

    allowed: bool
    remaining: int
    reset_seconds: float  # until the bucket is full again
    retry_seconds: float = 0.0  # until a request would pass (refused only)


class Buckets:
    """Asks Redis for leases, coalescing the asks of concurrent requests: while one script call
    is on the wire, the asks that arrive wait for the next one, which carries them all (as the
    ledger's group commit does for appends)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.script = redis.register_script(GCRA)
        self.pending: list[tuple[str, int, int, int, asyncio.Future[Grant]]] = []
        self.task: asyncio.Task[None] | None = None  # held: the loop keeps weak references

    async def take(self, key: str, interval_us: int, burst: int, wanted: int) -> Grant:
        future: asyncio.Future[Grant] = asyncio.get_running_loop().create_future()
        self.pending.append((key, interval_us, burst, wanted, future))
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                args: list[int] = []
                for _, interval_us, burst, wanted, _ in batch:
                    args += (interval_us, burst, wanted)
                try:
                    answers = await self.script(keys=[b[0] for b in batch], args=args)
                except BaseException as error:  # every waiter learns it (the caller decides)
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for (*_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        g, left, nxt, full = (int(x) for x in answer)
                        future.set_result((g, left, nxt, full))
        finally:
            self.task = None


class Lease:
    """One principal's tokens in this process, and its refusal while no token is due."""

    __slots__ = (
        "bucket_left",
        "full_at",
        "lapses",
        "left",
        "refill",
        "refused_until",
        "size",
        "spent",
    )

    def __init__(self) -> None:
        self.left = 0  # tokens of the current lease not spent yet
        self.lapses = 0.0  # monotonic time the current lease's tokens are dropped
        self.bucket_left = 0  # what Redis held after this lease was taken
        self.full_at = 0.0  # monotonic time the bucket is full again
        self.refused_until = 0.0  # no token is due before this (monotonic)
        self.size = 1  # tokens the next lease asks for
        self.spent = 0  # tokens spent of the current lease
        self.refill: asyncio.Task[None] | None = None  # the lease being taken, if any


class Leases:
    """Spends one token per request from this process's lease of the principal's bucket."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.buckets = Buckets(redis)
        self.leases: dict[str, Lease] = {}

    async def spend(self, key: str, limit: RateLimit) -> Verdict:
        """A token of `key`'s bucket, or a refusal; raises what Redis raised."""
        lease = self.leases.get(key)
        if lease is None:
            lease = self.leases[key] = Lease()
            if len(self.leases) > MAX_LEASES:
                self._forget_lapsed()
        while True:
            now = time.monotonic()
            if lease.left > 0 and now < lease.lapses:
                lease.left -= 1
                lease.spent += 1
                return Verdict(True, lease.bucket_left + lease.left, lease.full_at - now)
            if now < lease.refused_until:
                return Verdict(False, 0, lease.full_at - now, lease.refused_until - now)
            if lease.refill is None:
                lease.refill = asyncio.get_running_loop().create_task(
                    self._refill(key, lease, limit)
                )
            # A task, not this request's own await: if this request is cancelled, the others
            # waiting on the same lease still get it.
            await asyncio.shield(lease.refill)

    async def _refill(self, key: str, lease: Lease, limit: RateLimit) -> None:
        try:
            # Sized by use: the last lease ran out -> twice its size; it lapsed -> twice what
            # it spent (an idle principal goes back to leases of one).
            ran_out = lease.left == 0 and lease.spent > 0
            used = lease.size if ran_out else lease.spent
            lease.size = min(lease_cap(limit), max(1, 2 * used))
            granted, left, next_us, full_us = await self.buckets.take(
                key, round(1_000_000 / limit.rate), limit.burst, lease.size
            )
            now = time.monotonic()
            lease.left, lease.spent, lease.bucket_left = granted, 0, left
            lease.lapses = now + LEASE_SECONDS
            lease.full_at = now + full_us / 1_000_000
            if not granted:
                lease.refused_until = now + next_us / 1_000_000
        finally:
            lease.refill = None

    def _forget_lapsed(self) -> None:
        now = time.monotonic()
        for key in [k for k, v in self.leases.items() if v.refill is None and v.lapses < now]:
            if now >= self.leases[key].refused_until:
                del self.leases[key]

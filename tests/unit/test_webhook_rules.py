"""The webhook rules that need no I/O: the retry schedule, the SSRF guard's address ranges,
sealed secrets and what a subscription matches."""

from __future__ import annotations

import itertools
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from stockledger.config import Settings
from stockledger.store.rows import RecordedEvent
from stockledger.webhooks import schedule
from stockledger.webhooks.addresses import (
    GuardedResolver,
    RefusedAddress,
    UnsafeUrl,
    check_url,
    parse,
    why_refused,
)
from stockledger.webhooks.matcher import Filter, skus
from stockledger.webhooks.queue import Attempt, Due, Outcome, webhook_health
from stockledger.webhooks.secret_box import SecretBox, SecretUnreadable, new_secret, secret_box

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_backoff_doubles_from_5_seconds_up_to_an_hour() -> None:
    waits = [schedule.backoff(n) / SECOND for n in range(1, 15)]
    assert waits[:11] == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert set(waits[11:]) == {3600}


def _attempts(first: datetime) -> list[datetime]:
    """Every attempt of a delivery that always fails, from its first one to its giving up."""
    tries, now = [first], first
    while (after := schedule.next_attempt(first, len(tries), now)) is not None:
        tries.append(after)
        now = after
    return tries


def test_a_failing_delivery_is_retried_for_24_hours_the_last_try_at_24_hours() -> None:
    tries = _attempts(T0)
    assert tries[1] - tries[0] == 5 * SECOND
    assert tries[-1] == T0 + timedelta(hours=24)
    assert len(tries) == 34  # 10 doubling waits (5 s to 2,560 s), then hourly, cut at 24 h
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert max(gaps) == timedelta(hours=1)
    assert schedule.next_attempt(T0, 40, tries[-1]) is None  # at 24 h: given up


@given(st.integers(1, 60), st.integers(0, 48 * 3600))
def test_a_retry_is_never_past_24_hours_nor_sooner_than_its_backoff(
    attempts: int, elapsed: int
) -> None:
    now = T0 + elapsed * SECOND
    after = schedule.next_attempt(T0, attempts, now)
    if now >= T0 + timedelta(hours=24):
        assert after is None
    else:
        assert after is not None
        assert now < after <= T0 + timedelta(hours=24)
        assert after == min(now + schedule.backoff(attempts), T0 + timedelta(hours=24))


def test_an_endpoint_is_disabled_after_3_days_of_failing_everything() -> None:
    assert not schedule.disabled(None, T0)
    assert not schedule.disabled(T0, T0 + timedelta(days=3) - SECOND)
    assert schedule.disabled(T0, T0 + timedelta(days=3))


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("fe80::1%eth0", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("100.64.0.1", "not a global"),  # carrier-grade NAT
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "private"),
        ("240.0.0.1", "address"),  # reserved (private in some Python versions)
    ],
)
def test_the_guard_refuses_every_address_that_is_not_global(address: str, why: str) -> None:
    assert why in (why_refused(address) or "")


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111"])
def test_the_guard_lets_public_addresses_through(address: str) -> None:
    assert why_refused(address) is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://x",
        "http://",
        "http://h:99999/",
        "http://[0]/",
        "x",
    ],
)
def test_only_http_and_https_urls_with_a_host(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        parse(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",  # a name: resolved (/etc/hosts), then refused
        "https://[::1]/",
        "http://127.1/",  # a legacy IPv4 form the resolver maps to 127.0.0.1
        "http://10.0.0.7/",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
async def test_registration_refuses_urls_that_lead_to_private_addresses(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await check_url(url, allow_private=False)
    await check_url(url, allow_private=True)  # STOCKLEDGER_WEBHOOKS_ALLOW_PRIVATE=true


async def test_the_delivery_resolver_refuses_a_name_that_resolves_to_loopback() -> None:
    resolver = GuardedResolver()
    try:
        with pytest.raises(RefusedAddress, match="loopback"):
            await resolver.resolve("localhost", 80, socket.AF_UNSPEC)
    finally:
        await resolver.close()


def test_a_sealed_secret_opens_only_with_its_key_and_its_webhook() -> None:
    box, hook, secret = SecretBox(["key-one"]), uuid4(), new_secret()
    sealed = box.seal(secret, hook)
    assert secret.encode() not in sealed
    assert secret.removeprefix("whsec_").encode() not in sealed
    assert box.open(sealed, hook) == secret
    with pytest.raises(SecretUnreadable):
        box.open(sealed, uuid4())  # moved onto another webhook's row
    with pytest.raises(SecretUnreadable):
        SecretBox(["key-two"]).open(sealed, hook)
    rotated = SecretBox(["key-two", "key-one"])  # the new key first: seals; the old opens
    assert rotated.open(sealed, hook) == secret
    assert SecretBox(["key-two"]).open(rotated.seal(secret, hook), hook) == secret


def test_the_secret_is_a_standard_webhooks_secret() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    signature = Webhook(secret).sign("id", T0, b"{}")
    assert signature.startswith("v1,")


def test_the_sealing_key_comes_from_the_environment() -> None:
    assert secret_box(Settings()) is None  # no key: no webhooks
    assert secret_box(Settings(webhooks_secret_key="", audit_key="")) is None  # empty: not set
    own = secret_box(Settings(webhooks_secret_key="k1, k2", audit_key="audit"))
    audit = secret_box(Settings(audit_key="audit"))
    assert own is not None
    assert audit is not None
    hook = uuid4()
    assert SecretBox(["k1"]).open(own.seal("whsec_x", hook), hook) == "whsec_x"
    assert SecretBox(["audit"]).open(audit.seal("whsec_x", hook), hook) == "whsec_x"
    with pytest.raises(SecretUnreadable):
        own.open(audit.seal("whsec_x", hook), hook)


def _event(stream_id: str, type_: str = "StockReceived", **data: Any) -> RecordedEvent:
    return RecordedEvent(1, uuid4(), stream_id, 1, type_, 1, data, {}, T0)


def test_an_event_is_about_the_skus_of_its_stream_and_its_data() -> None:
    assert skus(_event("stock:SKU-1:WH-A")) == {"SKU-1"}
    assert skus(_event("item:SKU-2")) == {"SKU-2"}
    assert skus(_event("reorder:SKU-3:WH-A")) == {"SKU-3"}
    assert skus(_event("warehouse:WH-A")) == set()
    lines = [{"sku": "A-1", "warehouseId": "W"}, {"sku": "B-2", "warehouseId": "W"}]
    assert skus(_event("reservation:R-1", "ReservationConfirmed", lines=lines)) == {"A-1", "B-2"}


def test_a_subscription_matches_its_types_and_its_sku_prefix() -> None:
    everything = Filter(uuid4(), None, None)
    shipped = Filter(uuid4(), frozenset({"StockShipped"}), None)
    shoes = Filter(uuid4(), None, "SHOE-")
    assert everything.matches(_event("warehouse:WH-A", "WarehouseDefined"))
    assert not shipped.matches(_event("stock:SHOE-1:WH"))
    assert shipped.matches(_event("stock:SHOE-1:WH", "StockShipped"))
    assert shoes.matches(_event("stock:SHOE-1:WH"))
    assert not shoes.matches(_event("stock:HAT:W"))
    assert not shoes.matches(_event("warehouse:WH-A", "WarehouseDefined"))


def _outcome(status: int | None, at: datetime) -> Outcome:
    due = Due(uuid4(), "stock:S:W", 0, None, str(uuid4()), None, b"{}")
    return Outcome(due, Attempt(status, None if status == 200 else "HTTP 500"), at)


def test_an_endpoint_is_failing_from_its_first_failure_until_anything_is_delivered() -> None:
    day = timedelta(days=1)
    assert webhook_health(None, []) == (None, True)
    assert webhook_health(None, [_outcome(500, T0)]) == (T0, True)
    assert webhook_health(T0, [_outcome(500, T0 + 2 * day)]) == (T0, True)
    assert webhook_health(T0, [_outcome(500, T0 + 3 * day)]) == (T0, False)  # disabled
    mixed = [_outcome(500, T0 + 3 * day), _outcome(200, T0 + 3 * day)]
    assert webhook_health(T0, mixed) == (None, True)  # not every attempt failed
    assert webhook_health(None, [_outcome(None, T0 + day), _outcome(503, T0)]) == (T0, True)

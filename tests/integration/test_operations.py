"""Operators' tools from the CLI: verify finds drift and exits non-zero, replay repairs it;
/metrics shows the pipeline."""

from __future__ import annotations

import asyncio
import functools
import subprocess
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from stockledger.config import Settings

from ..support import edit_events, run_cli
from .pipeline import start_pipeline


def cli(
    settings: Settings, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        *args,
        **(extra or {}),
        STOCKLEDGER_DATABASE_URL=settings.require_database_url(),
        STOCKLEDGER_REDIS_URL=str(settings.redis_url),
    )


async def test_verify_reports_drift_and_replay_repairs_it(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, ids: Any
) -> None:
    async with start_pipeline(new_database, kafka_broker, redis_server) as pipe:
        sku = ids("SKU")
        await pipe.api.receive(sku, "WH-A", 10)
        rid = (await pipe.api.reserve(ids("ORDER"), (sku, "WH-A", 3))).json()["reservationId"]
        await pipe.api.post(f"/v1/reservations/{rid}/confirm", {}, role="orders")
        await pipe.wait_caught_up()

        clean = await asyncio.to_thread(cli, pipe.settings, "verify")
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "no drift" in clean.stdout + clean.stderr

        stream = f"stock:{sku}:WH-A"
        await pipe.pool.execute(
            "UPDATE stock_levels SET on_hand = on_hand + 1 WHERE stream_id = $1", stream
        )
        drifted = await asyncio.to_thread(cli, pipe.settings, "verify")
        report = drifted.stdout + drifted.stderr
        assert drifted.returncode == 1
        assert "postgres drift" in report
        assert stream in report

        repaired = await asyncio.to_thread(
            cli, pipe.settings, "replay", "--projection", "stock-levels"
        )
        assert repaired.returncode == 0, repaired.stderr
        assert "stock-levels rebuilt" in repaired.stdout + repaired.stderr
        again = await asyncio.to_thread(cli, pipe.settings, "verify")
        assert again.returncode == 0, again.stdout + again.stderr


async def test_metrics_show_commands_outbox_relay_and_projection(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, ids: Any
) -> None:
    async with start_pipeline(new_database, kafka_broker, redis_server) as pipe:
        await pipe.api.receive(ids("SKU"), "WH-A", 1)
        await pipe.wait_caught_up()
        text = (await pipe.api.http.get("/metrics")).text
        for name in (
            'stockledger_command_seconds_count{command="ReceiveStock"}',
            "stockledger_outbox_backlog",
            "stockledger_outbox_oldest_age_seconds",
            "stockledger_relay_published_total",
            "stockledger_consumer_lag",
            "stockledger_projection_apply_seconds_count",
            "stockledger_append_conflicts_total",
            "stockledger_append_retries_total",
            "stockledger_reservations_expired_total",
        ):
            assert name in text, name
        assert "k-admin" not in text


async def test_verify_counts_projections_that_are_missing_instead_of_saying_no_drift(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, ids: Any
) -> None:
    async with start_pipeline(new_database, kafka_broker, redis_server) as pipe:
        sku = ids("MISSING")
        await pipe.api.receive(sku, "WH-A", 2)
        await pipe.wait_caught_up()
        await pipe.pool.execute("DELETE FROM stock_levels")  # a read model that was lost
        await pipe.redis.flushdb()
        result = await asyncio.to_thread(cli, pipe.settings, "verify")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "no drift:" not in result.stderr
    assert "incomplete" in result.stderr
    assert "streams with no row" in result.stderr
    table = [
        line
        for line in result.stderr.splitlines()
        if line.strip().startswith(("│ postgres", "│ redis"))
    ]
    assert len(table) == 2, table
    assert all(" 2 " in line for line in table), table  # the warm-up SKU and this one


async def test_republish_sends_the_stores_events_again_as_the_relay_did(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, ids: Any
) -> None:
    from .kafka_reader import read_records

    async with start_pipeline(new_database, kafka_broker, redis_server) as pipe:
        sku = ids("AGAIN")
        for quantity in (1, 2, 3):
            await pipe.api.receive(sku, "WH-A", quantity)
        await pipe.wait_caught_up()
        before = await read_records(kafka_broker, pipe.settings.kafka_topic)
        kafka = {
            "STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS": kafka_broker,
            "STOCKLEDGER_KAFKA_TOPIC": pipe.settings.kafka_topic,
            "STOCKLEDGER_KAFKA_IDEMPOTENCE": "false",
        }
        republish = functools.partial(cli, extra=kafka)
        result = await asyncio.to_thread(
            republish, pipe.settings, "republish", "--stream", f"stock:{sku}:WH-A"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "republished 3 events" in result.stderr
        after = await read_records(kafka_broker, pipe.settings.kafka_topic)
        originals = [r for r in before if r.key == f"stock:{sku}:WH-A".encode()]
        again = [r for r in after if r.key == f"stock:{sku}:WH-A".encode()][len(originals) :]
        assert len(originals) == 3
        assert [(r.value, r.headers, r.partition) for r in again] == [
            (r.value, r.headers, r.partition) for r in originals
        ]
        await pipe.wait_caught_up()
        assert (await pipe.api.stock(sku, "WH-A"))["onHand"] == 6  # consumers dedupe
        assert await pipe.pool.fetchval("SELECT count(*) FROM outbox") == 0  # untouched


async def test_migrate_fills_read_models_added_after_their_events(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, ids: Any
) -> None:
    """A database upgraded to the schema that added catalog_views and the alert tables holds
    item, warehouse and rule events the projectors will not see again: `migrate` fills them."""
    async with start_pipeline(new_database, kafka_broker, redis_server) as pipe:
        sku = ids("OLD")
        item_put = await pipe.api.http.put(
            f"/v1/items/{sku}", json={"name": "Old item"}, headers={"X-API-Key": "k-admin"}
        )
        assert item_put.status_code == 201, item_put.text
        rule_put = await pipe.api.http.put(
            f"/v1/reorder-rules/{sku}/WH-A",
            json={"reorderPoint": 3, "reorderQuantity": 10},
            headers={"X-API-Key": "k-admin"},
        )
        assert rule_put.status_code == 201, rule_put.text
        await pipe.wait_caught_up()
        await pipe.pool.execute("TRUNCATE catalog_views, reorder_views, alerts")  # as upgraded
        upgraded = await asyncio.to_thread(cli, pipe.settings, "migrate")
        said = upgraded.stdout + upgraded.stderr
        assert upgraded.returncode == 0, said
        assert "read models filled from the store: catalog, alerts" in said
        analysed = await pipe.pool.fetch(
            "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public'"
        )
        assert {"events", "catalog_views", "reorder_views"} <= {r[0] for r in analysed}
        item = await pipe.pool.fetchrow(
            "SELECT * FROM catalog_views WHERE stream_id = $1", f"item:{sku}"
        )
        assert item is not None
        assert item["state"]["name"] == "Old item"
        alert = await pipe.pool.fetchrow(
            "SELECT kind FROM alerts WHERE stream_id = $1", f"reorder:{sku}:WH-A"
        )
        assert alert is not None
        assert alert["kind"] == "stock_out"
        again = await asyncio.to_thread(cli, pipe.settings, "migrate")  # filled once only
        assert "filled" not in again.stdout + again.stderr


async def test_verify_checks_every_stream_value_against_its_events(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, ids: Any
) -> None:
    """A stock_values row that no longer sums to the fold, and a recorded cost the rules do
    not give, are both drift (exit 1), named with their stream."""
    async with start_pipeline(new_database, kafka_broker, redis_server) as pipe:
        sku = ids("VALUED")
        stream = f"stock:{sku}:WH-A"
        await pipe.api.receive(sku, "WH-A", 10, unitCost="2.00")
        await pipe.api.receive(sku, "WH-A", 10, unitCost="3.00")
        shipment = {
            "shipmentId": ids("SHIP"),
            "orderId": ids("ORDER"),
            "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": 15}],
        }
        shipped = await pipe.api.post("/v1/shipments", shipment)
        assert shipped.status_code == 201, shipped.text
        assert Decimal(shipped.json()["events"][0]["data"]["lines"][0]["cost"]) == 35
        await pipe.wait_caught_up()
        clean = await asyncio.to_thread(cli, pipe.settings, "verify")
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "values" in clean.stderr  # the success line names the value checks

        async def verify_finds(check: str) -> None:
            found = await asyncio.to_thread(cli, pipe.settings, "verify")
            report = found.stdout + found.stderr
            assert found.returncode == 1, report
            assert check in report
            assert stream in report

        first = "SELECT min(position) FROM stock_values WHERE stream_id = $1"
        tamper = f"UPDATE stock_values SET d_value = d_value + 1 WHERE position = ({first})"
        await pipe.pool.execute(tamper, stream)
        await verify_finds("stock values")
        await pipe.pool.execute(tamper.replace("+ 1", "- 1"), stream)

        edit = "UPDATE events SET data = jsonb_set(data, '{lines,0,cost}', '\"30.00\"') "
        async with pipe.pool.acquire() as conn:
            await edit_events(
                conn, (edit + "WHERE stream_id = $1 AND type = 'StockShipped'", stream)
            )
        await verify_finds("recorded cost")

"""An order service sells gift boxes over HTTP against a real Postgres: kits defined by ops
staff, reserved as their components, never more than the components allow; a kit takes no
stock of its own; every refusal appends nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from stockledger.api.app import create_app
from stockledger.config import Settings

from .conftest import Api, auth

pytestmark = pytest.mark.asyncio


async def put_kit(api: Api, sku: str, *parts: tuple[str, int], role: str = "warehouse") -> Any:
    body = {"components": [{"sku": s, "quantity": q} for s, q in parts]}
    correlation = f"put-{sku}-{len(parts)}-{parts[0][0] if parts else ''}"
    headers = {**auth(role), "X-Correlation-Id": correlation}
    return await api.http.put(f"/v1/kits/{sku}", json=body, headers=headers)


async def nothing_under(api: Api, correlation: str) -> bool:
    found = await api.get(f"/v1/correlations/{correlation}/events", role="auditor")
    assert found.status_code == 200, found.text
    events: list[Any] = found.json()["events"]
    return events == []


async def test_a_kit_is_defined_changed_read_back_and_written_by_warehouse_or_admin(
    api: Api, ids: Any
) -> None:
    kit, mug, tea = ids("GIFT"), ids("MUG"), ids("TEA")
    first = await put_kit(api, kit, (mug, 2), (tea, 1))
    assert first.status_code == 201, first.text
    body = first.json()
    assert [e["type"] for e in body["events"]] == ["KitDefined"]
    assert body["components"] == [{"sku": mug, "quantity": 2}, {"sku": tea, "quantity": 1}]
    same = await put_kit(api, kit, (mug, 2), (tea, 1))
    assert (same.status_code, same.json()["events"]) == (200, [])
    changed = await put_kit(api, kit, (mug, 1), role="admin")
    assert changed.status_code == 200
    [event] = changed.json()["events"]
    assert (event["type"], event["data"]) == (
        "KitChanged",
        {"sku": kit, "components": [{"sku": mug, "quantity": 1}]},
    )
    got = await api.get(f"/v1/kits/{kit}", role="orders")
    assert got.status_code == 200
    assert (got.json()["version"], got.json()["components"]) == (2, [{"sku": mug, "quantity": 1}])
    assert (await api.get(f"/v1/kits/{ids('NEVER')}")).status_code == 404
    for role in ("orders", "auditor"):
        assert (await put_kit(api, kit, (tea, 1), role=role)).status_code == 403
    assert (await api.get(f"/v1/kits/{kit}")).json()["version"] == 2


async def test_bad_kits_are_refused_with_a_problem_and_append_nothing(api: Api, ids: Any) -> None:
    kit, inner, a = ids("BOX"), ids("INNER"), ids("A")
    assert (await put_kit(api, inner, (a, 1))).status_code == 201
    stocked = ids("STOCKED")
    await api.receive(stocked, "WH-A", 1)
    bad: list[tuple[str, tuple[tuple[str, int], ...], int, str]] = [
        (kit, (), 422, "validation-error"),
        (kit, ((a, 0),), 422, "validation-error"),
        (kit, tuple((f"{a}-{i}", 1) for i in range(51)), 422, "validation-error"),
        (kit, ((kit, 1),), 422, "validation-error"),  # itself
        (kit, ((inner, 1), (a, 1)), 422, "validation-error"),  # a kit inside
        (kit, ((a, 1), (a, 2)), 422, "validation-error"),
        (a, ((stocked, 1),), 422, "validation-error"),  # `a` is inside a kit already
        (stocked, ((a, 1),), 409, "kit-has-no-stock"),  # has stock events
    ]
    for sku, parts, status, slug in bad:
        refused = await put_kit(api, sku, *parts)
        assert refused.status_code == status, (parts, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == f"/problems/{slug}"
        if parts:
            assert await nothing_under(api, f"put-{sku}-{len(parts)}-{parts[0][0]}")
    assert (await api.get(f"/v1/kits/{kit}")).status_code == 404
    assert (await api.get(f"/v1/kits/{inner}")).json()["version"] == 1


async def test_a_kit_takes_no_stock_of_its_own(api: Api, ids: Any) -> None:
    kit, part = ids("KIT"), ids("PART")
    assert (await put_kit(api, kit, (part, 1))).status_code == 201
    po = ids("PO")
    refused = await api.receive(kit, "WH-A", 5, expect=409, purchaseOrderId=po)
    assert refused.json()["type"] == "/problems/kit-has-no-stock"
    assert refused.json()["sku"] == kit
    assert await nothing_under(api, po)
    adjusted = await api.post(
        "/v1/adjustments",
        {
            "sku": kit,
            "warehouseId": "WH-A",
            "quantityChange": 3,
            "reason": "system_correction",
            "notes": "x",
        },
    )
    assert adjusted.status_code == 409
    assert adjusted.json()["type"] == "/problems/kit-has-no-stock"
    level = await api.stock(kit, "WH-A")
    assert (level["kit"], level["available"]) == (True, 0)


async def test_kits_reserve_their_components_and_sum_shared_ones_before_the_check(
    api: Api, ids: Any
) -> None:
    gift, brew = ids("GIFT"), ids("BREW")
    mug, tea, spoon = ids("MUG"), ids("TEA"), ids("SPOON")
    for sku, qty in ((mug, 10), (tea, 6), (spoon, 9)):
        await api.receive(sku, "WH-A", qty)
    assert (await put_kit(api, gift, (mug, 2), (tea, 1))).status_code == 201
    assert (await put_kit(api, brew, (tea, 1), (spoon, 3))).status_code == 201

    level = await api.stock(gift, "WH-A")
    assert (level["sku"], level["warehouseId"], level["kit"], level["available"]) == (
        gift,
        "WH-A",
        True,
        5,  # min(10 // 2, 6 // 1)
    )
    assert [(x["sku"], x["available"], x["perKit"]) for x in level["components"]] == [
        (mug, 10, 2),
        (tea, 6, 1),
    ]

    # 4 gifts + 3 brews want 7 teas of 6: refused whole, naming the short component.
    short = await api.reserve(ids("ORDER"), (gift, "WH-A", 4), (brew, "WH-A", 3))
    assert short.status_code == 409
    assert short.json()["type"] == "/problems/insufficient-stock"
    assert short.json()["lines"] == [
        {"sku": tea, "warehouseId": "WH-A", "requested": 7, "available": 6}
    ]
    assert (await api.stock(mug, "WH-A"))["reserved"] == 0

    order = ids("ORDER")
    held = await api.reserve(order, (gift, "WH-A", 2), (spoon, "WH-A", 1), (brew, "WH-A", 1))
    assert held.status_code == 201, held.text
    body = held.json()
    assert body["lines"] == [
        {
            "sku": gift,
            "warehouseId": "WH-A",
            "quantity": 2,
            "components": [
                {"sku": mug, "perKit": 2, "quantity": 4},
                {"sku": tea, "perKit": 1, "quantity": 2},
            ],
        },
        {
            "sku": brew,
            "warehouseId": "WH-A",
            "quantity": 1,
            "components": [
                {"sku": tea, "perKit": 1, "quantity": 1},
                {"sku": spoon, "perKit": 3, "quantity": 3},
            ],
        },
        {"sku": spoon, "warehouseId": "WH-A", "quantity": 1},
    ]
    levels = {x["sku"]: x["reserved"] for x in body["stock"]}
    assert levels == {mug: 4, tea: 3, spoon: 4}
    assert (await api.stock(gift, "WH-A"))["available"] == 3  # min(6 // 2, 3 // 1)

    # A later change of the kit leaves the reservation as it was made.
    assert (await put_kit(api, gift, (spoon, 1))).status_code == 200
    again = await api.get(f"/v1/reservations/{body['reservationId']}", consistency="strong")
    assert again.json()["lines"] == body["lines"]

    shipped = await api.post(
        "/v1/shipments",
        {"shipmentId": ids("SHIP"), "orderId": order, "reservationId": body["reservationId"]},
        role="orders",
    )
    assert shipped.status_code == 201, shipped.text
    after = {x: await api.stock(x, "WH-A") for x in (mug, tea, spoon)}
    assert [(after[x]["onHand"], after[x]["reserved"]) for x in (mug, tea, spoon)] == [
        (6, 0),
        (3, 0),
        (5, 0),
    ]


async def test_releasing_a_kit_reservation_frees_every_component(api: Api, ids: Any) -> None:
    kit, a, b = ids("KIT"), ids("A"), ids("B")
    await api.receive(a, "WH-B", 4)
    await api.receive(b, "WH-B", 4)
    assert (await put_kit(api, kit, (a, 1), (b, 2))).status_code == 201
    held = await api.reserve(ids("ORDER"), (kit, "WH-B", 2))
    assert held.status_code == 201, held.text
    assert (await api.stock(kit, "WH-B"))["available"] == 0
    rid = held.json()["reservationId"]
    released = await api.post(f"/v1/reservations/{rid}/release", {}, role="orders")
    assert released.status_code == 201, released.text
    assert [(await api.stock(x, "WH-B"))["reserved"] for x in (a, b)] == [0, 0]
    assert (await api.stock(kit, "WH-B"))["available"] == 2


@pytest.fixture(scope="module")
async def other(settings: Settings) -> AsyncIterator[Api]:
    """A second app on the same database: another process, with its own state cache."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as http:
            yield Api(http)


async def test_a_kit_defined_by_another_process_is_reserved_at_once(
    api: Api, other: Api, ids: Any
) -> None:
    kit, part = ids("KIT"), ids("PART")
    await api.receive(part, "WH-C", 3)
    early = await other.reserve(ids("ORDER"), (kit, "WH-C", 1))  # no kit yet: nothing there
    assert early.status_code == 409
    assert (await put_kit(api, kit, (part, 3))).status_code == 201
    held = await other.reserve(ids("ORDER"), (kit, "WH-C", 1))  # not a stale "no kit" refusal
    assert held.status_code == 201, held.text
    assert (await api.stock(part, "WH-C"))["reserved"] == 3
    refused = await other.receive(kit, "WH-C", 1, expect=409)
    assert refused.json()["type"] == "/problems/kit-has-no-stock"


async def test_a_kit_of_a_lot_tracked_component_takes_its_lots_fefo_and_ships_them(
    api: Api, ids: Any
) -> None:
    kit, cheese, cracker = ids("PLATTER"), ids("CHEESE"), ids("CRACKER")
    defined = await api.http.put(
        f"/v1/items/{cheese}", json={"name": "Cheese", "tracking": "lot"}, headers=auth("admin")
    )
    assert defined.status_code == 201, defined.text
    soon, later = (datetime.now(UTC).date() + timedelta(days=n) for n in (3, 9))
    await api.receive(cheese, "WH-A", 4, lotId="LATE", expiresOn=later.isoformat())
    await api.receive(cheese, "WH-A", 4, lotId="SOON", expiresOn=soon.isoformat())
    await api.receive(cracker, "WH-A", 10)
    assert (await put_kit(api, kit, (cheese, 3), (cracker, 1))).status_code == 201

    held = await api.reserve(ids("O"), (kit, "WH-A", 2))
    assert held.status_code == 201, held.text
    [line] = held.json()["lines"]
    parts = {x["sku"]: x for x in line["components"]}
    assert parts[cheese]["lots"] == [
        {"lotId": "SOON", "quantity": 4, "expiresOn": soon.isoformat()},
        {"lotId": "LATE", "quantity": 2, "expiresOn": later.isoformat()},
    ]
    assert "lots" not in parts[cracker]
    order, rid = held.json()["orderId"], held.json()["reservationId"]
    shipment = {"shipmentId": ids("S"), "orderId": order, "reservationId": rid}
    assert (await api.post("/v1/shipments", shipment)).status_code == 201
    lots = await api.get(f"/v1/stock/{cheese}/WH-A/lots", role="warehouse")
    assert [(x["lotId"], x["onHand"], x["reserved"]) for x in lots.json()["lots"]] == [
        ("LATE", 2, 0)
    ]
    named = {"orderId": ids("O"), "lines": [{"sku": kit, "warehouseId": "WH-A", "quantity": 1,
                                             "lotId": "LATE"}]}  # fmt: skip
    refused = await api.post("/v1/reservations", named)
    assert refused.status_code == 409, refused.text

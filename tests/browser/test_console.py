"""Journeys through the ops console in headless Chromium, on a real server seeded over HTTP.

The story: a mug received twice in WH-A (10, then 5) with other work in between, so that an
instant between the two receipts exists; an order that reserves and ships 3 mugs and 2 teas;
a mug stock in WH-B under its reorder point (an open alert).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from stockledger.ui import PAGE_HEADERS
from tests.e2e.conftest import KEYS
from tests.e2e.processes import Served

from .conftest import Api, Console


@dataclass(frozen=True)
class Shop:
    mug: str
    tea: str
    order: str
    first_receipt: dict[str, Any]
    second_receipt: dict[str, Any]

    @property
    def between_receipts(self) -> str:
        """An instant (milliseconds, UTC) after the first mug receipt and before the second."""
        first = datetime.fromisoformat(self.first_receipt["recordedAt"])
        second = datetime.fromisoformat(self.second_receipt["recordedAt"])
        middle = first + (second - first) / 2
        instant = middle.replace(microsecond=middle.microsecond // 1000 * 1000)
        assert first < instant < second, (first, second)
        return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def shop(server: Served) -> Shop:
    run = uuid.uuid4().hex[:4].upper()
    api = Api(server.url)
    mug, tea, order = f"MUG-{run}", f"TEA-{run}", f"ORDER-{run}"
    first = api.receive(mug, "WH-A", 10, f"PO-{run}-1")
    api.put("/v1/warehouses/WH-A", {"name": "Harbour depot", "address": "9 Quay"})
    api.put(f"/v1/items/{mug}", {"name": "Blue mug, 350 ml"})
    api.receive(mug, "WH-B", 4, f"PO-{run}-2")
    api.receive(tea, "WH-A", 7, f"PO-{run}-3")
    rule = {"reorderPoint": 5, "reorderQuantity": 20, "safetyStock": 2}
    api.put(f"/v1/reorder-rules/{mug}/WH-B", rule, role="warehouse")
    second = api.receive(mug, "WH-A", 5, f"PO-{run}-4")
    lines = [
        {"sku": mug, "warehouseId": "WH-A", "quantity": 3},
        {"sku": tea, "warehouseId": "WH-A", "quantity": 2},
    ]
    reservation = api.post("/v1/reservations", {"orderId": order, "lines": lines}, role="orders")
    rid = reservation["reservationId"]
    api.post(f"/v1/reservations/{rid}/confirm", {}, role="orders")
    shipment = {"shipmentId": f"SHIP-{run}", "orderId": order, "reservationId": rid}
    api.post("/v1/shipments", shipment, role="orders")
    return Shop(mug, tea, order, first, second)


def cell(console: Console, where: str, key: str) -> Any:
    """The number a levels panel (`now`, `as-of`) shows for one level."""
    return console.page.locator(f"#{where} [data-key={key}]")


def test_the_page_loads_without_a_key_and_asks_for_one(console: Console, server: Served) -> None:
    page = console.open("/ui/stock/ANY-SKU/WH-A?at=2026-01-01T00:00:00Z")
    expect(page.get_by_label("API key")).to_be_visible()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert console.requests.api() == [], "no data call before signing in"
    loaded = [r for r in console.requests.seen if r.resource_type in ("document", "script")]
    assert loaded
    assert all("authorization" not in r.headers for r in loaded)
    response = page.request.get(server.url + "/ui/assets/main.js")
    assert response.ok
    assert "javascript" in response.headers["content-type"]
    document = page.request.get(server.url + "/ui/")
    assert document.headers["content-security-policy"] == PAGE_HEADERS["Content-Security-Policy"]
    console.screenshot("sign-in")


def test_a_wrong_key_is_refused_and_not_kept(console: Console) -> None:
    page = console.open("/ui/")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The server does not know this key.")
    assert page.evaluate("() => sessionStorage.length") == 0


def test_explorer_to_sku_to_stream_shows_the_right_numbers(console: Console, shop: Shop) -> None:
    page = console.sign_in("warehouse")
    page.get_by_label("SKU prefix").fill(shop.mug)
    page.get_by_role("button", name="Search").click()
    console.ready()
    assert f"skuPrefix={shop.mug}" in page.url
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)  # WH-A and WH-B
    expect(rows.first).to_contain_text("12")
    expect(page.locator("[data-source]")).to_have_attribute("data-source", "event-store")
    console.screenshot("explorer")

    page.get_by_role("link", name=shop.mug, exact=True).first.click()
    console.ready()
    expect(page.get_by_role("heading", level=1)).to_have_text(shop.mug)
    totals = page.locator("tfoot tr")
    expect(totals).to_contain_text("16")  # 12 in WH-A + 4 in WH-B
    alerts = page.locator("section", has=page.get_by_role("heading", name="Open alerts"))
    expect(alerts.locator("tbody tr")).to_have_count(1)
    expect(alerts).to_contain_text("low stock")
    console.screenshot("sku")

    page.get_by_role("link", name="WH-A", exact=True).click()
    console.ready()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{shop.mug} in WH-A")
    expect(cell(console, "now", "onHand")).to_have_text("12")
    expect(cell(console, "now", "reserved")).to_have_text("0")
    expect(cell(console, "now", "available")).to_have_text("12")
    history = page.locator("section", has=page.get_by_role("heading", name="History"))
    # receipt, receipt, reserved, shipped (the confirmation is on the reservation's stream)
    expect(history.locator("tbody tr")).to_have_count(4)
    expect(history.locator("tbody tr").last).to_contain_text("StockReceived")
    expect(history.locator("tbody tr").last).to_contain_text("+10 on hand")
    expect(page.locator(".chart svg path.line")).to_have_count(3)
    console.screenshot("stream")

    history.get_by_role("button", name="StockShipped").click()
    drawer = page.get_by_role("dialog")
    expect(drawer).to_contain_text(shop.order)
    expect(drawer).to_contain_text("orders-svc")  # who: metadata.causedBy
    expect(drawer.locator(".hash")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    console.screenshot("event-drawer")
    page.keyboard.press("Escape")
    expect(drawer).to_have_count(0)
    expect(history.get_by_role("button", name="StockShipped")).to_be_focused()


def test_time_travel_between_two_receipts_shows_the_earlier_level(
    console: Console, shop: Shop
) -> None:
    stream = f"/ui/stock/{shop.mug}/WH-A"
    page = console.sign_in("warehouse", stream)
    expect(cell(console, "now", "onHand")).to_have_text("12")
    instant = shop.between_receipts
    page.get_by_label("Date and time (your time zone)").fill(instant.removesuffix("Z"))  # UTC
    page.get_by_role("button", name="Show levels then").click()
    console.ready()
    expect(cell(console, "as-of", "onHand")).to_have_text("10")
    expect(page.locator("tr.at")).to_have_attribute("data-version", "1")
    expect(page.locator(".chart .marker")).to_have_count(1)
    assert "at=" in page.url
    console.screenshot("time-travel")

    page.reload()  # the URL alone reproduces the view
    console.ready()
    expect(cell(console, "as-of", "onHand")).to_have_text("10")
    expect(page.locator(".as-of h3 time")).to_have_attribute("datetime", instant)
    shown = page.get_by_label("Date and time (your time zone)").input_value()
    assert datetime.fromisoformat(shown + "+00:00") == datetime.fromisoformat(instant)

    page.get_by_label("Instant on the stream’s timeline").focus()
    page.keyboard.press("End")  # the slider to the last event: the level now
    console.ready()
    expect(cell(console, "as-of", "onHand")).to_have_text("12")


def test_an_order_trail_lists_its_events_grouped_by_stream(console: Console, shop: Shop) -> None:
    page = console.sign_in("auditor")
    page.get_by_role("link", name="Trails").click()
    page.get_by_label("Order ID").fill(shop.order)
    page.get_by_role("button", name="Show the trail").first.click()
    console.ready()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {shop.order}")
    groups = page.locator("section.group")
    streams = [f"stock:{shop.mug}:WH-A", f"stock:{shop.tea}:WH-A"]
    for stream in streams:
        group = groups.and_(page.locator(f"[data-stream='{stream}']"))
        expect(group.locator("tbody tr")).to_have_count(2)  # reserved, shipped
        expect(group.locator("tbody tr").last).to_contain_text("StockShipped")
    mug = page.locator(f"[data-stream='stock:{shop.mug}:WH-A'] tbody tr")
    expect(mug.first).to_contain_text("StockReserved")
    expect(mug.last).to_contain_text("12")  # on hand after the shipment: 15 - 3
    # the two stock streams and the reservation's own stream, each in position order
    expect(page.locator(".summary")).to_contain_text("in 3 streams")
    for group in groups.all():
        cells = group.locator("tbody tr td:first-child").all_inner_texts()
        positions = [int(x.replace(",", "")) for x in cells]
        assert positions == sorted(positions)
    console.screenshot("order-trail")


def test_an_orders_key_cannot_see_the_audit_page(console: Console, shop: Shop) -> None:
    page = console.sign_in("orders")
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link")).to_have_text(["Stock", "Kits", "Purchase orders"])
    console.open("/ui/audit")
    console.ready()
    expect(page.get_by_role("status")).to_contain_text("Your key's role may not read this page")
    stream = console.open(f"/ui/stock/{shop.mug}/WH-A")
    console.ready()
    expect(cell(console, "now", "onHand")).to_have_text("12")  # current stock: every role
    expect(stream.get_by_text("may not read this stream's history")).to_be_visible()


def test_audit_lists_checkpoints_and_verifies(console: Console, shop: Shop, server: Served) -> None:
    api = Api(server.url)
    api.until(lambda: bool(api.get("/v1/audit/checkpoints")["checkpoints"]), "a checkpoint")
    page = console.sign_in("auditor", "/ui/audit")
    expect(page.locator("section tbody tr").first).to_be_visible()
    page.get_by_role("button", name="Verify the ledger").click()
    expect(page.locator("#verify-result")).to_contain_text("The ledger verifies.")
    console.screenshot("audit")


def test_alerts_page_lists_the_open_alert(console: Console, shop: Shop) -> None:
    page = console.sign_in("warehouse", f"/ui/alerts?sku={shop.mug}")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text("WH-B")
    console.screenshot("alerts")


def test_the_valuation_page_lists_what_the_stock_is_worth(console: Console, shop: Shop) -> None:
    page = console.sign_in("auditor", "/ui/valuation")
    mug = page.locator("tbody tr", has_text=shop.mug).filter(has_text="WH-A")
    expect(mug).to_be_visible()
    expect(page.get_by_text("This report is not available on this server yet")).to_have_count(0)
    expect(page.locator("thead th")).to_have_text(VALUATION_HEADERS)
    expect(mug.locator("td")).to_have_text(
        [shop.mug, "WH-A", "12", "28.20", "2.35", "0", "0.00", "0", "0.00"]
    )
    console.screenshot("valuation")


VALUATION_HEADERS = [
    "SKU", "Warehouse", "On hand", "Value", "Unit cost",
    "In transit", "In-transit value", "Damaged", "Damaged value",
]  # fmt: skip


def test_valuation_money_reads_as_money_to_the_cent_at_any_size(
    console: Console, server: Served
) -> None:
    """A thousand units at 999,999,999,999.99406 are worth 999,999,999,999,994.06: more digits
    than a float holds, so the cents shown must come from the decimal the API sent."""
    run = uuid.uuid4().hex[:6].upper()
    sku, warehouse = f"VAULT-{run}", f"WH-V{run}"
    Api(server.url).receive(sku, warehouse, 1000, f"PO-{run}", unit_cost="999999999999.99406")
    page = console.sign_in("auditor", f"/ui/valuation?warehouseId={warehouse}")
    row = page.locator("tbody tr", has_text=sku)
    big, unit = "999,999,999,999,994.06", "999,999,999,999.99"
    expect(row.locator("td")).to_have_text(
        [sku, warehouse, "1,000", big, unit, "0", "0.00", "0", "0.00"]
    )
    expect(row.locator("td").nth(3).locator("span")).to_have_attribute(
        "title", "999999999999994.0600"
    )
    totals = page.locator("dl.totals")
    expect(totals.locator("dt")).to_have_text(
        ["Streams", "On hand", "Value", "In-transit value", "Damaged value"]
    )
    expect(totals.locator("dd")).to_have_text(
        ["1", "1,000", "999,999,999,999,994.06", "0.00", "0.00"]
    )
    expect(page.get_by_text("inTransitValue")).to_have_count(0)


def test_the_movements_page_labels_its_columns(console: Console, shop: Shop) -> None:
    since = shop.first_receipt["recordedAt"][:10]
    until = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    query = f"from={since}&to={until}&granularity=day&sku={shop.mug}&warehouseId=WH-A"
    page = console.sign_in("auditor", f"/ui/reports/movements?{query}")
    expect(page.get_by_text("This report is not available on this server yet")).to_have_count(0)
    expect(page.locator("thead th")).to_have_text(MOVEMENT_HEADERS)
    rows = page.locator("tbody tr")
    expect(rows.first.locator("td").first).to_have_text(since)  # a date, not an instant
    closing = MOVEMENT_HEADERS.index("Closing on hand")
    expect(rows.last.locator("td").nth(closing)).to_have_text("12")
    expect(page.get_by_text("warehouseId")).to_have_count(0)
    console.screenshot("movements")


MOVEMENT_HEADERS = [
    "Period start", "Period end", "SKU", "Warehouse",
    "Opening on hand", "Opening reserved", "Opening in transit", "Opening damaged",
    "Opening incoming", "Opening quality control", "Opening expired",
    "Received", "Shipped", "Returned to stock", "Returned damaged", "Returned and disposed",
    "Transferred out", "Transferred in", "Lost in transit", "Adjusted up", "Adjusted down",
    "Expected", "Inspected: accepted", "Inspected: rejected", "Lots expired",
    "Closing on hand", "Closing reserved", "Closing in transit", "Closing damaged",
    "Closing incoming", "Closing quality control", "Closing expired",
]  # fmt: skip


def test_data_calls_carry_the_key_and_no_url_holds_it(console: Console, shop: Shop) -> None:
    page = console.sign_in("admin", f"/ui/stock/{shop.mug}/WH-A?at={shop.between_receipts}")
    expect(cell(console, "as-of", "onHand")).to_have_text("10")
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Stock").click()
    console.ready()
    calls = console.requests.api()
    assert len(calls) >= 5
    for call in calls:
        assert call.headers.get("authorization") == f"Bearer {KEYS['admin']}", call.url
    assert all(KEYS["admin"] not in url for url in console.requests.urls())
    assert KEYS["admin"] not in page.url
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_the_stream_page_reads_on_a_narrow_screen(console: Console, shop: Shop) -> None:
    console.page.set_viewport_size({"width": 390, "height": 844})
    page = console.sign_in("warehouse", f"/ui/stock/{shop.mug}/WH-A")
    expect(cell(console, "now", "onHand")).to_have_text("12")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width}px"
    console.screenshot("stream-narrow")


def test_the_explorer_works_from_the_keyboard(console: Console, shop: Shop) -> None:
    page = console.sign_in("warehouse")
    page.get_by_label("SKU prefix").fill(shop.tea)
    page.keyboard.press("Enter")  # submits the search
    console.ready()
    expect(page.locator("tbody tr")).to_have_count(1)
    for _ in range(30):  # Tab through the page to the row's SKU link
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent") == shop.tea:
            break
    focused = page.locator(":focus")
    expect(focused).to_have_attribute("href", f"/ui/stock/{shop.tea}")
    assert focused.evaluate("e => getComputedStyle(e).outlineStyle") != "none"  # visible focus
    page.keyboard.press("Enter")
    console.ready()
    expect(page.get_by_role("heading", level=1)).to_have_text(shop.tea)

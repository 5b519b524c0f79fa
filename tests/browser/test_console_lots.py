"""Tracked stock in the ops console, in headless Chromium on a real server seeded over HTTP:
a yoghurt in lots (one expiring this week, one later), shipped to two orders; a phone by
serial number."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.processes import Served

from .conftest import Api, Console


@dataclass(frozen=True)
class Lots:
    yoghurt: str
    phone: str
    orders: tuple[str, str]


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


@pytest.fixture(scope="module")
def lots(server: Served) -> Lots:
    run = uuid.uuid4().hex[:4].upper()
    api = Api(server.url)
    yoghurt, phone = f"YOG-{run}", f"PHONE-{run}"
    api.put(f"/v1/items/{yoghurt}", {"name": "Yoghurt", "tracking": "lot"})
    api.put(f"/v1/items/{phone}", {"name": "Phone", "tracking": "serial"})
    receipt = {"warehouseId": "WH-A", "purchaseOrderId": f"PO-{run}", "unitCost": "0.80"}
    receipt |= {"supplier": "Dairy Co"}
    api.post(
        "/v1/receipts",
        receipt | {"sku": yoghurt, "quantity": 10, "lotId": "L-SOON", "expiresOn": day(3)},
    )
    api.post(
        "/v1/receipts",
        receipt | {"sku": yoghurt, "quantity": 10, "lotId": "L-LATER", "expiresOn": day(30)},
    )
    api.post(
        "/v1/receipts",
        receipt | {"sku": phone, "quantity": 2, "serials": [f"SN-{run}-1", f"SN-{run}-2"]},
    )
    orders = (f"ORDER-{run}-1", f"ORDER-{run}-2")
    for n, order in enumerate(orders):
        lines = [{"sku": yoghurt, "warehouseId": "WH-A", "quantity": 3}]
        api.post("/v1/shipments", {"shipmentId": f"S-{run}-{n}", "orderId": order, "lines": lines})
    return Lots(yoghurt, phone, orders)


def test_lots_show_on_the_stream_page_the_expiring_page_and_a_recall_with_its_csv(
    console: Console, lots: Lots
) -> None:
    page = console.sign_in("warehouse", f"/ui/stock/{lots.yoghurt}/WH-A")
    console.ready()
    section = page.locator("section", has=page.get_by_role("heading", name="Lots"))
    rows = section.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("L-SOON")
    expect(rows.first).to_have_attribute("data-urgency", "soon")  # expires this week
    expect(rows.nth(1)).to_have_attribute("data-urgency", "none")
    console.screenshot("stream-lots")

    page.get_by_role("link", name="Lots", exact=True).first.click()
    console.ready()
    expect(page.get_by_role("heading", level=1)).to_have_text("Expiring lots")
    mine = page.locator("tbody tr", has_text=lots.yoghurt)
    expect(mine).to_have_count(2)
    expect(mine.first).to_contain_text("L-SOON")

    mine.first.get_by_role("link", name="L-SOON").click()
    console.ready()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Recall of lot L-SOON of {lots.yoghurt}"
    )
    expect(page.locator("[data-balanced]")).to_have_attribute("data-balanced", "true")
    shipped = page.get_by_role("region", name="Shipped to orders")
    for order in lots.orders:
        expect(shipped).to_contain_text(order)
    console.screenshot("recall")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("position,at,movement,warehouseId,quantity")
    assert text.count(",shipped,") == 2


def test_a_serial_page_says_where_it_is(console: Console, lots: Lots) -> None:
    serial = f"SN-{lots.phone.split('-')[1]}-1"
    page = console.sign_in("auditor", f"/ui/serials/{lots.phone}/{serial}")
    console.ready()
    expect(page.locator("#serial-status")).to_have_attribute("data-status", "in_stock")
    expect(page.locator("#serial-status")).to_contain_text("WH-A")

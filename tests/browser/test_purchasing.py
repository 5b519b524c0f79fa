"""Purchasing in the ops console, in headless Chromium on a real server seeded over HTTP.

The story: a lamp with 20 in WH-A, a purchase order of 30 due in a week and one of 15 that is
three days late; a shade order partly received, another fully received, and a receipt of shades
waiting in quality control.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.processes import Served

from .conftest import Api, Console


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


@dataclass(frozen=True)
class Purchasing:
    lamp: str
    shade: str
    soon: str
    late: str
    partial: str
    done: str


def line(sku: str, qty: int, on: int) -> dict[str, Any]:
    return {"sku": sku, "warehouseId": "WH-A", "quantity": qty, "unitCost": "4.00",
            "expectedOn": day(on)}  # fmt: skip


@pytest.fixture(scope="module")
def purchasing(server: Served) -> Purchasing:
    run = uuid.uuid4().hex[:4].upper()
    api = Api(server.url)
    lamp, shade = f"LAMP-{run}", f"SHADE-{run}"
    p = Purchasing(lamp, shade, f"PO-{run}-SOON", f"PO-{run}-LATE", f"PO-{run}-PART",
                   f"PO-{run}-DONE")  # fmt: skip
    api.receive(lamp, "WH-A", 20, f"PO-{run}-0")
    api.put(f"/v1/purchase-orders/{p.soon}", {"supplier": "Lumen", "lines": [line(lamp, 30, 7)]})
    api.put(f"/v1/purchase-orders/{p.late}", {"supplier": "Lumen", "lines": [line(lamp, 15, -3)]})
    api.put(f"/v1/purchase-orders/{p.partial}", {"supplier": "Weave",
                                                "lines": [line(shade, 10, 5)]})  # fmt: skip
    api.put(f"/v1/purchase-orders/{p.done}", {"supplier": "Weave", "lines": [line(shade, 4, 1)]})
    for po, qty, inspect in ((p.partial, 6, True), (p.done, 4, False)):
        body = {"sku": shade, "warehouseId": "WH-A", "quantity": qty, "purchaseOrderId": po,
                "supplier": "Weave", "inspect": inspect}  # fmt: skip
        api.post("/v1/receipts", body, role="warehouse")
    return p


def test_the_purchase_orders_page_shows_open_late_and_received_orders(
    console: Console, purchasing: Purchasing
) -> None:
    p = purchasing
    page = console.sign_in("warehouse", f"/ui/purchase-orders?view=late&sku={p.lamp}")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(p.late)
    expect(rows).to_contain_text("Lumen")
    console.screenshot("purchase-orders-late")
    page.get_by_label("Show").select_option("open")
    page.get_by_role("button", name="Show").click()
    console.ready()
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.locator("tbody tr", has_text=p.soon)).to_contain_text("30")
    console.open(f"/ui/purchase-orders?view=received&sku={p.shade}")
    console.ready()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text(p.done)
    console.open(f"/ui/purchase-orders?view=partial&sku={p.shade}")
    console.ready()
    expect(page.locator("tbody tr")).to_contain_text(p.partial)


def test_the_sku_page_shows_incoming_quality_control_and_the_promise(
    console: Console, purchasing: Purchasing
) -> None:
    p = purchasing
    page = console.sign_in("orders", f"/ui/stock/{p.lamp}")
    table = page.get_by_role("region", name=f"{p.lamp} in every warehouse")
    expect(table.locator("thead")).to_contain_text("Incoming")
    expect(table.locator("tbody tr", has_text="WH-A")).to_contain_text("45")
    page.get_by_label("Units").fill("50")
    page.get_by_role("button", name="When?").click()
    expect(page.locator(".promise")).to_have_text(f"50 units: promised for {day(7)}")
    console.screenshot("available-to-promise")
    page.get_by_label("Units").fill("30")
    page.get_by_role("button", name="When?").click()
    expect(page.locator(".promise")).to_have_text(f"30 units: promised for {day(0)}")

    console.open(f"/ui/stock/{p.shade}")
    console.ready()
    shades = page.get_by_role("region", name=f"{p.shade} in every warehouse")
    expect(shades.locator("thead")).to_contain_text("Quality control")
    expect(shades.locator("tbody tr", has_text="WH-A")).to_contain_text("6")

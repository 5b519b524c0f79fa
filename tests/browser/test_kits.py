"""Kit pages of the ops console in headless Chromium, on a real server seeded over HTTP.

The story: a gift box (two mugs and a tea) and a brew set (a tea and three spoons) share the
tea; WH-A holds 9 mugs, 3 teas and 9 spoons, WH-B only mugs; an order holds one gift box.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from tests.e2e.processes import Served

from .conftest import Api, Console


@dataclass(frozen=True)
class Kits:
    gift: str
    brew: str
    mug: str
    tea: str
    spoon: str


@pytest.fixture(scope="module")
def kits(server: Served) -> Kits:
    run = uuid.uuid4().hex[:4].upper()
    api = Api(server.url)
    mug, tea, spoon = f"MUG-{run}", f"TEA-{run}", f"SPOON-{run}"
    gift, brew = f"GIFT-{run}", f"BREW-{run}"
    for sku, wh, quantity in (
        (mug, "WH-A", 9),
        (tea, "WH-A", 3),
        (spoon, "WH-A", 9),
        (mug, "WH-B", 4),
    ):
        api.receive(sku, wh, quantity, f"PO-{run}")
    api.put(
        f"/v1/kits/{gift}",
        {"components": [{"sku": mug, "quantity": 2}, {"sku": tea, "quantity": 1}]},
    )
    api.put(
        f"/v1/kits/{brew}",
        {"components": [{"sku": tea, "quantity": 1}, {"sku": spoon, "quantity": 3}]},
    )
    lines = [{"sku": gift, "warehouseId": "WH-A", "quantity": 1}]
    api.post("/v1/reservations", {"orderId": f"ORDER-{run}", "lines": lines}, role="orders")
    return Kits(gift, brew, mug, tea, spoon)


def test_a_kit_page_shows_what_each_warehouse_can_make_and_what_limits_it(
    console: Console, kits: Kits
) -> None:
    page = console.sign_in("orders")
    page.get_by_role("link", name="Kits").click()
    console.ready()
    page.get_by_label("Kit SKU").fill(kits.gift)
    page.get_by_role("button", name="Show the kit").click()
    console.ready()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Kit {kits.gift}")
    parts = page.get_by_role("region", name=f"What one {kits.gift} is made of")
    expect(parts.locator("tbody tr")).to_have_count(2)
    made = page.get_by_role("region", name=f"Whole {kits.gift} kits each warehouse can make")
    rows = made.locator("tbody tr")
    expect(rows).to_have_count(2)
    # WH-A: mugs 7 free (3 1/2 kits), teas 2 free: 2 kits, the tea limits. WH-B: no tea, none.
    expect(rows.nth(0)).to_contain_text("WH-A")
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("2")
    expect(rows.nth(0).locator("td").nth(2)).to_have_text(kits.tea)
    expect(rows.nth(1).locator("td").nth(1)).to_have_text("0")
    in_a = page.get_by_role("region", name=f"{kits.gift} components in WH-A")
    expect(in_a.locator("tbody tr").first).to_contain_text("7")  # 9 mugs, 2 reserved
    console.screenshot("kit")

    in_a.get_by_role("link", name=kits.tea).click()  # a component's stream page
    console.ready()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{kits.tea} in WH-A")


def test_a_kit_skus_page_says_it_holds_no_stock_and_leads_to_the_kit(
    console: Console, kits: Kits
) -> None:
    page = console.sign_in("warehouse", f"/ui/stock/{kits.brew}")
    expect(page.get_by_role("status")).to_contain_text("is a kit: it holds no stock of its own")
    page.get_by_role("link", name="See what its components make").click()
    console.ready()
    made = page.get_by_role("region", name=f"Whole {kits.brew} kits each warehouse can make")
    expect(made.locator("tbody tr").first.locator("td").nth(1)).to_have_text("2")  # 2 teas free
    stream = console.open(f"/ui/stock/{kits.brew}/WH-A")
    console.ready()
    expect(stream.get_by_role("status")).to_contain_text("is a kit: 2 can be made in WH-A now")
    missing = console.open("/ui/kits/NOT-A-KIT")
    console.ready()
    expect(missing.locator("main")).to_contain_text("not a kit")

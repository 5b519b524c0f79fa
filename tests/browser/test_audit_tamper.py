"""The audit page names the first broken stream and version after a superuser edits an event
(a server and database of this module's own: the journeys' ledger stays intact)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from playwright.sync_api import expect

from ..support import edit_events
from .conftest import Api, Console, in_thread


def _edit_second_event(database: str, stream: str) -> None:
    """What a database superuser could do: switch the append-only trigger off, edit, back on."""

    async def edit() -> None:
        conn = await asyncpg.connect(database)
        try:
            edit = "UPDATE events SET data = jsonb_set(data, '{quantity}', '400') "
            await edit_events(conn, (edit + "WHERE stream_id = $1 AND version = 2", stream))
        finally:
            await conn.close()

    in_thread(lambda: asyncio.run(edit()))


def test_verify_names_the_first_broken_stream_and_version(console: Console, database: str) -> None:
    sku = f"EDIT-{uuid.uuid4().hex[:4].upper()}"
    api = Api(console.url)
    for n in range(3):
        api.receive(sku, "WH-A", 4, f"PO-{n}")
    stream = f"stock:{sku}:WH-A"
    _edit_second_event(database, stream)

    page = console.sign_in("auditor", "/ui/audit")
    page.get_by_role("button", name="Verify the ledger").click()
    result = page.locator("#verify-result")
    expect(result).to_contain_text("The ledger does not verify.")
    first = result.get_by_role("link", name=f"{stream} version 2").first
    expect(first).to_be_visible()
    expect(result).to_contain_text("hash-mismatch")
    console.screenshot("audit-broken")
    first.click()
    console.ready()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{sku} in WH-A")

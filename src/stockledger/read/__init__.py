"""The read side: one module per question, which picks its source so that a route only parses,
calls and presents.

- levels: one stock level (eventual or strong), one SKU across its warehouses
- listing: the stock listing (low stock included)
- history: time travel and a stream's history with balances
- reservations: one reservation
- trails: correlation and order trails, the global feed
- catalog_view: items and warehouses, now or as of an instant, and their pages
- reorder_view: reorder rules and their alerts
- inventory_value, cost_of_goods: what the inventory was worth, what the goods sold cost

Underneath: sources (what the questions read from; how an answer names its source), stock
(sums of the event store's per-event deltas) and projected (Redis and the Postgres read models).
"""

"""Wire schemas (camelCase), separate from the domain, one module per router: `commands`,
`stock` (the stock queries), `catalog`, `reorder_rules`, `audit`, `reports`, `valuation`,
`operations` and `webhooks`; what several share in `ledger` (the event envelope, levels,
reservations),
`problems` (the error answers) and `headers` (the response headers); the field types and bases
in `wire`.

Every model has a title of its own in the OpenAPI document (a generator makes one class per
title), and the document says what the server sends: tests/e2e/test_generated_clients.py
generates clients from it and runs a journey through them."""

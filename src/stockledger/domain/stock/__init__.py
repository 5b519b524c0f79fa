"""Stock: one stream per SKU and warehouse, `stock:{sku}:{warehouseId}`, holding its levels
(onHand, reserved, inTransit, damaged) and what its units cost.

Its own commands are receipts, shipments without a reservation, returns, adjustments and counts;
reservations and transfers append their facts to it too, and `state.delta` says how each moves
its levels. Every decision meets `decide.check_capacity` and has its costs recorded
(`costs.with_costs`).
"""

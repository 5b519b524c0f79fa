"""The catalog: items (stream `item:{sku}`) and warehouses (stream `warehouse:{warehouseId}`).

Neither is required by default: an SKU or warehouse never defined is implicitly active (v1
clients). Other aggregates consult it (`decide.require_active`, `require_open_warehouse`).
"""

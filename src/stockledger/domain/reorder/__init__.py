"""Reorder rules and low-stock alerts: one stream per stock stream, `reorder:{sku}:{warehouseId}`.

A rule is set on its own (`decide`); its alerts follow from every decision that changes its stock
stream's level (`decide.with_alerts`, by the rules of `alerts.crossings`).
"""

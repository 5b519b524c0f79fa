"""Kits (bundles): stream `kit:{sku}`, the components an SKU sold as one stands for.

A kit is a rule, not stock: it holds none of its own (stock-creating commands of a kit SKU are
refused, `decide.require_not_kit`), and a reservation line naming it reserves its components
(reservation/decide.py), summed with every other line before the availability check.
"""

"""Transfers between warehouses: stream `transfer:{transferId}`.

A dispatch takes stock (and its cost layers) out of the source and puts it in transit at the
destination; the receipt puts what arrived on hand there and records any shortfall as lost.
"""

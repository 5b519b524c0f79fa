"""Purchase orders: stream `po:{purchaseOrderId}`, what was ordered from a supplier and is
expected into which warehouse on which date.

Placing a purchase order appends `PurchaseOrderPlaced` to its stream and, in the same
transaction, `StockExpected` to every stock stream it names (`incoming` there). A receipt naming
the order takes what arrives off the line's open quantity and off `incoming`; a cancellation
takes what is still open off `incoming`. So `incoming` on a stock stream is always the sum of
the open lines of the orders naming it.
"""

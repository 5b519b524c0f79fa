"""The pure inventory domain, one package per aggregate: no I/O, the clock and new ids passed in.

Each aggregate owns its streams and holds, in the same four modules:
  events.py    what it records: frozen, past tense, each with its wire type name (`TYPE`)
  state.py     what its events leave: a frozen state and `evolve` (pure folds)
  commands.py  what it can be asked: frozen, imperative
  decide.py    its rules: `reads` (the streams a command reads), `places` (the SKUs and
               warehouses it names) and `decide` (a command against those states -> Decision)

  stock/        a stock stream per SKU and warehouse: levels, value, receipts, shipments,
                returns, adjustments, counts; availability and capacity
  reservation/  stock held for an order until it is confirmed and shipped, released or expired
  transfer/     stock moving between warehouses (dispatch, receipt, loss in transit)
  catalog/      items and warehouses, and the checks the others make against them
  reorder/      a reorder rule per stock stream and the low-stock alerts it raises (alerts.py)

Shared by all:
  aggregates.py  the dispatcher: `decide`, `required_streams`, `evolve`, `initial_state`
  decision.py    `Decision`, `AlreadyRecorded` and the helpers the rules share
  events.py      the contract: every event type in order, schema versions, `to_data`/`from_data`
  commands.py    every command in one namespace for the edge (`c.ReceiveStock`)
  codec.py       the wire's spelling (camelCase): the one module that writes JSON keys
  upcasting.py   older schema versions read in the current shape; what a v1 event leaves to
                 its stream's context
  costing.py     what each event does to a stock stream's value; valuation.py the FIFO and
                 moving-average arithmetic
  errors.py      typed refusals; streams.py stream ids
"""

"""The reorder rule's rules, and the alerts every decision's new levels call for."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..decision import Decision, Pending, Place, States, get
from ..errors import NotFound
from ..stock.state import Levels, StockState, delta
from ..streams import reorder_stream, stock_stream
from .alerts import crossings
from .commands import RemoveReorderRule, ReorderCommand, SetReorderRule
from .events import ReorderRuleRemoved, ReorderRuleSet
from .state import ReorderRule, ReorderState, evolve_reorder


def reads(command: ReorderCommand, states: States) -> tuple[str, ...]:
    """The rule's stream, and its stock stream's (the rule is evaluated at once)."""
    return (
        reorder_stream(command.sku, command.warehouse_id),
        stock_stream(command.sku, command.warehouse_id),
    )


def places(command: ReorderCommand) -> tuple[Place, ...]:
    """A new rule names its place; removing one only goes on with what was accepted."""
    match command:
        case SetReorderRule(sku=s, warehouse_id=w):
            return ((s, w),)
    return ()


def decide(command: ReorderCommand, states: States, now: datetime) -> Decision:
    stream = reorder_stream(command.sku, command.warehouse_id)
    state = get(states, stream, ReorderState)
    if isinstance(command, RemoveReorderRule):
        if state.rule is None:
            raise NotFound(f"Reorder rule for {command.sku} in {command.warehouse_id}")
        return Decision(events=((stream, ReorderRuleRemoved(command.sku, command.warehouse_id)),))
    rule = ReorderRule(command.reorder_point, command.reorder_quantity, command.safety_stock)
    if rule == state.rule:
        return Decision()  # unchanged: no event
    event = ReorderRuleSet(
        command.sku,
        command.warehouse_id,
        command.reorder_point,
        command.reorder_quantity,
        command.safety_stock,
    )
    return Decision(events=((stream, event),))


def rule_streams(streams: tuple[str, ...]) -> tuple[str, ...]:
    """The reorder stream of every stock stream in `streams`: a change of a stock stream's
    level may cross its rule, so every command that changes one reads it."""
    return tuple(f"reorder:{s.removeprefix('stock:')}" for s in streams if s.startswith("stock:"))


def with_alerts(decision: Decision, states: States, now: datetime) -> Decision:
    """The decision plus the alert events its new levels call for, on each stock stream's
    reorder stream, in the same decision (so in the same transaction)."""
    levels: dict[str, Levels] = {}
    rules: dict[str, ReorderState] = {}
    for stream_id, event in decision.events:
        state = states[stream_id]
        if isinstance(state, StockState):
            levels[stream_id] = levels.get(stream_id, state.levels) + delta(state, event)
        elif isinstance(state, ReorderState):
            rules[stream_id] = evolve_reorder(rules.get(stream_id, state), event, now)
    alerts: list[Pending] = []
    for stream_id, state in states.items():
        if not isinstance(state, ReorderState):
            continue
        stock_id = stock_stream(state.sku, state.warehouse_id)
        rule = rules.get(stream_id, state)
        left = levels.get(stock_id)
        if left is None:
            if rule is state:
                continue  # neither the level nor the rule changed
            stock = states.get(stock_id)
            if not isinstance(stock, StockState):
                continue
            left = stock.levels
        alerts += [(stream_id, e) for e in crossings(rule, left)]
    if not alerts:
        return decision
    return replace(decision, events=decision.events + tuple(alerts))

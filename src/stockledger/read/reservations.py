"""A reservation: from its Postgres view, else (no row yet, or when asked to be strong) folded
from its stream, like a stock level."""

from __future__ import annotations

from ..domain.reservation.state import ReservationState
from ..domain.streams import reservation_stream
from .sources import EVENT_STORE, Consistency, ReadSources, Source


async def reservation(
    sources: ReadSources, reservation_id: str, consistency: Consistency = "eventual"
) -> tuple[ReservationState, Source] | None:
    """The reservation and where it came from; None when it was never made."""
    if consistency == "eventual" and sources.projected is not None:
        found = await sources.projected.reservation(reservation_id)
        if found is not None:
            state, projected_at = found
            return state, Source("postgres", projected_at)
    folded = await sources.state(reservation_stream(reservation_id))
    if isinstance(folded, ReservationState) and folded.version:
        return folded, EVENT_STORE
    return None

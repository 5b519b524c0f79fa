"""The read side: answers from the event store and from the projections."""

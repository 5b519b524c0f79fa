"""Reservations: stream `reservation:{reservationId}`, holding stock for an order until it is
confirmed and shipped, released, or expires (at `expiresAt`, by the expiry worker).
"""

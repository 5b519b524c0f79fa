"""Audit integrity: signed checkpoints over the hash chains, and the verifier.

- `store/hashchain.py` defines each event's hash (a per-stream chain).
- `checkpoints.py` signs, every N seconds or M events, one digest over every stream head.
- `integrity.py` recomputes every chain and every checkpoint and names the first break.
"""

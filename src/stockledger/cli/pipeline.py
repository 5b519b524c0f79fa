"""The background roles run alone, each in a process of its own: the outbox relay, a
projector, the reservation expiry worker, the webhook dispatcher (`serve` runs them all,
elected, beside the API)."""

from __future__ import annotations

import asyncio

from .common import DATABASE, KAFKA, load_settings, missing


def relay() -> None:
    """Run only the outbox relay (one leader per database; others stand by)."""
    from ..ops.jobs import run_relay

    asyncio.run(run_relay(load_settings(DATABASE, KAFKA)))


def project() -> None:
    """Run only a projector (joins the consumer group; run more to scale out)."""
    from ..ops.jobs import run_projector

    asyncio.run(run_projector(load_settings(DATABASE, KAFKA)))


def expire() -> None:
    """Run only the reservation expiry worker."""
    from ..wiring import open_services
    from ..write.expiry import ExpiryWorker

    settings = load_settings(DATABASE)

    async def main() -> None:
        async with open_services(settings) as services:
            interval = settings.expiry_interval_seconds
            await ExpiryWorker(services.ledger, services.pool, interval=interval).run()

    asyncio.run(main())


def webhooks() -> None:
    """Run only the webhook dispatcher (one leader per database; others stand by)."""
    from ..webhooks.dispatcher import Dispatcher
    from ..webhooks.secret_box import secret_box
    from ..wiring import open_services

    settings = load_settings(DATABASE)
    box = secret_box(settings)
    if box is None:
        missing("STOCKLEDGER_WEBHOOKS_SECRET_KEY", "it opens the webhooks' signing secrets")
        return

    async def main() -> None:
        async with open_services(settings, pool_size=4) as services:
            await Dispatcher(services.store, settings, box).run()

    asyncio.run(main())

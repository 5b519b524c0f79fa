"""One endpoint's HTTP client: POSTs an event's envelope signed as Standard Webhooks says.

Headers: `webhook-id` (the eventId: receivers deduplicate by it), `webhook-timestamp` (Unix
seconds of this attempt) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}", computed by the `standardwebhooks` package). The timestamp is the
wall clock's, whatever clock schedules the attempts: receivers compare it with their own.

Each endpoint has a connection pool of its own, at most `concurrency` connections: an endpoint
that hangs holds its own connections, never another's. No redirects are followed (a 3xx is a
failed attempt: a redirect could lead anywhere), no proxy settings are read from the
environment, and no more than BODY_READ bytes of an answer are read (what it says does not
matter; a short body read to its end lets the connection serve the next delivery).

Each attempt at a delivery whose event was recorded in a sampled trace is a CLIENT span
`webhook.deliver` in that trace, a child of the context stored with the event (README
"Tracing"), with the webhook, the endpoint's address, the attempt's number and its status;
the POST carries that span's `traceparent`, so a traced receiver continues the same trace.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
from standardwebhooks import Webhook

from .. import __version__, tracing
from .addresses import GuardedResolver, RefusedAddress, parse, refused_literal
from .queue import Attempt, Due

USER_AGENT = f"stockledger-webhooks/{__version__}"
BODY_READ = 64 * 1024


def trace_headers(traceparent: str | None) -> dict[str, str]:
    """The trace context a receiver continues: the delivery attempt's span while one is
    current, else the W3C `traceparent` stored with the event, if any."""
    header = tracing.traceparent() or traceparent
    return {"traceparent": header} if header else {}


class Sender:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float,
        concurrency: int,
        allow_private: bool,
        webhook_id: str = "",
    ) -> None:
        self.url = url
        parts = urlsplit(url)  # the span names the endpoint without its query (it may hold a token)
        self.span_attributes: dict[str, str | int] = {
            "webhook.id": webhook_id,
            "http.request.method": "POST",
            "server.address": parts.hostname or "",
            "url.full": f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}",
        }
        self.timeout = timeout
        self._signer = Webhook(secret)
        host, _ = parse(url)
        self._refused = None if allow_private else refused_literal(host)
        connector = aiohttp.TCPConnector(
            limit=concurrency,
            resolver=None if allow_private else GuardedResolver(),
            ttl_dns_cache=10,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
            skip_auto_headers=("Accept-Encoding",),
        )

    def headers(self, delivery: Due, now: datetime) -> dict[str, str]:
        """The Standard Webhooks headers of `delivery` sent at `now`."""
        event_id = delivery.event_id
        return {
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(event_id, now, delivery.body),
            **trace_headers(delivery.traceparent),
        }

    async def post(self, delivery: Due) -> Attempt:
        """One attempt at `delivery`, in the trace of its event when that was sampled."""
        attributes = self.span_attributes | {
            "webhook.event_id": delivery.event_id,
            "webhook.attempt": delivery.attempts + 1,
        }
        with tracing.follow(
            "webhook.deliver", delivery.traceparent, client=True, **attributes
        ) as span:
            attempt = await self._post(delivery)
            tracing.outcome(span, attempt.status_code, attempt.error)
        return attempt

    async def _post(self, delivery: Due) -> Attempt:
        if self._refused is not None:
            return Attempt(None, f"refused: {self._refused}")
        headers = self.headers(delivery, datetime.now(UTC))
        try:
            async with self._session.post(
                self.url, data=delivery.body, headers=headers, allow_redirects=False
            ) as response:
                status, read = response.status, 0
                while read < BODY_READ and (chunk := await response.content.read(16_384)):
                    read += len(chunk)
        except TimeoutError:
            return Attempt(None, f"no answer within {self.timeout:g} s")
        except aiohttp.ClientConnectorDNSError as error:
            cause = error.__cause__
            text = str(cause) if isinstance(cause, RefusedAddress) else f"DNS: {cause or error}"
            return Attempt(None, text)
        except (aiohttp.ClientError, OSError) as error:
            return Attempt(None, f"{type(error).__name__}: {error}"[:500])
        return Attempt(status, None if 200 <= status < 300 else f"HTTP {status}")

    async def close(self) -> None:
        await self._session.close()

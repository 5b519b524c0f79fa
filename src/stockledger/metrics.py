"""Prometheus metrics. One process: its registry. `serve --workers N`: prometheus-client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by `serve` for its workers), so `/metrics` of
any worker reports the whole server: counters and histograms summed, and each gauge merged as
its `multiprocess_mode` says (the leader's value for elected roles, per worker for
requests in flight)."""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

COMMAND_SECONDS = Histogram(
    "stockledger_command_seconds",
    "Command latency through the write path",
    ["command"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CONFLICTS = Counter("stockledger_append_conflicts_total", "Appends refused by a version conflict")
REFUSED_CONFLICTS = Counter(
    "stockledger_commands_refused_total",
    "Valid commands answered 409 version-conflict because every retry met another writer",
)
RETRIES = Counter("stockledger_append_retries_total", "Batches decided again after a conflict")
BATCH_SIZE = Histogram(
    "stockledger_write_batch_commands",
    "Commands per group-committed transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
EXPIRATIONS = Counter("stockledger_reservations_expired_total", "Reservations expired")
OUTBOX_BACKLOG = Gauge(
    "stockledger_outbox_backlog",
    "Events committed but not yet published",
    multiprocess_mode="livemax",
)
OUTBOX_OLDEST_AGE = Gauge(
    "stockledger_outbox_oldest_age_seconds",
    "Age of the oldest unpublished event",
    multiprocess_mode="livemax",
)
RELAY_ERRORS = Counter(
    "stockledger_relay_errors_total",
    "Failures to publish, by kind (broker unreachable, idempotent producer refused, ...)",
    ["kind"],
)
RELAY_PUBLISHED = Counter("stockledger_relay_published_total", "Events published to Kafka")
COMMAND_MESSAGES = Counter(
    "stockledger_command_messages_total",
    "Messages taken from the command topic, by where they went (result or dlq)",
    ["outcome"],
)
LEADER = Gauge(
    "stockledger_leader",
    "1 while this process leads the background role (relay, projector, expiry, checkpoints)",
    ["role"],
    multiprocess_mode="livesum",
)
CONSUMER_LAG = Gauge(
    "stockledger_consumer_lag",
    "Messages behind the partition end",
    ["partition"],
    multiprocess_mode="livemax",
)
PROJECTION_APPLY = Histogram(
    "stockledger_projection_apply_seconds",
    "Commit of an event -> applied to the read models",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PROJECTED = Counter("stockledger_projected_events_total", "Events applied", ["projection"])
PARKED = Counter("stockledger_parked_streams_total", "Streams parked on a poison event")
REDIS_ERRORS = Counter("stockledger_redis_errors_total", "Redis writes or reads that failed")
REDIS_REFILLS = Counter(
    "stockledger_redis_refills_total", "Complete fills of Redis after it lost its data"
)
PROJECTION_DRIFT = Counter(
    "stockledger_projection_drift_total",
    "Sampled projection rows that differ from a fold of the store at their version",
    ["projection"],
)
HTTP_REQUESTS = Counter(
    "stockledger_http_requests_total",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "stockledger_http_request_duration_seconds",
    "HTTP request latency by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
HTTP_IN_FLIGHT = Gauge(
    "stockledger_http_requests_in_flight", "HTTP requests being served", multiprocess_mode="liveall"
)
PROJECTION_LAG = Gauge(
    "stockledger_projection_lag_seconds",
    "How far the read models are behind the topic (0 when nothing waits); the projector leader",
    multiprocess_mode="livemax",
)
EXPIRY_OVERDUE = Gauge(
    "stockledger_expiry_overdue",
    "Reservations past their expiry by more than 5 s and not yet expired; the expiry leader",
    multiprocess_mode="livemax",
)

WEBHOOK_ATTEMPTS = Counter(
    "stockledger_webhook_attempts_total",
    "Webhook POSTs by webhook id and outcome (delivered: a 2xx; failed: anything else)",
    ["webhook", "outcome"],
)
WEBHOOK_GIVEN_UP = Counter(
    "stockledger_webhook_deliveries_failed_total",
    "Webhook deliveries given up (`failed`) after 24 h of retries",
    ["webhook"],
)
WEBHOOK_DISABLED = Counter(
    "stockledger_webhook_endpoints_disabled_total",
    "Webhooks disabled after failing every attempt for 3 days",
    ["webhook"],
)


def exposition() -> bytes:
    """The text of /metrics: this process's registry, or every worker's in multiprocess mode."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)

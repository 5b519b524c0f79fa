"""Webhooks: events pushed to HTTP endpoints, signed as Standard Webhooks says.

subscriptions (who wants what) -> matcher (the event log -> deliveries, elected) -> queue (per
webhook and stream: what goes next) -> endpoint + sender (HTTP, per endpoint) -> schedule (the
retry rules, pure). addresses is the SSRF guard, secret_box seals the signing secrets,
dispatcher runs it all as the elected `webhooks` role. docs/webhooks.md is the receiver's side.
"""

"""From the store to Kafka: the outbox relay, republish, leader election, status."""

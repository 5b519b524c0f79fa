"""Read models fed from Kafka: Postgres stock levels and reservations, and a Redis stock hash."""

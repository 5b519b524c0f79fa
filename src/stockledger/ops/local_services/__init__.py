"""Real local Postgres, Redis and Kafka (Tansu) started from Python packages, no Docker.

Used by the test harness and `stockledger dev`. Each service is a child that mirakuru starts in
its own session (a terminal's Ctrl-C does not reach it; stop() signals all it forked), waits on
until it answers, and stops with the service's graceful signal, SIGKILLing it if it lingers. It
logs to `<data_dir>/<name>.log`; a pid file `<data_dir>/<name>.pid` names it and its owning
Python process, so that a later run reaps the services of a run that crashed. port-for picks
the free ports.
"""

from .kafka_broker import kafka_answers, start_kafka
from .postgres import pg_answers, start_postgres
from .processes import Service, free_port, pick_port, reap_stale
from .redis_server import redis_answers, start_redis

__all__ = [
    "Service",
    "free_port",
    "kafka_answers",
    "pg_answers",
    "pick_port",
    "reap_stale",
    "redis_answers",
    "start_kafka",
    "start_postgres",
    "start_redis",
]

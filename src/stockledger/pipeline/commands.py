"""The command topic: commands taken from Kafka through the write path HTTP uses (API.md, "Commands
over Kafka"; STOCKLEDGER_KAFKA_COMMAND_TOPIC).

Every serving process with the topic set joins one consumer group on it (not elected): the
topic's partitions spread over the processes, so more processes take more partitions. Each
message is run as the route of its command would run it (api/commands.py `OPERATIONS`): the
same body validation, the same role check, the same command, and the same request hash under
(principal, key) with the message's key as the Idempotency-Key. So one key has one execution
and one answer whether its command came by HTTP or by the topic; a copy of a message (a
producer's retry, a redelivery) is answered from the key's receipt, and a copy in flight in
this process waits for the first (`Ledger.execute`).

A poll's messages run at once, as concurrent requests do (group commit batches them). Their
results, and the copies of the messages that are not commands in `{topic}.dlq`, are produced
and acknowledged before the poll's offsets are committed: a consumer that dies mid-batch leaves
its messages to the next owner of the partition, which answers them again from their receipts.
Results are therefore at least once (identical copies), executions exactly once.

A database that cannot be reached is not an answer (HTTP would say 503 and the client would
retry): the message is retried here, and its offset waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..api.commands import OPERATIONS, Operation, answered
from ..api.deps import request_hash
from ..api.problems import problem_body, to_problem, validation_detail
from ..api.schemas.wire import Id
from ..config import Role, Settings
from ..metrics import COMMAND_MESSAGES
from ..write.ledger import Ledger
from ..write.record import Caller
from .relay import ensure_topic, start_producer

log = structlog.get_logger()

KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # what an Idempotency-Key header may hold
_ID: TypeAdapter[str] = TypeAdapter(Id)
UNAVAILABLE = 503


class NotACommand(Exception):
    """A message that names no command the topic takes: it goes to the DLQ with `reason`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Message:
    """A message that is a command: who sent which operation, under which key."""

    key: str
    principal: str
    role: Role
    operation: Operation
    path: Any
    body: Any


def parse(record: ConsumerRecord[bytes, bytes], principals: dict[str, Role]) -> Message:
    """The command a message carries; NotACommand saying why it is none."""
    try:
        key = (record.key or b"").decode()
    except UnicodeDecodeError:
        raise NotACommand("the key is not UTF-8") from None
    if not KEY.match(key):
        raise NotACommand("the key (the command's Idempotency-Key) must be 1-255 visible ASCII")
    try:
        value = orjson.loads(record.value or b"")
    except orjson.JSONDecodeError as error:
        raise NotACommand(f"the value is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise NotACommand("the value is not a JSON object")
    name = value.get("command")
    operation = OPERATIONS.get(name) if isinstance(name, str) else None
    if operation is None:
        raise NotACommand(f"unknown command {name!r}: one of {', '.join(OPERATIONS)}")
    principal = value.get("principal")
    role = principals.get(principal) if isinstance(principal, str) else None
    if role is None or not isinstance(principal, str):
        raise NotACommand(
            f"unknown principal {principal!r}: not in STOCKLEDGER_KAFKA_COMMAND_PRINCIPALS"
        )
    return Message(key, principal, role, operation, value.get("path"), value.get("body"))


class CommandConsumer:
    def __init__(
        self,
        ledger: Ledger,
        settings: Settings,
        *,
        max_records: int = 1000,
        retry_seconds: float = 0.5,
    ) -> None:
        assert settings.kafka_command_topic is not None
        self.ledger = ledger
        self.settings = settings
        self.topic = settings.kafka_command_topic
        self.results = f"{self.topic}.results"
        self.dlq = f"{self.topic}.dlq"
        self.principals = settings.parsed_command_principals()
        self.max_records = max_records
        self.retry_seconds = retry_seconds

    async def run(self) -> None:
        """Consume until cancelled; a lost broker is reconnected to. Whatever ends a term
        before its offsets were committed leaves those messages to be delivered again, and
        they are answered from their receipts."""
        while True:
            consumer = AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                group_id=self.settings.kafka_command_group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                metadata_max_age_ms=5_000,
            )
            producer: AIOKafkaProducer | None = None
            try:
                await ensure_topic(self.settings, (self.topic, self.results, self.dlq))
                producer = await start_producer(self.settings)
                await consumer.start()
                await self._consume(consumer, producer)
            except KafkaError as error:  # a rebalance that revoked a poll's partitions too
                log.warning("command consumer lost kafka; reconnecting", error=repr(error))
            except Exception:  # a bug must not stop the consumer silently: start again, loudly
                log.exception("command consumer failed; starting again")
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
                if producer is not None:
                    with contextlib.suppress(Exception):
                        await producer.stop()
            await asyncio.sleep(self.retry_seconds)

    async def _consume(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
            records = [r for batch in batches.values() for r in batch]
            if not records:
                continue
            await self.handle(records, producer)
            await consumer.commit()  # only once every message of the poll has its answer

    async def handle(
        self, records: Sequence[ConsumerRecord[bytes, bytes]], producer: AIOKafkaProducer
    ) -> None:
        """Answer every message (results and DLQ copies acknowledged by the broker). The keys
        already recorded are looked up for the whole poll in one statement."""
        parsed: list[Message | NotACommand] = []
        for record in records:
            try:
                parsed.append(parse(record, self.principals))
            except NotACommand as refused:
                parsed.append(refused)
        messages = [m for m in parsed if isinstance(m, Message)]
        recorded = await self._recorded([(m.principal, m.key) for m in messages])
        answers = await asyncio.gather(
            *(self._outgoing(r, m, recorded) for r, m in zip(records, parsed, strict=True))
        )
        acks = [
            await producer.send(topic, value, key=record.key, headers=headers)
            for record, (topic, value, headers) in zip(records, answers, strict=True)
        ]
        await asyncio.gather(*acks)
        for topic, _, _ in answers:
            COMMAND_MESSAGES.labels("dlq" if topic == self.dlq else "result").inc()

    async def _recorded(self, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        while True:
            try:
                return await self.ledger.store.recorded_keys(keys)
            except Exception as error:
                if to_problem(error).status != UNAVAILABLE:
                    raise
                log.warning("command topic waits for the database", error=repr(error))
                await asyncio.sleep(self.retry_seconds)

    async def _outgoing(
        self,
        record: ConsumerRecord[bytes, bytes],
        message: Message | NotACommand,
        recorded: set[tuple[str, str]],
    ) -> tuple[str, bytes | None, list[tuple[str, bytes]]]:
        """Where a message's answer goes: (topic, value, headers)."""
        if isinstance(message, NotACommand):
            log.info("command message to the dlq", offset=record.offset, reason=message.reason)
            return self.dlq, record.value, [*record.headers, ("error", message.reason.encode())]
        unrecorded = (message.principal, message.key) not in recorded
        status, body, correlation_id = await self.answer(message, unrecorded=unrecorded)
        result = {"key": message.key, "status": status, "body": body}
        headers = [("correlationId", correlation_id.encode())] if correlation_id else []
        return self.results, orjson.dumps(result), headers

    async def answer(
        self, message: Message, *, unrecorded: bool = False
    ) -> tuple[int, dict[str, Any], str | None]:
        """The status and body HTTP would have given the command, and its correlation id
        (`unrecorded`: its key had no record a moment ago, `Ledger.execute`)."""
        operation = message.operation
        path = _path(operation, message.path)
        if message.role not in operation.roles:
            detail = f"Role {message.role.value} may not POST this resource"
            return 403, problem_body(403, "forbidden", detail, path), None
        try:
            ids = _ids(operation, message.path)
            body = _body(operation, message.body)
        except RequestValidationError as invalid:
            detail, errors = validation_detail(invalid)
            return 422, problem_body(422, "validation-error", detail, path, errors=errors), None
        caller = Caller(
            principal=message.principal,
            idempotency_key=message.key,
            request_hash=request_hash("POST", path, body),
        )
        while True:
            try:
                command = operation.build(body, ids, self.settings.reservation_ttl_seconds)
                answer = await self.ledger.execute(command, caller, unrecorded=unrecorded)
            except Exception as error:
                problem = to_problem(error)
                if problem.status == UNAVAILABLE:
                    log.warning("command waits for the database", error=repr(error))
                    await asyncio.sleep(self.retry_seconds)
                    unrecorded = False  # it may have been recorded before the outage
                    continue
                if problem.status >= 500:
                    log.error("command failed", key=message.key, error=repr(error), exc_info=True)
                body_out = problem_body(
                    problem.status, problem.slug, problem.detail, path, **problem.extensions
                )
                return problem.status, body_out, None
            status, out = answered(answer, operation.present, path)
            return status, out, answer.correlation_id


def _path(operation: Operation, given: Any) -> str:
    """The path the command's route has (its ids filled in), as the answer's `instance`."""
    path = operation.path
    for name in operation.ids:
        value = given.get(name) if isinstance(given, dict) else None
        if isinstance(value, str):
            path = path.replace("{" + name + "}", value)
    return path


def _ids(operation: Operation, given: Any) -> dict[str, str]:
    errors: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    for name in operation.ids:
        value = given.get(name) if isinstance(given, dict) else None
        try:
            ids[name] = _ID.validate_python(value)
        except ValidationError as invalid:
            errors.extend({**e, "loc": ("path", name, *e["loc"])} for e in invalid.errors())
    if errors:
        raise RequestValidationError(errors)
    return ids


def _body(operation: Operation, given: Any) -> BaseModel | None:
    if given is None and not operation.body_required:
        return None
    if given is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return operation.body.model_validate(given)
    except ValidationError as invalid:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in invalid.errors()]
        ) from None

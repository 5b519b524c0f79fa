"""The event contract, generated from the models the code uses: a JSON Schema of the whole
envelope of every event type and schema version, and an AsyncAPI 3.0 document of the topic.

`python -m stockledger.api.contract docs` writes the committed copies (docs/asyncapi.json,
docs/schemas/events/<type>/<version>.json); tests/unit/test_event_contract.py fails when they
differ from what the code generates. A committed schema of a released version is never
changed: an event whose data changes incompatibly gets a new schemaVersion (and an upcaster
that reads the old one), so its old file stays as it was.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path as FilePath
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import TypeAdapter

from ..config import Settings
from ..domain.events import EVENT_TYPES, SCHEMA_VERSIONS
from ..domain.upcasting import ADDED
from .deps import ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .problems import Problem
from .schemas.ledger import EventMetadata
from .schemas.problems import problem_answers

JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
STREAM_ID = r"^[a-z]+(:[A-Za-z0-9][A-Za-z0-9._-]{0,63}){1,2}$"
KAFKA_BINDING = "0.5.0"
PROMISE = (
    "Delivery is at least once, in version order per key: the key is the event's streamId, so "
    "one stream's events go to one partition in order. A consumer dedupes by (streamId, "
    "version) and ignores types it does not know (new types join over time). Values are the "
    "envelope the HTTP API returns, without `hash`; headers `type`, `schemaVersion` and "
    "`correlationId` (UTF-8) let a consumer route without parsing the value. While the "
    "service traces (OpenTelemetry), a command's events carry its W3C trace context as "
    "`metadata.traceparent` and the header `traceparent`: optional, so the released schemas "
    "(which allow further metadata fields) stay as they were."
)
TRACEPARENT = "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


def versions() -> list[tuple[str, int]]:
    """Every (event type, schemaVersion) the contract holds, in the order of EVENT_TYPES."""
    return [(name, v) for name in EVENT_TYPES for v in range(1, SCHEMA_VERSIONS[name] + 1)]


def _clean(schema: Any) -> Any:
    """pydantic's schema less the titles it derives from field names ("Warehouseid")."""
    if isinstance(schema, dict):
        cleaned = {k: _clean(v) for k, v in schema.items() if k != "properties"}
        if isinstance(schema.get("properties"), dict):
            cleaned["properties"] = {
                name: {k: _clean(v) for k, v in field.items() if k != "title"}
                for name, field in schema["properties"].items()
            }
        return cleaned
    if isinstance(schema, list):
        return [_clean(x) for x in schema]
    return schema


def _data(type_name: str, version: int, refs: str) -> dict[str, Any]:
    model = EVENT_TYPES[type_name]
    schema = TypeAdapter(model).json_schema(
        by_alias=True, mode="serialization", ref_template=refs + "{model}"
    )
    _name_by_title(schema, refs)
    renamed: set[str] = set()
    for step in range(SCHEMA_VERSIONS[type_name] - 1, 0, -1):
        for path in ADDED.get((type_name, step), ()):
            if step >= version:
                _drop(schema, path, refs)
            elif "." in path and path.partition(".")[0] not in renamed:
                _rename(schema, path, refs, step + 1)  # by the newest version that changed it
                renamed.add(path.partition(".")[0])
    return dict(_clean(schema))


def _drop(schema: dict[str, Any], path: str, refs: str) -> None:
    """`schema` without the field at `path` (`lines.cost`: a field of the items), and without
    sub-schemas nothing refers to any more."""
    head, _, rest = path.partition(".")
    if rest:
        ref = schema["properties"][head]["items"]["$ref"].removeprefix(refs)
        schema["$defs"][ref]["properties"].pop(rest, None)
    else:
        schema["properties"].pop(head, None)
        if head in schema.get("required", []):
            schema["required"].remove(head)
    pruned = True
    while pruned:  # until no sub-schema is left that only a removed one referred to
        used = repr(schema["properties"]) + repr(list(schema.get("$defs", {}).values()))
        unused = [n for n in schema.get("$defs", {}) if f"{refs}{n}'" not in used]
        for name in unused:
            del schema["$defs"][name]
        pruned = bool(unused)
    if schema.get("$defs") == {}:
        del schema["$defs"]


def _name_by_title(schema: dict[str, Any], refs: str) -> None:
    """Sub-schemas under the title their class gives them (a reservation's `ReservedLine` is
    titled `Line`, the name its items had before they gained `lots`), where none has it yet."""
    for name, sub in list(schema.get("$defs", {}).items()):
        title = sub.get("title")
        if title and title != name and title not in schema["$defs"]:
            schema["$defs"][title] = schema["$defs"].pop(name)
            text = orjson.dumps(schema).decode().replace(f'"{refs}{name}"', f'"{refs}{title}"')
            schema.clear()
            schema.update(orjson.loads(text))


def _rename(schema: dict[str, Any], path: str, refs: str, version: int) -> None:
    """The items' sub-schema at `path` under a name of its own from `version` on (`ShippedLineV2`),
    so that every version's sub-schemas can sit side by side in the AsyncAPI document while a
    released version's file stays byte for byte what it was."""
    items = schema["properties"][path.partition(".")[0]]["items"]
    ref = items["$ref"].removeprefix(refs)
    schema["$defs"][f"{ref}V{version}"] = schema["$defs"].pop(ref)
    items["$ref"] = f"{refs}{ref}V{version}"


def _metadata(refs: str) -> dict[str, Any]:
    schema = EventMetadata.model_json_schema(
        by_alias=True, mode="serialization", ref_template=refs + "{model}"
    )
    return dict(_clean(schema))


def envelope(type_name: str, version: int, refs: str = "#/$defs/") -> dict[str, Any]:
    """The JSON Schema of the whole envelope of one event type and version (its `data` fully
    specified); sub-schemas under `$defs`, or wherever `refs` points."""
    if (type_name, version) not in versions():
        raise KeyError(f"no event {type_name} with schemaVersion {version}")
    data = _data(type_name, version, refs)
    metadata = _metadata(refs)
    defs = {**data.pop("$defs", {}), **metadata.pop("$defs", {})}
    doc = (EVENT_TYPES[type_name].__doc__ or "").strip()
    if doc.startswith(f"{type_name}("):  # a dataclass without a docstring: its signature
        doc = ""
    body: dict[str, Any] = {
        "title": f"{type_name} (schemaVersion {version})",
        **({"description": " ".join(doc.split())} if doc else {}),
        "type": "object",
        "required": [
            "eventId",
            "type",
            "streamId",
            "version",
            "position",
            "recordedAt",
            "schemaVersion",
            "data",
            "metadata",
        ],
        "properties": {
            "eventId": {"type": "string", "format": "uuid"},
            "type": {"const": type_name},
            "streamId": {"type": "string", "pattern": STREAM_ID},
            "version": {"type": "integer", "minimum": 1, "description": "in its stream"},
            "position": {"type": "integer", "minimum": 0, "description": "global order"},
            "recordedAt": {"type": "string", "format": "date-time"},
            "schemaVersion": {"const": version},
            "data": data,
            "metadata": metadata,
            "hash": {
                "type": "string",
                "pattern": "^[0-9a-f]{64}$",
                "description": "the stream's hash-chain link (HTTP and exports; not on Kafka)",
            },
        },
    }
    if defs:
        body["$defs"] = defs
    return body


def json_schema(type_name: str, version: int) -> dict[str, Any]:
    """GET /v1/schemas/events/{type}/{schemaVersion}: a standalone JSON Schema 2020-12."""
    body = envelope(type_name, version)
    return {
        "$schema": JSON_SCHEMA,
        "$id": f"/v1/schemas/events/{type_name}/{version}",
        **body,
    }


def asyncapi(settings: Settings) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the topic the relay publishes to."""
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for type_name, version in versions():
        key = f"{type_name}.v{version}"
        payload = envelope(type_name, version, refs="#/components/schemas/")
        for name, sub in payload.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[key] = payload
        messages[key] = {
            "name": type_name,
            "title": f"{type_name}, schemaVersion {version}",
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "required": ["type", "schemaVersion", "correlationId"],
                "properties": {
                    "type": {"const": type_name},
                    "schemaVersion": {"const": str(version)},
                    "correlationId": {"type": "string"},
                    "traceparent": {
                        "type": "string",
                        "pattern": TRACEPARENT,
                        "description": "W3C trace context of the command, while tracing is on "
                        "(also in metadata.traceparent)",
                    },
                },
            },
            "payload": {"$ref": f"#/components/schemas/{key}"},
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "pattern": STREAM_ID, "description": "streamId"},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
    channel_messages = {key: {"$ref": f"#/components/messages/{key}"} for key in messages}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "stockledger events",
            "version": "1.1.0",
            "description": "Every stock, reservation, transfer, catalog and alert event of the "
            f"ledger, as it is committed. {PROMISE}",
        },
        "defaultContentType": "application/json",
        "channels": {
            "events": {
                "address": settings.kafka_topic,
                "title": "The ledger's events (STOCKLEDGER_KAFKA_TOPIC)",
                "description": f"Partitions: {settings.kafka_partitions}, set when stockledger "
                "creates the topic (STOCKLEDGER_KAFKA_PARTITIONS; an existing topic keeps its "
                "own); keyed by streamId.",
                "messages": channel_messages,
                "bindings": {
                    "kafka": {
                        "topic": settings.kafka_topic,
                        "partitions": settings.kafka_partitions,
                        "bindingVersion": KAFKA_BINDING,
                    }
                },
            }
        },
        "operations": {
            "receiveEvents": {
                "action": "receive",
                "title": "Consume the ledger's events",
                "description": PROMISE,
                "channel": {"$ref": "#/channels/events"},
                "messages": [{"$ref": f"#/channels/events/messages/{k}"} for k in messages],
            }
        },
        "components": {"messages": messages, "schemas": schemas},
    }


def rendered(document: dict[str, Any]) -> str:
    """How the committed copies are written (stable bytes for the comparison)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def committed_files(settings: Settings) -> dict[str, str]:
    """Every file of the committed contract, by its path under docs/."""
    files = {"asyncapi.json": rendered(asyncapi(settings))}
    for type_name, version in versions():
        files[f"schemas/events/{type_name}/{version}.json"] = rendered(
            json_schema(type_name, version)
        )
    return files


def write(folder: FilePath) -> None:
    defaults = Settings.model_construct()  # the defaults, whatever the environment says
    for name, text in committed_files(defaults).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# -- served: GET /asyncapi.json and GET /v1/schemas/events/{type}/{schemaVersion}, no key ------

router = APIRouter(
    tags=["contract"], route_class=FastRoute, generate_unique_id_function=operation_id
)
TypeName = Annotated[
    str,
    Path(
        alias="type",
        description="an event type",
        json_schema_extra={"enum": list(EVENT_TYPES)},
    ),
]


@functools.cache
def _schema_bytes(type_name: str, version: int) -> bytes:
    return orjson.dumps(json_schema(type_name, version))


@router.get("/asyncapi.json", response_model=dict[str, Any])
async def asyncapi_document(services: ServicesDep) -> Response:
    """The AsyncAPI 3.0 document of the Kafka topic: key, headers, and the envelope of every
    event type and schema version (no key needed)."""
    return Response(orjson.dumps(asyncapi(services.settings)), media_type="application/json")


@router.get(
    "/v1/schemas/events/{type}/{schemaVersion}",
    response_model=dict[str, Any],
    responses={
        200: {
            "description": "a JSON Schema 2020-12",
            "content": {"application/schema+json": {"schema": {"type": "object"}}},
        },
        **problem_answers((404, "no such type and version"), (422, "invalid parameters")),
    },
)
async def event_schema(
    type_name: TypeName,
    schema_version: Annotated[int, Path(alias="schemaVersion", ge=1, le=1000)],
) -> Response:
    """The JSON Schema (2020-12) of the whole envelope of one event type and version, its
    `data` fully specified (no key needed)."""
    if type_name not in EVENT_TYPES or (type_name, schema_version) not in versions():
        raise Problem(404, "not-found", f"No event {type_name} with schemaVersion {schema_version}")
    body = _schema_bytes(type_name, schema_version)
    return Response(body, media_type="application/schema+json")


if __name__ == "__main__":
    write(FilePath(sys.argv[1] if len(sys.argv) > 1 else "docs"))

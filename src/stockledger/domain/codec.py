"""How the domain's objects are spelled on the wire: the one module that knows it.

Events, their lines and cost layers are plain frozen dataclasses (cheap to create in
`decide`). Each carries `WIRE` as its pydantic config, so that pydantic, used only here at the
edges, reads and writes them in camelCase with decimals and instants as strings. Nothing else
in the domain writes a JSON key: a rule names fields in Python (`receipt_id`), and `wire_keys`
spells them as the stored data does (`receiptId`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ConfigDict, TypeAdapter
from pydantic.alias_generators import to_camel

WIRE = ConfigDict(alias_generator=to_camel, populate_by_name=True)

_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def adapter(cls: type[Any]) -> TypeAdapter[Any]:
    """The pydantic adapter of a wire type, built once."""
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


def encode(value: Any, *, sparse: bool = False) -> dict[str, Any]:
    """`value` as JSON data (camelCase); `sparse`: without its fields that are None."""
    data: dict[str, Any] = adapter(type(value)).dump_python(
        value, mode="json", by_alias=True, exclude_none=sparse
    )
    return data


def encode_all(values: Iterable[Any]) -> list[dict[str, Any]]:
    """Several values (the cost layers a transfer carries) as a JSON list."""
    return [encode(x) for x in values]


def decode(cls: type[Any], data: Mapping[str, Any]) -> Any:
    """The `cls` that JSON `data` (camelCase, or Python names) holds."""
    return adapter(cls).validate_python(data)


def wire_keys(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Fields named in Python (`receipt_id`) as stored data names them (`receiptId`)."""
    return {to_camel(name): value for name, value in fields.items()}

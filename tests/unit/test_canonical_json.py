"""The fast canonical encoding is byte for byte the documented reference encoding."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockledger.store.hashchain import canonical

text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), text)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=20,
)


def reference(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(text, documents, max_size=6))
def test_orjson_sorted_equals_the_reference_encoding(document: dict[str, Any]) -> None:
    assert orjson.dumps(document, option=orjson.OPT_SORT_KEYS) == reference(document)


def test_control_characters_and_unicode_are_written_as_documented() -> None:
    tricky = {"b": 'tab\there \u0001 \u001f \x7f é 😀 \u2028 "q" \\', "a": [1, None, True]}
    assert orjson.dumps(tricky, option=orjson.OPT_SORT_KEYS) == reference(tricky)


def test_floats_are_refused() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    with pytest.raises(TypeError, match="no floats"):
        canonical(
            event_id=uuid4(),
            type="T",
            stream_id="s",
            version=1,
            recorded_at=datetime.now(UTC),
            schema_version=1,
            data={"lines": [{"quantity": 1.5}]},
            metadata={},
        )

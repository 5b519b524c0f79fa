"""`GET /v1/me`: the principal and role of the presented key (what the ops console shows)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import KEYS, auth
from .test_errors import assert_problem


@pytest.mark.parametrize("role", sorted(KEYS))
async def test_me_names_the_principal_and_role_of_the_key(
    client: httpx.AsyncClient, role: str
) -> None:
    response = await client.get("/v1/me", headers=auth(role))
    assert response.status_code == 200, response.text
    assert response.json() == {"principal": f"{role}-svc", "role": role}
    by_header = await client.get("/v1/me", headers={"X-API-Key": KEYS[role]})
    assert by_header.json() == response.json()


async def test_me_without_a_known_key_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/me"), 401, "unauthorized")
    wrong = await client.get("/v1/me", headers={"Authorization": "Bearer nobody"})
    assert_problem(wrong, 401, "unauthorized")

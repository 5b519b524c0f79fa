"""A database URL naming several hosts works for migrations as it does for the pools."""

from __future__ import annotations

from stockledger.store.db import sqlalchemy_url


def test_several_hosts_become_sqlalchemy_host_parameters() -> None:
    url = "postgresql://app@db-a:5432,db-b:5433/ledger?target_session_attrs=read-write"
    assert sqlalchemy_url(url) == (
        "postgresql+asyncpg://app@/ledger?target_session_attrs=read-write"
        "&host=db-a%3A5432&host=db-b%3A5433"
    )


def test_one_host_is_kept_as_it_is() -> None:
    assert (
        sqlalchemy_url("postgres://app@db:5432/ledger") == "postgresql+asyncpg://app@db:5432/ledger"
    )

"""Settings, read from STOCKLEDGER_* environment variables (no I/O at import)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Role(StrEnum):
    ORDERS = "orders"
    WAREHOUSE = "warehouse"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class ApiKey:
    key: str
    principal: str
    role: Role


def parse_api_keys(raw: str) -> tuple[ApiKey, ...]:
    """Parse `key:principal:role,...` into API keys; raise ValueError on a malformed entry."""
    keys: list[ApiKey] = []
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        parts = entry.split(":")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"API key entry {entry[:4]}… must be key:principal:role")
        key, principal, role = parts
        keys.append(ApiKey(key=key, principal=principal, role=Role(role)))
    return tuple(keys)


def parse_principals(raw: str) -> dict[str, Role]:
    """Parse `principal:role,...`; raise ValueError on a malformed entry."""
    principals: dict[str, Role] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        principal, sep, role = entry.rpartition(":")
        if not sep or not principal:
            raise ValueError(f"principal entry {entry!r} must be principal:role")
        try:
            principals[principal] = Role(role)
        except ValueError:
            raise ValueError(
                f"principal entry {entry!r}: the role must be one of {', '.join(Role)}"
            ) from None
    return principals


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    audience: str
    roles_claim: str
    role_map: dict[str, Role]
    principal_claim: str
    jwks_refetch_seconds: float


def parse_role_map(raw: str) -> dict[str, Role]:
    """Parse `claim-value=role,...`; empty: each role name maps to itself."""
    if not raw.strip():
        return {role.value: role for role in Role}
    mapping: dict[str, Role] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        value, sep, role = entry.rpartition("=")
        if not sep or not value:
            raise ValueError(f"role map entry {entry!r} must be claim-value=role")
        mapping[value] = Role(role)
    return mapping


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: `rate` requests a second, at most `burst` at once."""

    rate: float
    burst: int


def parse_rate_limits(raw: str) -> dict[Role, RateLimit]:
    """Parse `role=rate/s[:burst],...` (burst defaults to one second's worth, at least 1);
    raise ValueError naming the entry that is malformed."""
    limits: dict[Role, RateLimit] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        role, _, spec = entry.partition("=")
        rate, _, burst = spec.strip().partition(":")
        try:
            parsed = Role(role.strip())
            if not rate.endswith("/s"):
                raise ValueError
            per_second = float(rate[:-2])
            bucket = int(burst) if burst else max(1, math.ceil(per_second))
        except (ValueError, OverflowError):
            raise ValueError(
                f"rate limit {entry!r} must be role=rate/s or role=rate/s:burst, role one of "
                f"{', '.join(Role)}, e.g. orders=2000/s:4000"
            ) from None
        if not (math.isfinite(per_second) and per_second > 0 and bucket >= 1):
            raise ValueError(f"rate limit {entry!r}: the rate must be > 0 and the burst >= 1")
        if parsed in limits:
            raise ValueError(f"rate limit {entry!r}: role {parsed} is listed twice")
        limits[parsed] = RateLimit(per_second, bucket)
    return limits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOCKLEDGER_", env_file=None, extra="ignore")

    database_url: str | None = Field(default=None, description="Postgres DSN")
    read_database_url: str | None = Field(
        default=None,
        description="A hot standby that serves exports, reports, valuations, history, time "
        "travel, trails and the feed, never beyond what it has replayed (X-As-Of-Position; "
        "strong reads and unreached asOfPositions go to the primary)",
    )
    redis_url: str | None = Field(default=None, description="Redis URL")
    redis_prefix: str = Field(
        default="stockledger:", description="Every Redis key of the deployment starts with it"
    )
    kafka_bootstrap_servers: str | None = Field(default=None, description="Kafka bootstrap servers")
    kafka_topic: str = Field(default="inventory.events", description="Topic the relay publishes to")
    kafka_partitions: int = Field(default=6, ge=1, description="Partitions when creating the topic")
    kafka_idempotence: bool = Field(
        default=True, description="Idempotent producer (off for brokers without InitProducerId)"
    )
    kafka_consumer_group: str = Field(
        default="stockledger-projector", description="Consumer group of the projectors"
    )
    kafka_command_topic: str | None = Field(
        default=None,
        description="Also take commands from this topic; results go to {topic}.results, "
        "messages that are not commands to {topic}.dlq (unset: HTTP only)",
    )
    kafka_command_principals: str = Field(
        default="",
        description="Comma-separated principal:role entries who may send commands on the "
        "command topic (its ACLs authenticate them)",
    )
    kafka_command_group: str = Field(
        default="stockledger-commands", description="Consumer group of the command topic"
    )
    api_keys: str = Field(default="", description="Comma-separated key:principal:role entries")
    oidc_issuer: str | None = Field(
        default=None,
        description="Accept JWT bearer tokens from this OpenID Connect issuer (keys from its "
        "discovery document's jwks_uri); unset: API keys only",
    )
    oidc_audience: str | None = Field(
        default=None, description="The `aud` a token must carry (required with the issuer)"
    )
    oidc_roles_claim: str = Field(
        default="roles",
        description="Claim holding the roles: a dotted path (realm_access.roles), or `scope`",
    )
    oidc_role_map: str = Field(
        default="", description="claim-value=role,... (empty: each role name maps to itself)"
    )
    oidc_principal_claim: str = Field(default="sub", description="Claim recorded as causedBy")
    oidc_jwks_refetch_seconds: float = Field(
        default=30.0, gt=0, description="An unknown kid refetches the JWKS at most this often"
    )
    rate_limits: str = Field(
        default="",
        description="Per role, requests a second (and burst) each principal of it gets across "
        "the deployment: role=rate/s[:burst],... (unset: no limits)",
    )
    reservation_ttl_seconds: int = Field(default=900, gt=0, description="Default reservation TTL")
    host: str = Field(default="127.0.0.1", description="HTTP bind address")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP bind port")
    snapshot_every: int = Field(default=100, gt=0, description="Snapshot a stream every N events")
    catalog_required: bool = Field(
        default=False,
        description="Commands naming an SKU or warehouse never defined get 422 unknown-item / "
        "unknown-warehouse (off: v1 clients that never define them keep working)",
    )
    state_cache_size: int = Field(default=100_000, gt=0, description="Stream states cached")
    db_pool_size: int = Field(default=10, gt=0, description="asyncpg pool size per process")
    expiry_interval_seconds: float = Field(default=1.0, gt=0, description="Expiry poll period")
    run_expiry: bool = Field(default=True, description="`serve` runs the expiry worker (elected)")
    run_relay: bool = Field(default=True, description="`serve` runs the outbox relay (elected)")
    run_projector: bool = Field(default=True, description="`serve` runs the projectors (elected)")
    workers: int = Field(default=1, ge=1, description="`serve`: API processes on one port")
    ready_max_outbox_age_seconds: float = Field(
        default=30,
        gt=0,
        description="/ready is degraded when the oldest unpublished event is older",
    )
    ready_max_projection_lag_seconds: float = Field(
        default=30, gt=0, description="/ready is degraded when the projectors are further behind"
    )
    verify_sample_seconds: float = Field(
        default=5,
        gt=0,
        description="`serve` compares sampled projections with the store this often",
    )
    verify_sample_streams: int = Field(
        default=20, ge=1, description="Stock streams compared with the store per sample"
    )
    log_level: str = Field(default="INFO", description="Log level")
    log_json: bool = Field(default=True, description="JSON logs (false: console)")
    audit_key: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key signing audit checkpoints (none: no checkpoints)"
    )
    checkpoint_every_seconds: float = Field(
        default=300.0, gt=0, description="Sign a checkpoint this often (if anything landed)"
    )
    checkpoint_every_events: int = Field(
        default=10_000, gt=0, description="... or as soon as this many events landed"
    )
    http_body_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request body must arrive within this (else 408)"
    )
    http_keep_alive_seconds: int = Field(
        default=5, gt=0, description="Idle keep-alive connections are closed after this"
    )
    # Webhooks (webhooks/, docs/webhooks.md)
    run_webhooks: bool = Field(default=True, description="`serve` runs the webhook dispatcher")
    webhooks_secret_key: SecretStr | None = Field(
        default=None,
        description="Comma-separated keys sealing webhook secrets (the first seals, any opens); "
        "none: derived from STOCKLEDGER_AUDIT_KEY; neither: no webhooks",
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="Webhook URLs may name loopback, private or link-local addresses",
    )
    webhooks_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A webhook endpoint must answer within this"
    )
    webhooks_concurrency: int = Field(
        default=16, ge=1, le=256, description="Requests in flight per webhook endpoint"
    )

    @field_validator("api_keys")
    @classmethod
    def _valid_keys(cls, value: str) -> str:
        parse_api_keys(value)
        return value

    @field_validator("kafka_command_principals")
    @classmethod
    def _valid_command_principals(cls, value: str) -> str:
        parse_principals(value)
        return value

    @field_validator("oidc_role_map")
    @classmethod
    def _valid_role_map(cls, value: str) -> str:
        parse_role_map(value)
        return value

    @model_validator(mode="after")
    def _audience_with_issuer(self) -> Settings:
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("STOCKLEDGER_OIDC_AUDIENCE is required with STOCKLEDGER_OIDC_ISSUER")
        return self

    def oidc(self) -> OidcConfig | None:
        """The OIDC settings, or None when tokens are not accepted."""
        if not self.oidc_issuer or not self.oidc_audience:
            return None
        return OidcConfig(
            issuer=self.oidc_issuer,
            audience=self.oidc_audience,
            roles_claim=self.oidc_roles_claim,
            role_map=parse_role_map(self.oidc_role_map),
            principal_claim=self.oidc_principal_claim,
            jwks_refetch_seconds=self.oidc_jwks_refetch_seconds,
        )

    @field_validator("rate_limits")
    @classmethod
    def _valid_rate_limits(cls, value: str) -> str:
        parse_rate_limits(value)
        return value

    def environment(self) -> dict[str, str]:
        """These settings as the STOCKLEDGER_* variables a child process's Settings() reads
        back (`serve --workers N`); unset ones are left out."""
        variables = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, bool):
                value = "true" if value else "false"
            variables[f"STOCKLEDGER_{name.upper()}"] = str(value)
        return variables

    def parsed_api_keys(self) -> tuple[ApiKey, ...]:
        return parse_api_keys(self.api_keys)

    def parsed_command_principals(self) -> dict[str, Role]:
        return parse_principals(self.kafka_command_principals)

    def parsed_rate_limits(self) -> dict[Role, RateLimit]:
        return parse_rate_limits(self.rate_limits)

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("STOCKLEDGER_DATABASE_URL is not set (or use `stockledger dev`)")
        return self.database_url

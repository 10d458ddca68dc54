"""Runtime settings: one pydantic model read from the environment on first use, behind a cached getter.

(A plain model rather than pydantic-settings: the latter adds ~25 ms to every handler's cold start.)
Variables are `LX_<FIELD>` (e.g. LX_BASE_RATE_MICRO_USDC), except `DATABASE_URL`.
"""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # PostgreSQL + PostGIS. In AWS the RDS Proxy endpoint and credentials come from the Secrets Manager secret.
    database_url: str = "postgresql://postgres@127.0.0.1:5432/luxxon"
    database_secret_arn: str | None = None
    database_host: str | None = None  # overrides the secret's host (the RDS Proxy endpoint)
    db_connect_timeout_s: int = 5
    db_tcp_user_timeout_ms: int = 10_000  # unacknowledged data older than this drops the connection
    # Server-side prepared statements after N executions (psycopg's default is 5). Off by default: behind RDS Proxy
    # they pin each client to one backend. Turn on for direct connections: planning is ~half a local request.
    db_prepare_threshold: int | None = None
    # Pricing (luxxon.domain.pricing): the base rate, the demand counted around a point, quotes.
    base_rate_micro_usdc: int = Field(default=1000, ge=0)
    price_floor_percent: int = Field(default=50, gt=0)  # the multiplier's bounds, in % of the base rate
    price_ceiling_percent: int = Field(default=300, gt=0)
    demand_radius_m: int = Field(default=5_000, gt=0)
    demand_window_s: int = Field(default=300, gt=0)
    quote_ttl_s: int = Field(default=60, gt=0)
    quote_tolerance_m: float = Field(default=100.0, ge=0)
    # The on-chain credit check at POST /sessions. Off only for the benchmark that measures what it costs
    # (tests/bench/credit.py); never in a deployment.
    credit_check: bool = True
    # Session bounds (documented in README).
    min_duration_seconds: int = 10
    max_duration_seconds: int = 14_400
    default_duration_seconds: int = 600
    default_wait_timeout_seconds: int = 300
    min_wait_timeout_seconds: int = 5
    max_wait_timeout_seconds: int = 3_600
    default_geofence_radius_m: int = 150
    # The deployment's name (the stack's stage): live inputs are named `luxxon:<stage>:<session id>`, so one stage's
    # sweep never takes another stage's live inputs for orphans in a shared Cloudflare account.
    stage: str = "local"
    # How many sessions (ASSIGNED, LIVE or PAUSED) one operator workspace may hold at once.
    max_active_sessions_per_operator: int = Field(default=4, ge=1)
    # Video plane: Cloudflare Stream (or the local edge). From Secrets Manager when the ARN is set.
    cloudflare_secret_arn: str | None = None
    cloudflare_account_id: str | None = None
    cloudflare_api_token: SecretStr | None = None
    cloudflare_api_base: str = "https://api.cloudflare.com/client/v4"
    # Timeouts fit the API function's 15 s: /start makes one POST (no retry) while it holds the session row; GET and
    # DELETE retry twice (3 × 4 s + backoff < 15 s). A teardown in the request path gets one short try; the sweep
    # retries the rest with the full client.
    cloudflare_timeout_s: float = 4.0
    teardown_inline_timeout_s: float = 2.0
    # A live input no session holds, created longer ago than this, is an orphan (a /start that crashed between
    # creating it and committing): the sweep deletes it.
    orphan_live_input_after_s: int = 120
    # Webhooks from the video edge are signed with this secret (or the one in Secrets Manager).
    stream_webhook_secret: SecretStr | None = None
    stream_webhook_secret_arn: str | None = None
    # The key that seals the consistency tokens the API returns (luxxon.api.consistency), or its secret in AWS.
    consistency_token_key: SecretStr | None = None
    consistency_token_key_arn: str | None = None
    # Where decoded frames live: "redis" (ElastiCache) or "s3".
    frame_store: str = "redis"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_auth_secret_arn: str | None = None  # ElastiCache AUTH token (the URL carries no password)
    frames_bucket: str | None = None
    frame_ttl_s: int = 60
    # The chain. The JSON-RPC URL (often carrying a provider key) comes from the chain secret {"rpcUrl"} in AWS; the
    # relayer's private key from its own secret (a plain 0x string) that only the relayer may read.
    chain_rpc_url: str | None = None
    chain_secret_arn: str | None = None
    chain_settlement_address: str | None = None
    chain_token_address: str | None = None  # the USDC the pool holds (local: TestUSDC; only local tools read it)
    chain_timeout_s: float = 3.0
    # The chain the contract is on (31337 local, 84532 Base Sepolia, 8453 Base). Set, every read and the relayer
    # check the node's eth_chainId against it and refuse another chain (a contract deployed by the same key at the
    # same nonce has the same address on every chain, so the address alone does not tell a testnet from mainnet).
    chain_id: int | None = Field(default=None, gt=0)
    relayer_key: SecretStr | None = None
    relayer_key_secret_arn: str | None = None
    # A `Settled` event counts (the settlement is CONFIRMED) once this many blocks include it (1 = its own block).
    chain_confirmations: int = Field(default=2, ge=1)
    # The indexer follows the chain from this block (the settlement contract's deployment block).
    chain_start_block: int = Field(default=0, ge=0)
    # The settlement queue (SQS; locally moto's server, AWS_ENDPOINT_URL_SQS).
    settlement_queue_url: str | None = None
    # A settlement request PENDING or SUBMITTED this long without confirming is sent to the queue again; a
    # transaction pending this long is replaced (same nonce, higher fees).
    settlement_stall_after_s: int = Field(default=120, ge=1)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, str] = {
            name: env[f"LX_{name.upper()}"] for name in cls.model_fields if f"LX_{name.upper()}" in env
        }
        if "DATABASE_URL" in env:
            values["database_url"] = env["DATABASE_URL"]
        return cls.model_validate(values)


@cache
def get_settings() -> Settings:
    return Settings.from_env()

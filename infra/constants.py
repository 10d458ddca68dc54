"""Names and per-stage settings: every string the stack shares with the code lives here, once."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, cast

from luxxon.api.edge_limit import EDGE_LIMITS, EdgeLimit

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "luxxon"
SERVICE_NAME = "luxxon"  # POWERTOOLS_SERVICE_NAME; luxxon.observability uses the same name
METRICS_NAMESPACE = "Luxxon"  # luxxon.observability.metrics namespace

# One CPU architecture for the Lambda runtime, the layer's wheels and the decoder image. x86_64 keeps `cdk deploy`
# working from x86 CI runners without QEMU; switch all three to ARM64 (Graviton) by changing this one value.
ARCHITECTURE: Literal["x86_64", "arm64"] = "x86_64"
PYTHON_VERSION = "3.12"  # Lambda runtime python3.12 and the decoder's python:3.12-slim base image
PIP_PLATFORMS = {
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
}[ARCHITECTURE]

# Code assets.
FUNCTIONS_DIR = REPO_ROOT / "functions"
LAYER_PACKAGE_DIR = REPO_ROOT / "layers" / "luxxon"
LAYER_EXCLUDED = ("local", "admin")  # the local system and the operator's tools (with anvil's dev keys) never ship
MIGRATIONS_DIR = LAYER_PACKAGE_DIR / "db" / "migrations"
INFRA_RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
DECODER_DOCKERFILE = "decoder_container/Dockerfile"  # relative to the repo root (the Docker build context)
BUNDLE_CACHE_DIR = REPO_ROOT / "infra" / "cdk.out" / ".bundle-cache"  # gitignored with cdk.out

# Database.
DATABASE_NAME = "luxxon"
DATABASE_ADMIN_USER = "luxxon_admin"
DATABASE_PORT = 5432
REDIS_PORT = 6379

# Handlers outside the route table (the route table owns every API handler).
MIGRATIONS_HANDLER = "runtime.migrations.on_event"  # infra/runtime/migrations.py
SWEEP_HANDLER = "functions.sweep.handler.lambda_handler"
RELAYER_HANDLER = "functions.relayer.handler.lambda_handler"  # SQS batches of settlement requests -> settleFromPool
INDEXER_HANDLER = "functions.indexer.handler.lambda_handler"  # every minute: the contract's events -> the database

# Custom CloudWatch metrics the code publishes through Powertools Metrics (EMF, dimension service=luxxon).
DECODER_BACKLOG_METRIC = "DecoderBacklog"  # sessions accepted and waiting for a decoder to attach (gauge)
RELAYER_BALANCE_METRIC = "RelayerGasBalanceEth"  # the relayer wallet's gas balance in ETH, after each batch (gauge)
OLDEST_UNSETTLED_METRIC = "OldestUnsettledSeconds"  # age of the oldest ENDED session not yet settled (gauge, sweep)
SETTLEMENTS_FAILED_METRIC = "SettlementsFailed"  # settlements that reached FAILED (count, sweep)
SETTLEMENT_DISCREPANCIES_METRIC = "SettlementDiscrepancies"  # chain and database disagree (count, sweep)

# Environment variable names the code reads (luxxon.config, prefix LX_).
ENV_STAGE = "LX_STAGE"
ENV_DATABASE_SECRET_ARN = "LX_DATABASE_SECRET_ARN"
ENV_DATABASE_HOST = "LX_DATABASE_HOST"  # the RDS Proxy endpoint; the secret's `host` is the cluster writer
ENV_CLOUDFLARE_SECRET_ARN = "LX_CLOUDFLARE_SECRET_ARN"  # {"accountId": ..., "apiToken": ...} (adapters.video)
ENV_WEBHOOK_SECRET_ARN = "LX_STREAM_WEBHOOK_SECRET_ARN"  # plain string: the webhook signing secret
ENV_CHAIN_SECRET_ARN = "LX_CHAIN_SECRET_ARN"  # {"rpcUrl": ...} (the JSON-RPC URL often carries a provider key)
ENV_RELAYER_KEY_SECRET_ARN = "LX_RELAYER_KEY_SECRET_ARN"  # plain string: the relayer's 0x private key
ENV_CONSISTENCY_KEY_SECRET_ARN = "LX_CONSISTENCY_TOKEN_KEY_ARN"  # plain string: seals consistency tokens
ENV_CHAIN_SETTLEMENT_ADDRESS = "LX_CHAIN_SETTLEMENT_ADDRESS"  # the LuxxonSettlement contract
ENV_CHAIN_ID = "LX_CHAIN_ID"  # the chain the RPC must serve (checked on every read and by the relayer)
ENV_CHAIN_CONFIRMATIONS = "LX_CHAIN_CONFIRMATIONS"  # blocks that make a Settled event final
ENV_CHAIN_START_BLOCK = "LX_CHAIN_START_BLOCK"  # the indexer's first block (the contract's deployment block)
ENV_FRAME_STORE = "LX_FRAME_STORE"  # "s3" | "redis"
ENV_FRAMES_BUCKET = "LX_FRAMES_BUCKET"
FRAMES_PREFIX = "frames/"  # S3 keys frames/<session id>.jpg (luxxon.adapters.frames.S3FrameStore)
ENV_REDIS_URL = "LX_REDIS_URL"  # rediss://host:6379/0 (no password)
ENV_REDIS_AUTH_SECRET_ARN = "LX_REDIS_AUTH_SECRET_ARN"  # plain string: the ElastiCache AUTH token
ENV_SETTLEMENT_QUEUE_URL = "LX_SETTLEMENT_QUEUE_URL"

FrameStoreKind = Literal["s3", "redis"]
StageName = Literal["dev", "prod"]


@dataclass(frozen=True)
class StageSettings:
    """What differs between dev and prod. Everything else is the same code path."""

    name: StageName
    frame_store: FrameStoreKind
    nat_gateways: int
    db_min_acu: float
    db_max_acu: float
    db_readers: int
    db_backup_days: int
    rotate_database_secret: bool
    protect_data: bool  # deletion protection + RETAIN/SNAPSHOT removal policies
    log_retention_days: int
    api_rate_limit: int  # steady-state requests per second across the stage
    api_burst_limit: int
    # Requests per client address in a window, at the edge (a WAF rate-based rule on the stage): the numbers live in
    # luxxon.api.edge_limit, which the local gateway reads too.
    edge_limit: EdgeLimit
    function_memory_mb: int
    decoder_min_tasks: int
    decoder_max_tasks: int
    redis_node_type: str
    redis_replicas: int
    # LuxxonSettlement on the stage's chain, known once deployed (`python -m luxxon.admin.deploy`): write it here or
    # pass it as context (`stage_settings`). Until then None: LX_CHAIN_SETTLEMENT_ADDRESS stays unset, so the relayer
    # and the chain reads refuse to run (errors, alarms) instead of sending transactions to an address with no code,
    # and synth warns.
    settlement_address: str | None
    # The chain the stage settles on: the RPC URL in the chain secret must serve it (the same deployer key and nonce
    # give the same contract address on every chain, so a testnet URL in prod's secret would otherwise go unnoticed).
    chain_id: int
    chain_start_block: int  # the contract's deployment block: the indexer has nothing to read before it
    chain_confirmations: int  # a Settled event is final once this many blocks include it (reorg depth we accept)
    relayer_min_balance_eth: float  # alarm when the relayer's gas balance drops under this

    @property
    def stack_name(self) -> str:
        return f"Luxxon-{self.name}"

    def resource_name(self, suffix: str) -> str:
        """A physical name scoped to the stage, e.g. luxxon/dev/cloudflare."""
        return f"{APP_NAME}/{self.name}/{suffix}"


STAGES: dict[str, StageSettings] = {
    "dev": StageSettings(
        name="dev",
        frame_store="s3",
        nat_gateways=1,
        db_min_acu=0.5,
        db_max_acu=4,
        db_readers=0,
        db_backup_days=1,
        rotate_database_secret=False,
        protect_data=False,
        log_retention_days=14,
        api_rate_limit=50,
        api_burst_limit=100,
        edge_limit=EDGE_LIMITS["dev"],
        function_memory_mb=1024,
        decoder_min_tasks=1,
        decoder_max_tasks=4,
        redis_node_type="cache.t4g.micro",
        redis_replicas=0,
        settlement_address=None,
        chain_id=84532,  # Base Sepolia
        chain_start_block=0,
        chain_confirmations=3,
        relayer_min_balance_eth=0.001,  # testnet gas comes from faucets a little at a time
    ),
    "prod": StageSettings(
        name="prod",
        # S3 until `redis` is a runtime dependency of the layer (the API reads frames); then "redis" here.
        frame_store="s3",
        nat_gateways=2,
        db_min_acu=0.5,
        db_max_acu=16,
        db_readers=1,
        db_backup_days=14,
        rotate_database_secret=True,
        protect_data=True,
        log_retention_days=90,
        api_rate_limit=500,
        api_burst_limit=1000,
        edge_limit=EDGE_LIMITS["prod"],
        function_memory_mb=1024,
        decoder_min_tasks=2,
        decoder_max_tasks=20,
        redis_node_type="cache.t4g.small",
        redis_replicas=1,
        settlement_address=None,
        chain_id=8453,  # Base mainnet
        chain_start_block=0,
        chain_confirmations=10,
        relayer_min_balance_eth=0.005,  # hundreds of settlements on Base: days of runway to refill
    ),
}


def stage_settings(
    stage: str,
    frame_store: str | None = None,
    settlement_address: str | None = None,
    settlement_start_block: str | int | None = None,
) -> StageSettings:
    """The settings of a stage, with context overrides: the frames store (`-c frame_store=redis`) and the deployed
    settlement contract (`-c settlement_address=0x... -c settlement_start_block=N`) where STAGES does not know it."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {sorted(STAGES)}")
    settings = STAGES[stage]
    if frame_store is not None:
        if frame_store not in ("s3", "redis"):
            raise ValueError(f"unknown frame_store {frame_store!r}; expected 's3' or 'redis'")
        settings = replace(settings, frame_store=cast(FrameStoreKind, frame_store))
    if settlement_address is not None:
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", settlement_address):
            raise ValueError(f"settlement_address {settlement_address!r} is not a 0x-prefixed 20-byte address")
        settings = replace(settings, settlement_address=settlement_address)
    if settlement_start_block is not None:
        block = int(settlement_start_block)
        if block < 0:
            raise ValueError(f"settlement_start_block {block} is negative")
        settings = replace(settings, chain_start_block=block)
    return settings

"""The migrations custom resource: on every deploy that changes a migration, apply the pending ones.

Runs in the VPC with the shared layer (luxxon + psycopg). Connects straight to the cluster writer (the secret's
host), not through RDS Proxy, so the advisory lock and DDL run on one plain session. The CDK Provider framework
sends the CloudFormation response; an exception fails the deploy (and rolls it back).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger

from luxxon.db.connection import conninfo_from_secret
from luxxon.db.migrate import migrate
from luxxon.secrets_manager import read_json_secret

logger = Logger()
PHYSICAL_ID = "luxxon-schema"


def _conninfo() -> str:
    secret = read_json_secret(os.environ["LX_DATABASE_SECRET_ARN"], max_age_s=0)  # the writer, never the proxy
    return conninfo_from_secret(secret, connect_timeout=10)


@logger.inject_lambda_context
def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = event["RequestType"]
    if request == "Delete":  # the schema outlives the stack's custom resource; snapshots keep the data
        return {"PhysicalResourceId": event.get("PhysicalResourceId", PHYSICAL_ID)}
    applied = migrate(_conninfo())
    logger.info("migrations applied", extra={"applied": applied, "request": request})
    return {
        "PhysicalResourceId": PHYSICAL_ID,
        "Data": {"Applied": ",".join(applied) or "none"},
    }

"""The migrations custom resource: on every deploy that changes a migration, apply the pending ones.

Runs in the VPC with the shared layer (luxxon + psycopg). Connects straight to the cluster writer (the secret's
host), not through RDS Proxy, so the advisory lock and DDL run on one plain session. The CDK Provider framework
sends the CloudFormation response; an exception fails the deploy (and rolls it back).
"""

from __future__ import annotations

import os
from typing import Any

import psycopg
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters

from luxxon.db.migrate import migrate

logger = Logger()
PHYSICAL_ID = "luxxon-schema"


def _conninfo() -> str:
    secret = parameters.get_secret(os.environ["LX_DATABASE_SECRET_ARN"], transform="json", max_age=0)
    assert isinstance(secret, dict)
    return psycopg.conninfo.make_conninfo(
        host=secret["host"],
        port=secret.get("port", 5432),
        user=secret["username"],
        password=secret["password"],
        dbname=secret.get("dbname", "luxxon"),
        sslmode="require",
        connect_timeout=10,
    )


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

"""Logger, Metrics and (opt-in) Tracer, built once for every handler and worker.

The X-Ray SDK costs ~300 ms of cold start (it pulls in botocore), more than the whole budget of an API handler.
Lambda's active tracing and API Gateway's X-Ray tracing (enabled by the stack) record every invocation without it;
set `LX_XRAY_SDK=true` to add the SDK's subsegments on top (the Powertools Tracer then wraps each handler).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

SERVICE = "luxxon"
F = TypeVar("F", bound=Callable[..., Any])

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Luxxon", service=SERVICE)


def xray_sdk_enabled() -> bool:
    return os.environ.get("LX_XRAY_SDK", "").lower() in ("1", "true", "yes")


@cache
def tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def traced(handler: F) -> F:
    """Wrap a Lambda handler with the Powertools Tracer when the X-Ray SDK is enabled."""
    if not xray_sdk_enabled():
        return handler
    wrapped: F = tracer().capture_lambda_handler(handler, capture_response=False)
    return wrapped

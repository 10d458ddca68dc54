"""The one way to read a secret: AWS Secrets Manager through Powertools parameters, cached for `MAX_AGE_S`.

A rotated or newly set value is picked up within that time. Powertools (and boto3 behind it) is imported on the
first read, so code that never reads a secret never pays for it at cold start.
"""

from __future__ import annotations

from typing import Any

MAX_AGE_S = 300


def read_secret(arn: str, *, max_age_s: int = MAX_AGE_S) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(arn, max_age=max_age_s))


def read_json_secret(arn: str, *, max_age_s: int = MAX_AGE_S) -> dict[str, Any]:
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn, transform="json", max_age=max_age_s)
    if not isinstance(value, dict):
        raise ValueError("the secret is not a JSON object")
    return value

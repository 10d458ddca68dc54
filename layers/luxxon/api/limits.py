"""The API's documented limits (README "Limits"): what a request body may be, and the rate-limit budget in force.

Checked by the resolver (luxxon.api.http) after authentication and before the body is validated, so a request
without a key is 401 whatever its body, and no body can cost more than its size allows.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from luxxon import bounded_json
from luxxon.domain.ratelimit import DEFAULT_BUDGETS, Budget, Budgets
from luxxon.errors import invalid_input

MAX_BODY_BYTES = 64 * 1024  # a request body, decoded (API Gateway's own cap is 10 MB)
MAX_JSON_DEPTH = 32  # nested objects/arrays (a MultiPolygon coverage area needs 6)
# Integers: Python refuses to parse one of more than 4,300 digits (CVE-2020-10735), so such a body is 400 `input:body`;
# a shorter one reaches its field's validation, which names the field.
BUDGET_ENV = {"workspace": "LX_RATE_LIMIT_WORKSPACE", "key": "LX_RATE_LIMIT_KEY"}  # "<per second>/<burst>"


def body_size(body: str | None, is_base64: bool) -> int:
    """The decoded size of an API Gateway event's body, without decoding it."""
    if not body:
        return 0
    if not is_base64:
        return len(body.encode())
    return len(body) * 3 // 4 - body[-2:].count("=")


def check_body_size(body: str | None, is_base64: bool) -> None:
    if body_size(body, is_base64) > MAX_BODY_BYTES:
        raise invalid_input("body")


def parse_json(text: str) -> Any:
    """The resolver's JSON body parser: strict JSON (no NaN/Infinity), bounded nesting, never a crash.

    Whatever it cannot take (malformed, nested deeper than MAX_JSON_DEPTH, an integer of thousands of digits) is
    400 INVALID_INPUT `input:body`.
    """
    try:
        return bounded_json.loads(text, MAX_JSON_DEPTH)
    except bounded_json.MalformedJson:
        raise invalid_input("body") from None


def budgets() -> Budgets:
    """The rate-limit budget in force: DEFAULT_BUDGETS unless LX_RATE_LIMIT_WORKSPACE / LX_RATE_LIMIT_KEY set it."""
    return _budgets(os.environ.get(BUDGET_ENV["workspace"]), os.environ.get(BUDGET_ENV["key"]))


@cache
def _budgets(workspace: str | None, key: str | None) -> Budgets:
    return Budgets(
        workspace=Budget.parse(workspace) if workspace else DEFAULT_BUDGETS.workspace,
        key=Budget.parse(key) if key else DEFAULT_BUDGETS.key,
    )

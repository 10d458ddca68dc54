"""Domain errors. Each carries its machine code; the API turns them into the error envelope in one place."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    NOT_AUTHORIZED = "NOT_AUTHORIZED"
    NOT_OPERATOR = "NOT_OPERATOR"
    AUTHZ_ERROR = "AUTHZ_ERROR"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    API_KEY_NOT_FOUND = "API_KEY_NOT_FOUND"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    INVALID_STATE = "INVALID_STATE"
    INVALID_INPUT = "INVALID_INPUT"
    INSUFFICIENT_CREDIT = "INSUFFICIENT_CREDIT"
    FRAME_NOT_AVAILABLE = "FRAME_NOT_AVAILABLE"
    THROTTLED = "THROTTLED"
    VIDEO_BACKEND_ERROR = "VIDEO_BACKEND_ERROR"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    SETTLEMENT_NOT_FOUND = "SETTLEMENT_NOT_FOUND"
    WALLET_NOT_FOUND = "WALLET_NOT_FOUND"
    NO_WALLET = "NO_WALLET"
    CHAIN_UNAVAILABLE = "CHAIN_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


# code -> (HTTP status, human message). Messages are the seeds' wording.
ERRORS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.NOT_AUTHENTICATED: (401, "Session expired or missing"),
    ErrorCode.NOT_AUTHORIZED: (403, "Not authorized for this operation"),
    ErrorCode.NOT_OPERATOR: (403, "Caller is not an operator"),
    ErrorCode.AUTHZ_ERROR: (503, "Authorization service unavailable"),
    ErrorCode.SESSION_NOT_FOUND: (404, "Session not found"),
    ErrorCode.API_KEY_NOT_FOUND: (404, "API key not found"),
    ErrorCode.ROUTE_NOT_FOUND: (404, "Route not found"),
    ErrorCode.METHOD_NOT_ALLOWED: (405, "Method not allowed on this route"),
    ErrorCode.INVALID_STATE: (409, "Operation not allowed in the current state"),
    ErrorCode.INVALID_INPUT: (400, "Invalid request payload"),
    ErrorCode.INSUFFICIENT_CREDIT: (400, "Insufficient credit in the consumer pool"),
    ErrorCode.FRAME_NOT_AVAILABLE: (404, "Frame not available"),
    ErrorCode.THROTTLED: (429, "Too many requests"),
    ErrorCode.VIDEO_BACKEND_ERROR: (502, "Video backend unavailable"),
    ErrorCode.IDEMPOTENCY_CONFLICT: (409, "Idempotency key already used for another request"),
    ErrorCode.SERVICE_UNAVAILABLE: (503, "Service temporarily unavailable"),
    ErrorCode.SETTLEMENT_NOT_FOUND: (404, "The session has no settlement (it did not end metered)"),
    ErrorCode.WALLET_NOT_FOUND: (404, "The workspace has no wallet"),
    ErrorCode.NO_WALLET: (400, "The workspace needs a wallet for this operation"),
    ErrorCode.CHAIN_UNAVAILABLE: (503, "The chain is unreachable; retry"),
    ErrorCode.INTERNAL_ERROR: (500, "Internal server error"),
}


class LxError(Exception):
    """An error the API reports to the caller: a code from the seeds and a short, safe detail label."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class InvalidState(LxError):
    """The session's current state forbids the operation (409, `session:<operation>:<CURRENT_STATE>`)."""

    def __init__(self, operation: str, current: str) -> None:
        super().__init__(ErrorCode.INVALID_STATE, f"session:{operation}:{current}")
        self.operation = operation
        self.current = current


class Throttled(LxError):
    """Over a rate-limit budget (429, `rate:<workspace|key>`); `retry_after_s` becomes the Retry-After header."""

    def __init__(self, subject: str, retry_after_s: int) -> None:
        super().__init__(ErrorCode.THROTTLED, f"rate:{subject}")
        self.subject = subject
        self.retry_after_s = retry_after_s


def not_authenticated(detail: str = "auth:missingBearer") -> LxError:
    return LxError(ErrorCode.NOT_AUTHENTICATED, detail)


def invalid_input(field: str) -> LxError:
    return LxError(ErrorCode.INVALID_INPUT, f"input:{field}")


def session_not_found() -> LxError:
    return LxError(ErrorCode.SESSION_NOT_FOUND, "session:notFound")

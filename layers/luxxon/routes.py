"""The route table: every endpoint declared once.

The CDK stack builds one Lambda + API Gateway method per row (and per path, the methods no row declares: see
RESOURCES); the local gateway serves the same rows; each handler module looks up its own row to register its route,
its required scopes, its OpenAPI operation id and the error codes it documents. Adding an endpoint = one handler module
+ one row here + tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from luxxon.errors import ErrorCode

API_PREFIX = "/api/v1"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # API Gateway style: /api/v1/sessions/{id}
    module: str  # dotted handler module under functions/, exposing `lambda_handler`
    scopes: tuple[str, ...] = ()  # any one of these grants access; () with auth=True means any valid key
    auth: bool = True
    status: int = 200  # the success status code
    needs: frozenset[str] = frozenset()  # what the handler touches (DATABASE, VIDEO, WEBHOOK_SECRET, FRAMES)
    action: str = ""  # the OpenAPI operation's verb: LxSessionsController_<action>
    # The error codes the handler itself can answer (its domain's refusals, INVALID_INPUT for its inputs). The resolver
    # adds what it answers for every route of the kind: NOT_AUTHENTICATED, THROTTLED and AUTHZ_ERROR when the route
    # takes a key, NOT_AUTHORIZED when it requires scopes (luxxon.api.http.documented_errors).
    errors: tuple[ErrorCode, ...] = ()
    produces: str = JSON  # the success response's media type
    idempotent: bool = False  # takes an `Idempotency-Key` header (luxxon.api.idempotency): a retry replays

    @property
    def name(self) -> str:
        """A stable identifier for the route (used for Lambda logical ids). Never changes: see `operation_id`."""
        return self.module.removeprefix("functions.").replace(".", "-")

    @property
    def operation_id(self) -> str:
        """The OpenAPI operation id, in the seeds' naming: `LxSessionsController_cancelAllAssignments`."""
        area = self.module.split(".")[1]
        controller = "".join(part.capitalize() for part in area.split("_"))
        return f"Lx{controller}Controller_{self.action}"

    @property
    def powertools_rule(self) -> str:
        return self.path.replace("{", "<").replace("}", ">")


# What a handler touches; the stack grants each function exactly these (and a VPC attachment only with DATABASE
# or FRAMES). VIDEO: the Cloudflare Stream secret (provisioning, and teardown after a transition that stops video).
# CHAIN: the chain's JSON-RPC URL (the chain secret; never the relayer's key) for `eth_call` reads. SETTLEMENT: the
# settlement queue (a transition that ends a metered session sends its settlement request after commit).
DATABASE, VIDEO, WEBHOOK_SECRET, FRAMES = "database", "video", "webhookSecret", "frames"
CHAIN, SETTLEMENT = "chain", "settlement"
TEARDOWN = (VIDEO,)
FINISH = (VIDEO, SETTLEMENT)  # /end: the live input's teardown and the settlement request


def _r(
    method: str,
    path: str,
    module: str,
    *scopes: str,
    action: str,
    errors: tuple[ErrorCode, ...] = (),
    auth: bool = True,
    status: int = 200,
    needs: tuple[str, ...] = (),
    produces: str = JSON,
    idempotent: bool = False,
) -> Route:
    # Every authenticated route reads the API keys, so it needs the database.
    wants = frozenset(needs) | ({DATABASE} if auth else set())
    return Route(
        method,
        API_PREFIX + path,
        "functions." + module,
        tuple(scopes),
        auth,
        status,
        wants,
        action,
        errors,
        produces,
        idempotent,
    )


CREATE, READ, OPERATE, ADMIN = "sessions:create", "sessions:read", "sessions:operate", "workspace:admin"
WORKSPACE_READ = "workspace:read"

# The errors handlers answer, by name (the resolver adds the authentication, throttling and scope ones).
E = ErrorCode
BAD_INPUT = (E.INVALID_INPUT,)
ONE_SESSION = (E.SESSION_NOT_FOUND,)

ROUTES: tuple[Route, ...] = (
    _r("GET", "/health", "health.get", action="health", auth=False),
    _r("GET", "/openapi.json", "docs.openapi", action="openapi", auth=False),
    _r("GET", "/docs", "docs.page", action="docs", auth=False, produces="text/html"),
    _r("GET", "/me", "me.get", action="me"),
    _r("GET", "/workspaces/me", "workspaces.get", WORKSPACE_READ, ADMIN, action="getMine"),
    _r("PATCH", "/workspaces/me", "workspaces.update", ADMIN, action="updateMine", errors=BAD_INPUT),
    _r("GET", "/api-keys", "api_keys.list", ADMIN, action="list"),
    _r("POST", "/api-keys", "api_keys.create", ADMIN, action="create", errors=BAD_INPUT, status=201, idempotent=True),
    _r("DELETE", "/api-keys/{id}", "api_keys.revoke", ADMIN, action="revoke", errors=(E.API_KEY_NOT_FOUND,)),
    _r(
        "POST",
        "/sessions",
        "sessions.create",
        CREATE,
        action="create",
        errors=(E.INVALID_INPUT, E.NO_WALLET, E.INSUFFICIENT_CREDIT, E.CHAIN_UNAVAILABLE),
        status=201,
        needs=(CHAIN,),  # the credit check's eth_call
        idempotent=True,
    ),
    _r("GET", "/sessions", "sessions.list", READ, action="list", errors=BAD_INPUT),
    _r("GET", "/sessions/inbox", "sessions.inbox", OPERATE, action="inbox", errors=(E.INVALID_INPUT, E.NOT_OPERATOR)),
    _r(
        "POST",
        "/sessions/cancel-all-assignments",
        "sessions.cancel_all",
        OPERATE,
        action="cancelAllAssignments",
        errors=(E.NOT_OPERATOR,),
        needs=TEARDOWN,
        idempotent=True,
    ),
    _r("GET", "/sessions/{id}", "sessions.get", READ, action="get", errors=ONE_SESSION),
    _r(
        "DELETE",
        "/sessions/{id}",
        "sessions.cancel",
        CREATE,
        action="cancel",
        errors=(E.NOT_AUTHORIZED, E.SESSION_NOT_FOUND, E.INVALID_STATE),  # NOT_AUTHORIZED: the operator side
        needs=TEARDOWN,
    ),
    _r(
        "POST",
        "/sessions/{id}/accept",
        "sessions.accept",
        OPERATE,
        action="accept",
        # NOT_AUTHORIZED: not a supplier, own request, offline, full; NO_WALLET: nowhere to be paid
        errors=(E.NOT_AUTHORIZED, E.SESSION_NOT_FOUND, E.INVALID_STATE, E.NO_WALLET),
        idempotent=True,
    ),
    _r(
        "POST",
        "/sessions/{id}/end",
        "sessions.end",
        OPERATE,
        CREATE,
        action="end",
        errors=(E.SESSION_NOT_FOUND, E.INVALID_STATE),
        needs=FINISH,
        idempotent=True,
    ),
    _r(
        "POST",
        "/sessions/{id}/start",
        "sessions.start",
        OPERATE,
        action="start",
        errors=(E.NOT_OPERATOR, E.SESSION_NOT_FOUND, E.INVALID_STATE, E.VIDEO_BACKEND_ERROR),
        needs=(VIDEO,),
        idempotent=True,
    ),
    _r(
        "GET",
        "/sessions/{id}/viewer-token",
        "sessions.viewer_token",
        READ,
        action="viewerToken",
        errors=(E.SESSION_NOT_FOUND, E.INVALID_STATE),
    ),
    _r(
        "GET",
        "/sessions/{id}/producer-token",
        "sessions.producer_token",
        OPERATE,
        action="producerToken",
        errors=(E.NOT_OPERATOR, E.SESSION_NOT_FOUND, E.INVALID_STATE),
    ),
    _r(
        "GET",
        "/sessions/{id}/frame",
        "sessions.frame",
        READ,
        action="frame",
        errors=(E.SESSION_NOT_FOUND, E.FRAME_NOT_AVAILABLE),
        needs=(FRAMES,),
        produces="image/jpeg",
    ),
    _r("GET", "/pricing/rate", "pricing.rate", CREATE, action="rate", errors=BAD_INPUT),
    _r(
        "POST",
        "/pricing/quotes",
        "pricing.quotes",
        CREATE,
        action="createQuote",
        errors=BAD_INPUT,
        status=201,
        idempotent=True,  # a quote is a row: a retry must not make a second one
    ),
    _r(
        "GET",
        "/settlements/{sessionId}",
        "settlements.get",
        READ,
        action="get",
        errors=(E.SESSION_NOT_FOUND, E.SETTLEMENT_NOT_FOUND),
        needs=(CHAIN,),
    ),
    _r(
        "GET",
        "/wallet",
        "wallet.get",
        WORKSPACE_READ,
        ADMIN,
        action="get",
        errors=(E.INVALID_INPUT, E.WALLET_NOT_FOUND, E.CHAIN_UNAVAILABLE),
        needs=(CHAIN,),
    ),
    # Authenticated by the webhook destination's static secret (`cf-webhook-auth`), not by an API key: a request without
    # it is NOT_AUTHENTICATED. The scheme signs no body and no time, so a captured delivery replays fine; it changes
    # nothing, being deduplicated by its content (luxxon.adapters.video.CloudflareWebhooks).
    _r(
        "POST",
        "/webhooks/stream",
        "webhooks.stream",
        action="stream",
        errors=(E.INVALID_INPUT, E.NOT_AUTHENTICATED),
        auth=False,
        needs=(DATABASE, WEBHOOK_SECRET),
    ),
)

SCOPES: tuple[str, ...] = (CREATE, READ, OPERATE, WORKSPACE_READ, ADMIN)

# Every path of the table is one API Gateway resource. Besides its rows it answers HEAD wherever it answers GET (the GET
# row's handler; the gateway sends no body), OPTIONS (204 with `Allow`) and, for any other method, 405
# METHOD_NOT_ALLOWED with `Allow`; the last two without a Lambda (luxxon.api.gateway_errors).
RESOURCES: tuple[str, ...] = tuple(dict.fromkeys(route.path for route in ROUTES))
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(path: str) -> tuple[str, ...]:
    """What the resource at `path` (a table path, `/api/v1/sessions/{id}`) answers: its rows, HEAD with GET, OPTIONS."""
    declared = {route.method for route in ROUTES if route.path == path}
    if not declared:
        raise LookupError(f"no route declares {path!r}")
    implied = {"HEAD"} if "GET" in declared else set()
    return tuple(method for method in _METHOD_ORDER if method in declared | implied | {"OPTIONS"})


def allow_header(path: str) -> str:
    """The `Allow` header of the resource at `path`: `GET, HEAD, POST, OPTIONS`."""
    return ", ".join(allowed_methods(path))


def route_for(module: str) -> Route:
    """The row of a handler module (handlers pass their own `__name__`)."""
    for route in ROUTES:
        if route.module == module:
            return route
    raise LookupError(f"no route declared for handler module {module!r}")

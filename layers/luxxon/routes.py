"""The route table: every endpoint declared once.

The CDK stack builds one Lambda + API Gateway method per row; the local gateway serves the same rows;
each handler module looks up its own row to register its route and its required scopes.
Adding an endpoint = one handler module + one row here + tests.
"""

from __future__ import annotations

from dataclasses import dataclass

API_PREFIX = "/api/v1"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # API Gateway style: /api/v1/sessions/{id}
    module: str  # dotted handler module under functions/, exposing `lambda_handler`
    scopes: tuple[str, ...] = ()  # any one of these grants access; () with auth=True means any valid key
    auth: bool = True
    status: int = 200  # the success status code
    needs: frozenset[str] = frozenset()  # what the handler touches (DATABASE, VIDEO, WEBHOOK_SECRET, FRAMES)

    @property
    def name(self) -> str:
        """A stable identifier for the route (used for Lambda logical ids)."""
        return self.module.removeprefix("functions.").replace(".", "-")

    @property
    def powertools_rule(self) -> str:
        return self.path.replace("{", "<").replace("}", ">")


# What a handler touches; the stack grants each function exactly these (and a VPC attachment only with DATABASE
# or FRAMES). VIDEO: the Cloudflare Stream secret (provisioning, and teardown after a transition that stops video).
DATABASE, VIDEO, WEBHOOK_SECRET, FRAMES = "database", "video", "webhookSecret", "frames"
TEARDOWN = (VIDEO,)


def _r(
    method: str,
    path: str,
    module: str,
    *scopes: str,
    auth: bool = True,
    status: int = 200,
    needs: tuple[str, ...] = (),
) -> Route:
    # Every authenticated route reads the API keys, so it needs the database.
    wants = frozenset(needs) | ({DATABASE} if auth else set())
    return Route(method, API_PREFIX + path, "functions." + module, tuple(scopes), auth, status, wants)


CREATE, READ, OPERATE, ADMIN = "sessions:create", "sessions:read", "sessions:operate", "workspace:admin"
WORKSPACE_READ = "workspace:read"

ROUTES: tuple[Route, ...] = (
    _r("GET", "/health", "health.get", auth=False),
    _r("GET", "/openapi.json", "docs.openapi", auth=False),
    _r("GET", "/docs", "docs.page", auth=False),
    _r("GET", "/me", "me.get"),
    _r("GET", "/workspaces/me", "workspaces.get", WORKSPACE_READ, ADMIN),
    _r("PATCH", "/workspaces/me", "workspaces.update", ADMIN),
    _r("GET", "/api-keys", "api_keys.list", ADMIN),
    _r("POST", "/api-keys", "api_keys.create", ADMIN, status=201),
    _r("DELETE", "/api-keys/{id}", "api_keys.revoke", ADMIN),
    _r("POST", "/sessions", "sessions.create", CREATE, status=201),
    _r("GET", "/sessions", "sessions.list", READ),
    _r("GET", "/sessions/inbox", "sessions.inbox", OPERATE),
    _r("POST", "/sessions/cancel-all-assignments", "sessions.cancel_all", OPERATE, needs=TEARDOWN),
    _r("GET", "/sessions/{id}", "sessions.get", READ),
    _r("DELETE", "/sessions/{id}", "sessions.cancel", CREATE, needs=TEARDOWN),
    _r("POST", "/sessions/{id}/accept", "sessions.accept", OPERATE),
    _r("POST", "/sessions/{id}/end", "sessions.end", OPERATE, CREATE, needs=TEARDOWN),
    _r("POST", "/sessions/{id}/start", "sessions.start", OPERATE, needs=(VIDEO,)),
    _r("GET", "/sessions/{id}/viewer-token", "sessions.viewer_token", READ),
    _r("GET", "/sessions/{id}/producer-token", "sessions.producer_token", OPERATE),
    _r("GET", "/sessions/{id}/frame", "sessions.frame", READ, needs=(FRAMES,)),
    # Signed by the video edge (Webhook-Signature), not by an API key.
    _r("POST", "/webhooks/stream", "webhooks.stream", auth=False, needs=(DATABASE, WEBHOOK_SECRET)),
)

SCOPES: tuple[str, ...] = (CREATE, READ, OPERATE, WORKSPACE_READ, ADMIN)


def route_for(module: str) -> Route:
    """The row of a handler module (handlers pass their own `__name__`)."""
    for route in ROUTES:
        if route.module == module:
            return route
    raise LookupError(f"no route declared for handler module {module!r}")

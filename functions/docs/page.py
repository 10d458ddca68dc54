from aws_lambda_powertools.event_handler import Response, content_types

from luxxon.api import http

app, route = http.endpoint(__name__)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Luxxon API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "openapi.json", dom_id: "#ui"});</script>
</body></html>"""


@route
def docs_page() -> Response[str]:
    """Interactive API docs (Swagger UI over /api/v1/openapi.json)."""
    return Response(200, content_types.TEXT_HTML, PAGE)


lambda_handler = http.lambda_handler(app)

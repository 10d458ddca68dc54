from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http

app, route = http.endpoint(__name__)


@route
def get_frame(id: str) -> Response[bytes]:  # noqa: A002 - the path name
    """The latest decoded frame as `image/jpeg` (`Cache-Control: no-store`); 404 FRAME_NOT_AVAILABLE before LIVE."""
    frame = wiring.sessions().frame(http.principal(app), id)
    return Response(
        status_code=200,
        content_type="image/jpeg",
        body=frame.jpeg,
        headers={"Cache-Control": "no-store", "X-Frame-Captured-At": frame.captured_at.isoformat()},
    )


lambda_handler = http.lambda_handler(app)

"""The baseline: a bare Starlette endpoint that returns a constant TwiML answer."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ANSWER = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'


async def constant(_request: Request) -> Response:
    return Response(ANSWER, media_type="text/xml")


app = Starlette(routes=[Route("/twilio/voice/fallback", constant, methods=["POST"])])

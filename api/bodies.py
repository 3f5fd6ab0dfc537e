"""What a request body may be: JSON (415 otherwise) and at most ``max_body_bytes`` (413).

A declared ``Content-Length`` over the limit is refused before the body is read, and a body
sent without one (chunked) as soon as its count passes the limit: a 10 MB upload costs the
server little more than its headers. The media type is checked before the body is validated,
so a form or a text gets a 415 naming what to send, not a 422 about its fields."""

from __future__ import annotations

from email.message import Message as MediaType

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON = "application/json"


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """Refuses a declared ``Content-Length`` over the limit at once, and counts the bytes of a
    body sent without one (chunked), refusing it as soon as it passes the limit."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, refuse: ASGIApp) -> None:
        self.app = app
        self.limit = max_body_bytes
        #: Answers a refused request (the problem+json 413), without the app.
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self.refuse(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise too_large(self.limit)
            return message

        await self.app(scope, counted, send)


def json_body_only(request: Request) -> None:
    """A dependency of every operation (the app's): one that takes a body answers a body of
    another media type (text, a form, none declared) with a 415 naming the one it takes."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return
    declared = request.headers.get("content-type")
    sent = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    if (declared is None and sent) or (declared is not None and not _is_json(declared)):
        raise HTTPException(415, f"send the body as {JSON}, not {declared or 'untyped'}")


def _is_json(content_type: str) -> bool:
    media_type = MediaType()
    media_type["content-type"] = content_type
    subtype = media_type.get_content_subtype()
    return media_type.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )

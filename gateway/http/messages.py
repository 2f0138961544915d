"""The business API: send a message, read its status, read your own disclosure."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
from typing import Annotated

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from gateway.bridge.history import find_message
from gateway.bridge.models import UserId
from gateway.bridge.outbound import Idempotency, SendRequest, request_hash
from gateway.errors import RequestError
from gateway.http.auth import caller
from gateway.http.keys import CONFIG, DISCLOSURES, OUTBOUND_SERVICE, STORE
from gateway.telemetry.tracing import current_traceparent

routes = web.RouteTableDef()

MAX_PAYLOAD_BYTES = 64 * 1024
_MEDIA_TYPE = r"^[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+$"
_IDEMPOTENCY = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,255}$")]


class SendMessageBody(BaseModel):
    """``POST /v1/messages``: an opaque payload (base64) for one recipient."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recipient: Annotated[UserId, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]+$")]
    payload: str = Field(description="base64 of the opaque payload, at most 64 KiB decoded")
    content_type: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+$", max_length=100)
    ] = "application/octet-stream"

    @field_validator("payload")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("must be standard base64") from exc
        if not decoded:
            raise ValueError("must not be empty")
        if len(decoded) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"decodes to {len(decoded)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
        return value


def _validation_error(exc: ValidationError) -> RequestError:
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return RequestError(422, "invalid_request", f"{where}: {first['msg'].removeprefix('Value error, ')}")


async def _json_body(request: web.Request) -> tuple[bytes, object]:
    if request.content_type != "application/json":
        raise RequestError(415, "unsupported_media_type", "send the body as application/json")
    try:
        if request.content.is_eof():
            # The whole body came with the headers (the usual small request): nothing to wait for,
            # so no timer to arm and cancel.
            raw = await request.read()
        else:
            # A timeout scope, not wait_for: wait_for wraps the read in a task of its own per request.
            async with asyncio.timeout(request.app[CONFIG].current.settings.http.body_timeout_seconds):
                raw = await request.read()
    except TimeoutError as exc:
        raise RequestError(408, "request_timeout", "the request body did not arrive in time") from exc
    except (HttpProcessingError, RequestPayloadError) as exc:
        # aiohttp inflates gzip/deflate bodies as it reads; a body that is not what its header says.
        raise RequestError(
            400, "bad_content_encoding", "the body does not match its Content-Encoding header"
        ) from exc
    try:
        # orjson: strict UTF-8 and a nesting limit (1,024), so a deep document is a 400, not a RecursionError.
        return raw, orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, "invalid_json", "the body is not valid JSON") from exc


@routes.post("/v1/messages")
async def send_message(request: web.Request) -> web.Response:
    """Accept a message for a user; 202 once it is durably queued."""
    business = caller(request)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _valid_key(key):
        raise RequestError(
            400, "invalid_idempotency_key", "Idempotency-Key must be 1-255 printable characters"
        )
    raw, document = await _json_body(request)
    try:
        body = SendMessageBody.model_validate(document)
    except ValidationError as exc:
        raise _validation_error(exc) from exc
    answer = await request.app[OUTBOUND_SERVICE].send(
        SendRequest(
            business_id=business.id,
            recipient=body.recipient,
            payload=base64.b64decode(body.payload),
            content_type=body.content_type,
            # The body's hash only where a key is bound to it.
            idempotency=None if key is None else Idempotency(key, request_hash(raw)),
            retention=business.facts.retention,
            traceparent=current_traceparent(),
        )
    )
    return web.Response(status=answer.status, body=answer.body, content_type="application/json")


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(0x21 <= ord(ch) <= 0x7E for ch in key)  # noqa: PLR2004 -- printable ASCII


@routes.get("/v1/messages/{message_id}")
async def get_message(request: web.Request) -> web.Response:
    """A message's status and history; another business's id is simply not found."""
    business = caller(request)
    message_id = request.match_info["message_id"]
    record = await find_message(request.app[STORE], business.id, message_id, business.facts.retention)
    if record is None:
        raise RequestError(404, "message_not_found", f"no message {message_id!r} for this business")
    return web.json_response(
        {
            "message_id": record.message_id,
            "direction": record.direction,
            "status": record.status,
            "revision": record.revision,
            "failure": record.failure,
            "created_at": _iso(record.created_at),
            "updated_at": _iso(record.updated_at),
            "history": [{"status": s, "reason": r, "at": _iso(at)} for s, r, at in record.history],
        }
    )


@routes.get("/v1/disclosure")
async def get_disclosure(request: web.Request) -> web.Response:
    """The caller's current signed disclosure: the document and its detached JWS."""
    business = caller(request)
    latest = await request.app[DISCLOSURES].latest(business.id)
    if latest is None:
        raise RequestError(503, "disclosure_pending", "the disclosure has not been made yet")
    return web.json_response(
        {"revision": latest.revision, "document": orjson.loads(latest.body), "jws": latest.jws}
    )


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat().replace("+00:00", "Z")

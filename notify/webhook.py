"""The service's HTTP side: LINE's webhook (linking phones) and Grafana's webhook contact point.

``POST /line/webhook`` answers 401 to a body without ``x-line-signature`` and 403 to a wrong
one, and logs both, before reading the body as JSON. ``POST /grafana/webhook`` takes Grafana's
documented webhook JSON; with ``ISANFARM_GRAFANA_WEBHOOK_TOKEN`` set it wants
``Authorization: Bearer <token>`` (the contact point's "Authorization header" credentials).
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker

from notify import intake, linking, subscriptions
from notify.dispatch import Outbox, route
from notify.settings import NotifySettings

log = logging.getLogger(__name__)


def create_app(
    settings: NotifySettings, sessions: sessionmaker[Session], outbox: Outbox
) -> FastAPI:
    app = FastAPI(title="isanfarm notify", docs_url=None, redoc_url=None, openapi_url=None)
    wrong_codes = linking.WrongCodes()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/line/webhook")
    async def line_webhook(request: Request) -> dict[str, int]:
        body = await request.body()
        secret = settings.line.channel_secret
        if secret is None:
            log.error("LINE webhook refused: ISANFARM_LINE_CHANNEL_SECRET is not set")
            raise HTTPException(503, "the channel secret is not configured")
        presented = request.headers.get(linking.SIGNATURE_HEADER)
        check = linking.check_signature(secret.get_secret_value(), body, presented)
        if check is not linking.Signature.VALID:
            client = request.client.host if request.client else "?"
            log.warning("LINE webhook from %s refused: signature %s", client, check.value)
            status = 401 if check is linking.Signature.MISSING else 403
            raise HTTPException(status, f"x-line-signature {check.value}")
        payload = _json(body)
        with sessions() as session, session.begin():
            linked = linking.handle_events(session, payload, outbox, wrong_codes)
        return {"linked": linked}

    @app.post("/grafana/webhook")
    async def grafana_webhook(request: Request) -> dict[str, int]:
        _check_token(settings, request)
        payload = _json(await request.body())
        with sessions() as session, session.begin():
            try:
                events = intake.grafana_events(
                    payload,
                    lambda farm: subscriptions.cooperative_of_farm(session, farm),
                    lambda: subscriptions.cooperative_ids(session),
                )
            except intake.GrafanaPayloadError as exc:
                raise HTTPException(422, str(exc)) from None
            sent = route(session, events, outbox)
        return {"alerts": len(events), "notifications": len(sent)}

    return app


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return payload


def _check_token(settings: NotifySettings, request: Request) -> None:
    token = settings.grafana_webhook_token
    if token is None:
        return
    presented = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        log.warning("Grafana webhook refused: wrong or missing Authorization header")
        raise HTTPException(401, "send the contact point's token: Authorization: Bearer ...")

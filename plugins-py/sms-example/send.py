"""Sending through the example vendor's messages API: `POST {api_base}/messages` with a bearer API
key and an `Idempotency-Key`; the vendor answers `2xx` with `{"id": "msg_1"}`, or an error status
with `{"error": {"code", "message"}}`.

Only `send` calls the host; building the request and reading the answer are plain functions.
"""

import json
from typing import List, Optional

from componentize_py_types import Err
from wit_world.imports import config, http
from wit_world.imports.types import (
    Header,
    HttpResponse,
    OutboundMessage,
    Outcome,
    SendFailure,
    SendFailureKind,
    SendReceipt,
)

from signature import header

# The secret holding the API key. The host attaches it; the plugin never sees it.
API_KEY_SECRET = "api_key"
# The vendor's error codes that mean the recipient cannot be reached on this channel.
RECIPIENT_ERROR_CODES = {"invalid_recipient", "unsubscribed"}


def send(message: OutboundMessage) -> SendReceipt:
    """Sends one message; raises `Err(SendFailure)` when it did not go through."""
    api_base = (config.get("api_base") or "").strip()
    if not api_base:
        raise Err(failure(SendFailureKind.MISCONFIGURED, "config key `api_base` is not set"))
    try:
        response = http.fetch(request(message, api_base))
    except Err as e:
        raise Err(failure_of_http_error(e.value)) from None
    return receipt_of(response)


def request(message: OutboundMessage, api_base: str) -> http.Request:
    """The HTTP request that sends `message`."""
    if not (message.text or "").strip():
        raise Err(failure(SendFailureKind.CONTENT_REJECTED, "the example vendor needs a text body"))
    body = {
        "to": message.to,
        "text": message.text,
        "subject": message.subject,
        # Our ids go where the vendor echoes them in its webhooks, so that events find their way
        # home: `contact_id` becomes the strongest identity hint of every event about the message.
        "reference": message.message_id,
        "contact_id": message.contact_id,
    }
    return http.Request(
        method="POST",
        url=api_base.rstrip("/") + "/messages",
        headers=[
            Header("content-type", "application/json"),
            # So that the vendor delivers this attempt once, however often the request reaches it.
            Header("idempotency-key", message.idempotency_key),
        ],
        body=json.dumps(body).encode(),
        auth=http.Auth_Bearer(API_KEY_SECRET),
        timeout_ms=None,
    )


def receipt_of(response: HttpResponse) -> SendReceipt:
    """What the vendor's answer means: a receipt, or `Err(SendFailure)` saying whether to retry."""
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    if not 200 <= response.status < 300:
        raise Err(failure_of_status(response.status, response.headers, body))
    vendor_id = body.get("id")
    if not isinstance(vendor_id, str):
        # Accepted, but not by the vendor we know (often `api_base` pointing elsewhere). Retrying
        # could send the message twice, so it is not retryable.
        raise Err(failure(
            SendFailureKind.OTHER,
            f"vendor answered {response.status} without a message id; is `api_base` right?",
        ))
    return SendReceipt(vendor_message_id=vendor_id, outcome=Outcome.QUEUED, vendor_status=None)


def failure_of_status(status: int, headers: List[Header], body: dict) -> SendFailure:
    """REST conventions (401/403 credentials; 429 and 5xx retryable, after `Retry-After`; other
    4xx the request's fault), sharpened by the vendor's own error code."""
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code, detail = error.get("code"), error.get("message") or "no detail"
    if status in (401, 403):
        kind, retryable = SendFailureKind.AUTH, False
    elif status == 429:
        kind, retryable = SendFailureKind.RATE_LIMITED, True
    elif 500 <= status <= 599:
        kind, retryable = SendFailureKind.VENDOR_UNAVAILABLE, True
    else:
        kind, retryable = SendFailureKind.CONTENT_REJECTED, False
    if code in RECIPIENT_ERROR_CODES:
        kind, retryable = SendFailureKind.INVALID_RECIPIENT, False
    return SendFailure(
        kind=kind,
        retryable=retryable,
        retry_after_ms=retry_after_ms(headers),
        message=f"vendor answered {status}: {detail}",
        vendor_code=code if isinstance(code, str) else str(status),
    )


def failure_of_http_error(error: http.HttpError) -> SendFailure:
    """Only a timeout or a failed connection leaves the outcome unknown (the vendor may have
    accepted the message), so only they are retryable."""
    if isinstance(error, http.HttpError_Timeout):
        return failure(SendFailureKind.NETWORK, "request timed out", retryable=True)
    if isinstance(error, http.HttpError_Connection):
        return failure(SendFailureKind.NETWORK, error.value, retryable=True)
    if isinstance(error, http.HttpError_ResponseTooLarge):
        return failure(SendFailureKind.OTHER, "vendor response too large")
    if isinstance(error, http.HttpError_SecretMissing):
        return failure(SendFailureKind.MISCONFIGURED, f"secret `{error.value}` is not set")
    return failure(SendFailureKind.MISCONFIGURED, error.value)  # denied, invalid request


def retry_after_ms(headers: List[Header]) -> Optional[int]:
    """`Retry-After` in milliseconds, when given in seconds (the form vendor APIs use)."""
    value = (header(headers, "retry-after") or "").strip()
    return int(value) * 1000 if value.isascii() and value.isdigit() else None


def failure(kind: SendFailureKind, message: str, retryable: bool = False) -> SendFailure:
    return SendFailure(kind=kind, retryable=retryable, retry_after_ms=None, message=message,
                       vendor_code=None)

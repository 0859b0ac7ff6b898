"""Native unit tests of the plugin's logic, with the host imports stubbed.

Run after `../build.sh` (which writes the bindings to `../target/bindings`):
    PYTHONPATH=../target/bindings python3 -m unittest -v
"""

import hashlib
import hmac
import json
import unittest
from unittest import mock

from componentize_py_types import Err
from wit_world.imports import http, secrets
from wit_world.imports.types import (
    Direction, HttpResponse, Header, Identity_ContactId, Identity_Email, Identity_Phone,
    OutboundMessage, Outcome, SendFailureKind, WebhookRejection_BadSignature,
    WebhookRejection_Malformed, WebhookRejection_Misconfigured, WebhookRequest,
)

import app
import events
import send

BATCH = b"""{"events": [
    {"id": "evt_1", "status": "delivered", "to": "+14155550100", "message_id": "msg_1",
     "occurred_at": 1700000000000, "contact_id": "42"},
    {"id": "evt_2", "status": "replied", "to": "ana@example.org", "occurred_at": 1700000001000}
]}"""
EMPTY = b'{"events":[]}'
# HMAC-SHA256 of EMPTY keyed with `example-test-secret` (the Rust template's test vector).
GOOD = "9143599b84c2a12759cbcd7c08c1afc8d8f398c34152ba18abe5130e19db1f47"


def webhook(body: bytes, signature=None, method="POST") -> WebhookRequest:
    headers = [] if signature is None else [Header("x-example-signature", signature)]
    return WebhookRequest(method, "/webhooks/sms-example-py", "", headers, body, 1700000002000)


class TestCase(unittest.TestCase):
    def rejection(self, call):
        """What `call` raised as `Err(...)`: how a WIT `result` error leaves Python."""
        with self.assertRaises(Err) as caught:
            call()
        return caught.exception.value


class Webhooks(TestCase):
    def setUp(self):
        # The host's `secrets.verify-hmac`, keyed with the test secret.
        def host(_algorithm, _name, _encoding, message, presented):
            expected = hmac.new(b"example-test-secret", message, hashlib.sha256).digest()
            return hmac.compare_digest(expected, presented)
        patcher = mock.patch.object(secrets, "verify_hmac", side_effect=host)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_a_signed_empty_batch_is_accepted(self):
        accepted = app.Plugin().handle_webhook(webhook(EMPTY, GOOD))
        self.assertEqual(accepted.interactions, [])
        self.assertEqual(accepted.reply.status, 200)

    def test_a_missing_or_wrong_signature_is_refused(self):
        for signature in [None, "0" + GOOD[1:], "", "not hex", GOOD[:63], "é"]:
            why = self.rejection(lambda: app.Plugin().handle_webhook(webhook(EMPTY, signature)))
            self.assertIsInstance(why, WebhookRejection_BadSignature, signature)

    def test_the_host_is_handed_the_raw_body_and_the_decoded_signature(self):
        app.Plugin().handle_webhook(webhook(EMPTY, GOOD.upper()))
        algorithm, name, encoding, message, presented = secrets.verify_hmac.call_args.args
        self.assertEqual((algorithm, name), (secrets.HmacAlgorithm.SHA256, "signing_secret"))
        self.assertIsInstance(encoding, secrets.KeyEncoding_Utf8)
        self.assertEqual((message, presented), (EMPTY, bytes.fromhex(GOOD)))

    def test_an_unset_secret_is_a_misconfiguration(self):
        secrets.verify_hmac.side_effect = Err(secrets.KeyError_Unset("signing_secret"))
        why = self.rejection(lambda: app.Plugin().handle_webhook(webhook(EMPTY, GOOD)))
        self.assertIsInstance(why, WebhookRejection_Misconfigured)
        self.assertIn("signing_secret", why.value)

    def test_a_put_with_no_signature_is_refused_as_a_bad_signature_not_malformed(self):
        why = self.rejection(lambda: app.Plugin().handle_webhook(webhook(b"junk", None, "PUT")))
        self.assertEqual(why, WebhookRejection_BadSignature("missing x-example-signature header"))
        secrets.verify_hmac.assert_not_called()

    def test_a_validly_signed_request_with_the_wrong_method_is_malformed(self):
        why = self.rejection(lambda: app.Plugin().handle_webhook(webhook(EMPTY, GOOD, "PUT")))
        self.assertEqual(why, WebhookRejection_Malformed("expected POST, got PUT"))

    def test_a_signed_bad_body_is_malformed(self):
        secrets.verify_hmac.side_effect = lambda *_: True  # whatever the body
        why = self.rejection(lambda: app.Plugin().handle_webhook(webhook(b"{", GOOD)))
        self.assertIsInstance(why, WebhookRejection_Malformed)

    def test_it_reports_interface_1_2_0(self):
        self.assertEqual(app.Plugin().describe().interface_version, "1.2.0")


class Events(TestCase):
    def test_each_event_becomes_one_interaction(self):
        delivered, replied = events.parse_batch(BATCH)
        self.assertEqual(delivered.kind, "sms_delivered")
        self.assertEqual((delivered.outcome, delivered.direction), (Outcome.DELIVERED, Direction.OUTBOUND))
        self.assertEqual((delivered.vendor_event_id, delivered.vendor_message_id), ("evt_1", "msg_1"))
        self.assertEqual(delivered.identities, [Identity_ContactId("42"), Identity_Phone("+14155550100")])
        self.assertEqual(json.loads(delivered.metadata)["id"], "evt_1")
        self.assertEqual((replied.kind, replied.direction), ("sms_replied", Direction.INBOUND))
        self.assertEqual(replied.identities, [Identity_Email("ana@example.org")])
        self.assertIsNone(replied.vendor_message_id)

    def test_maps_every_status(self):
        for status, kind, outcome in [
            ("queued", "queued", Outcome.QUEUED), ("sent", "dispatched", Outcome.SENT),
            ("delivered", "delivered", Outcome.DELIVERED), ("failed", "failed", Outcome.FAILED),
            ("bounced", "bounced", Outcome.BOUNCED), ("opened", "opened", Outcome.OPENED),
            ("clicked", "clicked", Outcome.CLICKED), ("replied", "replied", Outcome.REPLIED),
            ("paused", "status", Outcome.UNKNOWN),
        ]:
            self.assertEqual(events.kind_and_outcome(status), (f"sms_{kind}", outcome))
            self.assertEqual(app.Plugin().map_outcome(status), outcome)

    def test_a_malformed_batch_names_the_event_and_the_field(self):
        good = '{"id": "e", "status": "sent", "to": "+1", "occurred_at": 1700000000000}'
        for body, expected in [
            ("[]", "no `events` array"),
            ("{", "not JSON"),
            (f'{{"events": [{good}, 7]}}', "event 1: not a JSON object"),
            (f'{{"events": [{good}, {{"id": "e2", "status": "sent"}}]}}', "event 1: missing `to`"),
            ('{"events": [{"id": "e", "status": 5, "to": "+1"}]}', "event 0: `status` is not a string"),
            ('{"events": [{"id": "", "status": "sent", "to": "+1"}]}', "event 0: missing `id`"),
            ('{"events": [{"id": "e", "status": "sent", "to": "+1", "occurred_at": true}]}', "not an integer"),
            ('{"events": [{"id": "e", "status": "sent", "to": "+1", "occurred_at": 1700000000}]}', "not seconds"),
        ]:
            with self.assertRaises(events.Malformed) as caught:
                events.parse_batch(body.encode())
            self.assertIn(expected, str(caught.exception), body)


def message(text="Your appointment is tomorrow at 10") -> OutboundMessage:
    return OutboundMessage("m-1", "m-1-a1", "42", events.CHANNEL, "+14155550100",
                           None, text, None, None, "{}")


def response(status, body=b"", headers=()) -> HttpResponse:
    return HttpResponse(status, [Header(n, v) for n, v in headers], body)


class Sending(TestCase):
    def test_the_request_carries_our_ids_and_names_the_key(self):
        request = send.request(message(), "https://api.example.test/v1/")
        self.assertEqual((request.method, request.url), ("POST", "https://api.example.test/v1/messages"))
        self.assertEqual(request.auth, http.Auth_Bearer("api_key"))
        self.assertIn(Header("idempotency-key", "m-1-a1"), request.headers)
        self.assertEqual(json.loads(request.body), {
            "to": "+14155550100", "text": "Your appointment is tomorrow at 10",
            "subject": None, "reference": "m-1", "contact_id": "42"})

    def test_a_message_without_text_is_refused_before_sending(self):
        failure = self.rejection(lambda: send.request(message("  "), "https://api.example.test"))
        self.assertEqual((failure.kind, failure.retryable), (SendFailureKind.CONTENT_REJECTED, False))

    def test_an_accepted_message_gives_its_vendor_id(self):
        receipt = send.receipt_of(response(201, b'{"id": "msg_1"}'))
        self.assertEqual((receipt.vendor_message_id, receipt.outcome), ("msg_1", Outcome.QUEUED))
        no_id = self.rejection(lambda: send.receipt_of(response(200, b"<html>")))
        self.assertFalse(no_id.retryable)
        self.assertIn("api_base", no_id.message)

    def test_vendor_errors_say_whether_to_retry(self):
        limited = self.rejection(lambda: send.receipt_of(response(429, headers=[("Retry-After", "7")])))
        self.assertEqual((limited.kind, limited.retryable, limited.retry_after_ms),
                         (SendFailureKind.RATE_LIMITED, True, 7000))
        down = self.rejection(lambda: send.receipt_of(response(503)))
        self.assertEqual((down.kind, down.retryable), (SendFailureKind.VENDOR_UNAVAILABLE, True))
        body = b'{"error": {"code": "unsubscribed", "message": "opted out"}}'
        recipient = self.rejection(lambda: send.receipt_of(response(422, body)))
        self.assertEqual((recipient.kind, recipient.retryable, recipient.vendor_code),
                         (SendFailureKind.INVALID_RECIPIENT, False, "unsubscribed"))
        self.assertEqual(self.rejection(lambda: send.receipt_of(response(401))).kind, SendFailureKind.AUTH)

    def test_a_host_error_is_retryable_only_when_the_outcome_is_unknown(self):
        timeout = send.failure_of_http_error(http.HttpError_Timeout())
        self.assertEqual((timeout.kind, timeout.retryable), (SendFailureKind.NETWORK, True))
        denied = send.failure_of_http_error(http.HttpError_Denied("api.example.test is not allowed"))
        self.assertEqual((denied.kind, denied.retryable), (SendFailureKind.MISCONFIGURED, False))


if __name__ == "__main__":
    unittest.main()

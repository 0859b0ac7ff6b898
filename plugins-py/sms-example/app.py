"""A Switchboard channel plugin in Python: the example vendor's SMS webhooks and messages API.

It implements the same `switchboard:channel@1.2.0` world, and the same example vendor, as the Rust
template in `plugins/template/` (see its `src/lib.rs` for the vendor's format), to show that the
contract does not care which language a plugin is written in. Each concern is one module:
`signature.py` (is the webhook authentic?), `events.py` (webhook body -> interactions),
`send.py` (a message -> the vendor's API).

componentize-py looks for a class named after each exported interface (`plugin` -> `Plugin`)
in this module. A WIT `result` error is returned by raising `Err(...)`.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import (
    HttpResponse,
    OutboundMessage,
    Outcome,
    PluginInfo,
    SendReceipt,
    WebhookAccepted,
    WebhookRejection_Malformed,
    WebhookRequest,
)

import events
import send
import signature
from events import CHANNEL

# The contract version the bindings were generated from (`wit/`, package switchboard:channel).
INTERFACE_VERSION = "1.2.0"


class Plugin(exports.Plugin):
    def describe(self) -> PluginInfo:
        return PluginInfo(
            name="sms-example-py",
            version="0.1.0",
            # Switchboard de-duplicates events per vendor: keep this stable once installed.
            vendor="example-py",
            channels=[CHANNEL],
            interface_version=INTERFACE_VERSION,
            description="The example vendor's signed SMS status webhooks and messages API, in Python",
        )

    def handle_webhook(self, request: WebhookRequest) -> WebhookAccepted:
        # Verify first, before the method or the body (contract 1.2.0): anyone can send a
        # request, and only one the host saw verified may be called malformed and be stored.
        signature.verify(request)
        if request.method != "POST":
            raise Err(WebhookRejection_Malformed(f"expected POST, got {request.method}"))
        try:
            interactions = events.parse_batch(request.body)
        except events.Malformed as why:
            raise Err(WebhookRejection_Malformed(str(why)))
        # The vendor expects an empty 200.
        return WebhookAccepted(interactions, HttpResponse(status=200, headers=[], body=b""))

    def send(self, message: OutboundMessage) -> SendReceipt:
        return send.send(message)

    def map_outcome(self, vendor_status: str) -> Outcome:
        return events.outcome_of(vendor_status)

"""The example vendor's webhook body -> interactions, one per event:

    {"events": [{"id": "evt_1", "status": "delivered", "to": "+14155550100",
                 "message_id": "msg_1", "occurred_at": 1700000000000, "contact_id": "42"}]}

`id`, `status`, `to` (a phone number or an email address) and `occurred_at` (Unix milliseconds)
are required; `message_id` and `contact_id` are optional. A malformed batch is refused with a
message naming the event and the field (``event 2: missing `to` ``).
"""

import json
from typing import Any, List, Optional, Tuple

from wit_world.imports.types import (
    Channel,
    Direction,
    Identity,
    Identity_ContactId,
    Identity_Email,
    Identity_Phone,
    Interaction,
    Outcome,
)

# The channel this plugin serves, and its word: the prefix of every kind (`sms_delivered`).
CHANNEL = Channel.SMS
CHANNEL_WORD = "sms"

# 2000-01-01 in Unix milliseconds. An earlier `occurred_at` is almost surely seconds sent where
# milliseconds belong, which would otherwise land silently in January 1970.
EARLIEST_OCCURRED_AT_MS = 946_684_800_000
# The contract caps an interaction's metadata, where each event is kept, at 64 KiB.
MAX_EVENT_BYTES = 64 * 1024

# Status word -> (event word of the kind, outcome). Other words are logged as `sms_status` with
# outcome `unknown` rather than guessed at. `sms_sent` is the kind of Switchboard's own record of
# a send, so the vendor's `sent` (handed to the carrier) is `sms_dispatched`.
STATUSES = {
    "queued": ("queued", Outcome.QUEUED),
    "sent": ("dispatched", Outcome.SENT),
    "delivered": ("delivered", Outcome.DELIVERED),
    "failed": ("failed", Outcome.FAILED),
    "bounced": ("bounced", Outcome.BOUNCED),
    "opened": ("opened", Outcome.OPENED),
    "clicked": ("clicked", Outcome.CLICKED),
    "replied": ("replied", Outcome.REPLIED),
}
UNKNOWN_STATUS = ("status", Outcome.UNKNOWN)


class Malformed(ValueError):
    """The body breaks the vendor's format; the text says where."""


def parse_batch(body: bytes) -> List[Interaction]:
    """Parses a whole batch. One bad event fails the batch: Switchboard keeps the raw request, and
    the vendor can resend or the operator replay it once the cause is fixed."""
    try:
        batch = json.loads(body)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError alike
        raise Malformed(f"body is not JSON: {e}") from None
    events = batch.get("events") if isinstance(batch, dict) else None
    if not isinstance(events, list):
        raise Malformed("body has no `events` array")
    interactions = []
    for index, event in enumerate(events):
        try:
            interactions.append(parse_event(event))
        except Malformed as e:
            raise Malformed(f"event {index}: {e}") from None
    return interactions


def parse_event(event: Any) -> Interaction:
    if not isinstance(event, dict):
        raise Malformed("not a JSON object")
    metadata = json.dumps(event, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    if len(metadata.encode()) > MAX_EVENT_BYTES:
        raise Malformed(f"larger than {MAX_EVENT_BYTES} bytes")
    event_id = required(event, "id")
    status = required(event, "status")
    to = required(event, "to")
    occurred_at = event.get("occurred_at")
    if occurred_at is None:
        raise Malformed("missing `occurred_at`")
    # bool is an int in Python, and 1.7e12 is a float: neither is Unix milliseconds.
    if type(occurred_at) is not int:
        raise Malformed("`occurred_at` is not an integer (Unix milliseconds)")
    if occurred_at < EARLIEST_OCCURRED_AT_MS:
        raise Malformed(
            f"`occurred_at` {occurred_at} is before 2000: it must be Unix milliseconds, not seconds"
        )

    kind, outcome = kind_and_outcome(status)
    identities: List[Identity] = []
    # Strongest hint first: our own contact id, echoed back, wins over an address.
    contact_id = optional(event, "contact_id")
    if contact_id is not None:
        identities.append(Identity_ContactId(contact_id))
    # The host normalizes the address (lowercase email, E.164 phone) and drops it if it is not one.
    identities.append(Identity_Email(to) if "@" in to else Identity_Phone(to))
    return Interaction(
        kind=kind,
        channel=CHANNEL,
        # A reply is the person writing to us; everything else happened to a message we sent.
        direction=Direction.INBOUND if outcome is Outcome.REPLIED else Direction.OUTBOUND,
        outcome=outcome,
        vendor_status=status,
        occurred_at=occurred_at,
        # The id our `send` returned: it joins this event to the send and the message's others.
        vendor_message_id=optional(event, "message_id"),
        # The vendor's event id makes a retried webhook add nothing: Switchboard logs each once.
        vendor_event_id=event_id,
        identities=identities,
        summary=None,
        metadata=metadata,
    )


def outcome_of(status: str) -> Outcome:
    """The outcome of a status word; what `map-outcome` answers."""
    return kind_and_outcome(status)[1]


def kind_and_outcome(status: str) -> Tuple[str, Outcome]:
    event, outcome = STATUSES.get(status, UNKNOWN_STATUS)
    return f"{CHANNEL_WORD}_{event}", outcome


def required(event: dict, field: str) -> str:
    value = optional(event, field)
    if value is None:
        raise Malformed(f"missing `{field}`")
    return value


def optional(event: dict, field: str) -> Optional[str]:
    """A text field; absent, `null` and `""` all count as absent."""
    value = event.get(field)
    if value is not None and not isinstance(value, str):
        raise Malformed(f"`{field}` is not a string")
    return value or None

"""Writes the recorded webhooks for `switchboard plugin test`, signed as the example vendor signs:
`x-example-signature` = hex HMAC-SHA256 of the body, keyed with the test secret below.

    python3 sign.py   # writes accepted.json and bad-signature.json here
"""

import hashlib
import hmac
import json

SECRET = b"example-test-secret"  # give it to the host: EXAMPLE_SECRET=example-test-secret
BODY = json.dumps({"events": [
    {"id": "evt_1", "status": "delivered", "to": "+14155550100", "message_id": "msg_1",
     "occurred_at": 1700000000000, "contact_id": "42"},
    {"id": "evt_2", "status": "sent", "to": "+14155550100", "message_id": "msg_1",
     "occurred_at": 1700000001000},
    {"id": "evt_3", "status": "replied", "to": "ana@example.org", "occurred_at": 1700000002000},
    {"id": "evt_4", "status": "paused", "to": "+14155550101", "occurred_at": 1700000003000},
]})


def request(signature: str) -> dict:
    return {
        "method": "POST",
        "path": "/webhooks/sms-example-py",
        "query": "",
        "headers": [["content-type", "application/json"], ["x-example-signature", signature]],
        "body": BODY,
        "received_at": 1700000010000,
    }


good = hmac.new(SECRET, BODY.encode(), hashlib.sha256).hexdigest()
bad = hmac.new(b"not-the-secret", BODY.encode(), hashlib.sha256).hexdigest()
for name, signature in [("accepted.json", good), ("bad-signature.json", bad)]:
    with open(name, "w") as f:
        json.dump([request(signature)], f, indent=2)
        f.write("\n")

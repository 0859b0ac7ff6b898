"""The example vendor's webhook signature: `x-example-signature` is the lowercase hex HMAC-SHA256
of the raw body, keyed with the secret `signing_secret`.

The host computes the HMAC (`secrets.hmac`), so the secret never enters the plugin.
"""

import hmac
from typing import Callable, List, Optional

from componentize_py_types import Err
from wit_world.imports import secrets
from wit_world.imports.types import (
    Header,
    WebhookRejection_BadSignature,
    WebhookRejection_Misconfigured,
    WebhookRequest,
)

SIGNATURE_HEADER = "x-example-signature"
# The name of the secret that keys the HMAC, as the operator declares it in plugins.toml.
SECRET = "signing_secret"


def verify(request: WebhookRequest) -> None:
    """Returns if the request carries the signature of its body; raises `Err(rejection)` if not."""
    check(header(request.headers, SIGNATURE_HEADER), request.body, host_hmac)


def check(presented: Optional[str], body: bytes, mac: Callable[[bytes], bytes]) -> None:
    """The whole check, with the HMAC passed in so that it also runs natively in the tests."""
    if presented is None:
        raise Err(WebhookRejection_BadSignature(f"missing {SIGNATURE_HEADER} header"))
    expected = mac(body).hex()
    # Constant time, so that how long a wrong guess takes says nothing about the right one.
    if not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        raise Err(WebhookRejection_BadSignature(f"{SIGNATURE_HEADER} does not match the body"))


def host_hmac(message: bytes) -> bytes:
    """HMAC-SHA256 keyed with the signing secret, by the host. An unset secret is the operator's
    mistake, not a forgery: `misconfigured` keeps the request for replay."""
    try:
        return secrets.hmac(secrets.HmacAlgorithm.SHA256, SECRET, message)
    except Err as e:
        if isinstance(e.value, secrets.SecretError_Undeclared):
            why = f"secret `{e.value.value}` is not declared in plugins.toml"
        else:
            why = f"secret `{e.value.value}` is declared but its environment variable is not set"
        raise Err(WebhookRejection_Misconfigured(f"cannot check signatures: {why}"))


def header(headers: List[Header], name: str) -> Optional[str]:
    """The value of the first header called `name`, compared without regard to case."""
    return next((h.value for h in headers if h.name.lower() == name.lower()), None)

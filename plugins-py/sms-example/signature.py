"""The example vendor's webhook signature: `x-example-signature` is the lowercase hex HMAC-SHA256
of the raw body, keyed with the secret `signing_secret`.

The host computes the HMAC and compares it (`secrets.verify-hmac`, contract 1.2.0): the secret
never enters the plugin, and the host knows the request was verified, which is what allows it to
keep a request the plugin afterwards finds malformed. Check it first, before the method or the
body: anyone can send a request.
"""

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
    check(header(request.headers, SIGNATURE_HEADER), request.body, host_verify)


def check(presented: Optional[str], body: bytes, matches: Callable[[bytes, bytes], bool]) -> None:
    """The whole check, with the host's comparison (`matches(message, presented)`) passed in so
    that it also runs natively in the tests."""
    if presented is None:
        raise Err(WebhookRejection_BadSignature(f"missing {SIGNATURE_HEADER} header"))
    try:
        decoded = bytes.fromhex(presented.strip())
    except ValueError:
        raise Err(WebhookRejection_BadSignature(f"{SIGNATURE_HEADER} is not hex"))
    if not matches(body, decoded):
        raise Err(WebhookRejection_BadSignature(f"{SIGNATURE_HEADER} does not match the body"))


def host_verify(message: bytes, presented: bytes) -> bool:
    """Whether `presented` is the HMAC-SHA256 of `message` keyed with the signing secret, decided
    by the host in constant time. An unset secret is the operator's mistake, not a forgery:
    `misconfigured` keeps the request for replay."""
    try:
        return secrets.verify_hmac(
            secrets.HmacAlgorithm.SHA256, SECRET, secrets.KeyEncoding_Utf8(), message, presented
        )
    except Err as e:
        if isinstance(e.value, secrets.KeyError_Undeclared):
            why = f"secret `{e.value.value}` is not declared in plugins.toml"
        elif isinstance(e.value, secrets.KeyError_Unset):
            why = f"secret `{e.value.value}` is declared but its environment variable is not set"
        else:
            why = f"the secret is not usable as a key: {e.value.value}"
        raise Err(WebhookRejection_Misconfigured(f"cannot check signatures: {why}"))


def header(headers: List[Header], name: str) -> Optional[str]:
    """The value of the first header called `name`, compared without regard to case."""
    return next((h.value for h in headers if h.name.lower() == name.lower()), None)

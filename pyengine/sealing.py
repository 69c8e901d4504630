"""Personal fields stored encrypted per household (issue 20: erasure).

In a store with a key ring (`pyengine db init --erasable`), the personal fields of
`ApplicationSubmitted` and `ApplicationUpdated`, the free-text notes of the household's
other events, and the buyer's finances and notes in a rent-to-own case (`SEALED`), are stored
as one sealed value: AES-256-GCM under the household's own key, bound to the household id and
the payload type. What stays in clear is
what the log needs to fold without them: the household id and its home (`current_unit`, also
named by its lease events). Deleting the key (`ErasureRequested`) leaves the records, their
hashes and the chain as they were, and the fields unreadable for good.

Stored form of a sealed payload: `{"type": .., "id": .., ["current_unit": ..,] "sealed":
"aes256gcm:BASE64(nonce | ciphertext | tag)"}`, the ciphertext being the JSON of the other
fields. The nonce is the first 12 bytes of HMAC-SHA256(key, plaintext): the same payload seals
to the same bytes under the same key (the chain hashes a record once, but a record may be
encoded twice), and two different payloads never share a nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import msgspec
from Crypto.Cipher import AES

from adapters.keys import Erased, KeyRing

from . import commands as c

# What is sealed, per payload type: the field naming the household (whose key seals it), and
# the fields sealed (None: every field but CLEAR_FIELDS). Applications carry the household's
# data; the others its free-text notes, while their codes stay in clear for the reports. A
# rent-to-own case's events are its unit's: the engine names the buyer on those it seals
# (`household`), whose finances (the assessment, the start loan) and notes are the buyer's;
# the valuation, the price and the sale (proceeds accounting) stay the unit's, in clear, and
# so does the order of the case's steps.
SEALED: dict[str, tuple[str, frozenset[str] | None]] = {
    "ApplicationSubmitted": ("id", None),
    "ApplicationUpdated": ("id", None),
    "ApplicationWithdrawn": ("id", frozenset({"reason"})),
    "OfferDeclined": ("household", frozenset({"reason"})),
    "LeaseNotRenewed": ("household", frozenset({"reason"})),
    "LeaseTerminated": ("household", frozenset({"reason"})),
    "TenantMovedOut": ("household", frozenset({"reason"})),
    "AftercareRecorded": ("household", frozenset({"note"})),
    # what the suitability check found (from the household's size and transfer request)
    "PurchaseInterestRegistered": ("household", frozenset({"acknowledged", "suitability"})),
    "EconomicAssessmentRecorded": ("household", frozenset({"approved", "max_price_nok"})),
    "UnitKeptForRent": ("household", frozenset({"reason"})),
    "StartLoanApplied": ("household", frozenset({"amount_nok"})),
    "StartLoanDecided": ("household", frozenset({"granted", "amount_nok"})),
    "PurchaseDeclined": ("household", frozenset({"reason"})),
    "SaleCaseClosed": ("household", frozenset({"note"})),
}
SEALED_PAYLOADS: tuple[type[msgspec.Struct], ...] = tuple(getattr(c, name) for name in SEALED)
# The rent-to-own case's steps among them: the unit's events, on which the engine names the buyer.
CASE_STEPS = (
    c.EconomicAssessmentRecorded, c.UnitKeptForRent, c.StartLoanApplied, c.StartLoanDecided, c.PurchaseDeclined,
    c.SaleCaseClosed,
)  # fmt: skip
CLEAR_FIELDS = frozenset({"type", "schema", "id", "current_unit", "sealed"})
SCHEME = "aes256gcm:"
ERASED = "erased"  # the `sealed` value of an application read after its household was erased
# What an erased application reads as: the fields a payload needs, at their least telling value.
_ERASED_FILL: dict[str, dict[str, Any]] = {"ApplicationSubmitted": {"adults": 1}, "ApplicationUpdated": {}}
# The required fields of the other sealed payloads, once erased. A case's step reads as the one
# that ends the case there (not approved, not granted, nothing lent): the stage a case that
# ended at that step folds to, which its clear steps tell anyway (a case that went on has
# later steps, which set its stage); the amounts at their least telling value.
_REQUIRED_FILL: dict[str, dict[str, Any]] = {
    "EconomicAssessmentRecorded": {"approved": False},
    "StartLoanApplied": {"amount_nok": 0},
    "StartLoanDecided": {"granted": False},
}


def _aad(household: str, kind: str) -> bytes:
    return f"pyengine/{kind}/{household}".encode()


def household_of(data: dict[str, Any]) -> str:
    return str(data[SEALED[str(data["type"])][0]])


def _sealed_fields(data: dict[str, Any]) -> set[str]:
    fields = SEALED[str(data["type"])][1]
    if fields is None:
        return {k for k in data if k not in CLEAR_FIELDS}
    # an empty note has nothing to hide; a `false` or a 0 has (and would show where it is clear)
    return {k for k in fields if data.get(k, "") != ""}


def seal(data: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The payload's builtins with its personal fields replaced by one sealed value."""
    kind, hid = str(data["type"]), household_of(data)
    hidden = _sealed_fields(data)
    personal = {k: v for k, v in data.items() if k in hidden}
    plain = msgspec.json.encode(personal)
    nonce = hmac.new(key, plain, hashlib.sha256).digest()[:12]
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(_aad(hid, kind))
    body, tag = cipher.encrypt_and_digest(plain)
    out = {k: v for k, v in data.items() if k not in hidden}
    out["sealed"] = SCHEME + base64.b64encode(nonce + body + tag).decode()
    return out


def unseal(data: dict[str, Any], key: bytes) -> dict[str, Any]:
    kind, hid, sealed = str(data["type"]), household_of(data), str(data["sealed"])
    if not sealed.startswith(SCHEME):
        raise ValueError(f"sealed: unknown scheme in {sealed[:20]!r}")
    raw = base64.b64decode(sealed[len(SCHEME) :])
    nonce, body, tag = raw[:12], raw[12:-16], raw[-16:]
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(_aad(hid, kind))
    personal = msgspec.json.decode(cipher.decrypt_and_verify(body, tag))
    out = {k: v for k, v in data.items() if k != "sealed"}
    out.update(personal)
    return out


class Sealer:
    """Seals and opens the personal fields of a store's records with its key ring (set once
    the store is open; without one, or in a store without keys, payloads stay in clear)."""

    def __init__(self) -> None:
        self.ring: KeyRing | None = None

    @property
    def active(self) -> bool:
        return self.ring is not None and self.ring.enabled

    def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        if not self.active or "sealed" in data or not _sealed_fields(data):
            return data
        assert self.ring is not None
        return seal(data, self.ring.key(household_of(data), create=True))

    def decode(self, data: dict[str, Any]) -> dict[str, Any]:
        if "sealed" not in data or data["sealed"] == ERASED:
            return data
        try:
            if self.ring is None:
                raise KeyError(household_of(data))
            return unseal(data, self.ring.key(household_of(data)))
        except (Erased, KeyError):
            # erased (or read without the store's keys): the household keeps its place in the
            # log, with none of its personal data; only an application says so (`sealed`)
            kind = str(data["type"])
            if kind not in _ERASED_FILL:
                return {**{k: v for k, v in data.items() if k != "sealed"}, **_REQUIRED_FILL.get(kind, {})}
            out = {k: v for k, v in data.items() if k in CLEAR_FIELDS}
            out.update(_ERASED_FILL[kind])
            out["sealed"] = ERASED
            return out


def stored_sealed(state: bytes) -> bool:
    """Whether a stored record (its state, as `Sealer.encode` left it) holds a sealed payload."""
    try:
        data = msgspec.json.decode(state)["payload"]["_data_"]
    except (msgspec.DecodeError, KeyError, TypeError):
        return False
    return isinstance(data, dict) and str(data.get("sealed", "")).startswith(SCHEME)


def is_erased(payload: Any) -> bool:
    return getattr(payload, "sealed", msgspec.UNSET) is not msgspec.UNSET

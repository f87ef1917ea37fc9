"""The issuer's application faults (docs/faults.md)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, model_validator

from poslab.app_faults.base import AppFault, Millis, ServiceFamily, Share
from poslab.app_faults.registry import register

__all__ = ["IssuerDecline", "IssuerSlow", "IssuerUnavailable"]


def _response_code(rc: str) -> str:
    if not (len(rc) == 2 and rc.isascii() and rc.isalnum()):
        raise ValueError(f"must be a 2-character response code such as 05 or 51, got {rc!r}")
    return rc.upper()  # "n1" and "N1" are the same code


#: Two characters of ISO 8583 field 39.
ResponseCode = Annotated[str, AfterValidator(_response_code)]


class _IssuerFault(AppFault):
    family: ClassVar[ServiceFamily] = ServiceFamily.ISSUER


@register
class IssuerSlow(_IssuerFault):
    name = "slow"
    summary = "every authorisation delayed by delay_ms ± jitter_ms"

    delay_ms: Millis
    jitter_ms: Millis = 0


@register
class IssuerUnavailable(_IssuerFault):
    name = "unavailable"
    summary = "connections accepted and closed at once"


@register
class IssuerDecline(_IssuerFault):
    name = "decline"
    summary = "that share declined with rc"

    share: Share = 1.0
    rc: ResponseCode = "05"

    @model_validator(mode="after")
    def _a_decline(self) -> IssuerDecline:
        if self.rc == "00":
            raise ValueError("rc 00 is an approval, not a decline")
        return self

"""The processing record per data subject (UU 27/2022): report, restrict, lift, audit.

See docs/personal-data.md. Everything here is keyed by the token of a NIK, never the NIK.
"""

from bus.pdp.guard import SubjectGuard
from bus.pdp.store import Restriction, active_restrictions, ensure_schema, lift, restrict

#: Whose API key may read processing reports over HTTP: Diskominfotik's PDP officer, not a system.
PDP_OFFICER = "pdp-officer"

__all__ = [
    "PDP_OFFICER",
    "Restriction",
    "SubjectGuard",
    "active_restrictions",
    "ensure_schema",
    "lift",
    "restrict",
]

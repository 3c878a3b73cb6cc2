"""Per-agreement pseudonyms: a NIK granted as a token instead of in clear.

    pseudonym("diskominfotik.satudata -> id.go.riau.disdukcapil.penduduk.pindah", nik)
    # "psn_4f0c…" (32 hex digits)

The token is an HMAC of the value under a key derived from the pseudonym key
(`BUS_PDP_PSEUDONYM_KEY`) and the agreement: the same person gets the same token in every event
under one agreement, so the receiving agency can join its own records, count distinct people
or follow one over time without ever holding the NIK; under another agreement the same person
has an unrelated token, so two agencies cannot join their data through it. Without the key
the token cannot be reversed by trying every possible NIK.
"""

from __future__ import annotations

import hashlib
import hmac

from bus.privacy.keys import current_keys

__all__ = ["PREFIX", "pseudonym"]

#: Every pseudonym starts with this, so a reader never mistakes it for the value itself.
PREFIX = "psn_"


def pseudonym(agreement: str, value: object) -> str:
    """The token of `value` under `agreement` (`<system> -> <event type>`)."""
    key = current_keys().derived(f"pseudonym:{agreement}")
    return PREFIX + hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:32]

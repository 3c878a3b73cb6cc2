"""Personal data (UU 27/2022): redaction, keyed masks, pseudonyms, what personal data looks like.

See docs/personal-data.md for what is protected, how, and what is not.
"""

from bus.privacy.keys import Keys, current_keys, use_keys
from bus.privacy.redaction import (
    PERSONAL_KEYS,
    is_personal_key,
    mask,
    personal_values,
    redact,
    redact_text,
    register_personal_keys,
)
from bus.privacy.shapes import looks_personal_name, sixteen_digit_pattern

__all__ = [
    "PERSONAL_KEYS",
    "Keys",
    "current_keys",
    "is_personal_key",
    "looks_personal_name",
    "mask",
    "personal_values",
    "redact",
    "redact_text",
    "register_personal_keys",
    "sixteen_digit_pattern",
    "use_keys",
]

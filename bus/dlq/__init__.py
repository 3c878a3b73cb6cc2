"""Dead-letter operations: read a group's dead letters, show one masked, replay them once.

`bus dlq list|show|replay` (bus/cli/dlq.py) are thin shells over these functions.
"""

from bus.dlq.reader import (
    DeadLetter,
    IncompleteReadError,
    dlq_topics,
    is_dead_letter_topic,
    read_dead_letters,
)
from bus.dlq.replay import ReplayReport, replay

__all__ = [
    "DeadLetter",
    "IncompleteReadError",
    "ReplayReport",
    "dlq_topics",
    "is_dead_letter_topic",
    "read_dead_letters",
    "replay",
]

"""Grant topics: partial agreements served from topics that carry only the granted fields.

grants = projected_grants(catalog)        # which agreements need a grant topic
# `bus project` (bus.projection.projector.Projector) writes them from the source topics.
"""

from bus.projection.grants import (
    GRANT_TOPIC_PREFIX,
    Grant,
    grant_of,
    grant_topic,
    projected_grants,
    reads_grant_topics,
)

__all__ = [
    "GRANT_TOPIC_PREFIX",
    "Grant",
    "grant_of",
    "grant_topic",
    "projected_grants",
    "reads_grant_topics",
]

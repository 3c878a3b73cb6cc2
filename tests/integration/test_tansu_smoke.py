"""Tansu stays the no-Java fallback: what the bus does on it, and what it says when it cannot.

`bus dev --broker tansu` itself is driven in `test_make_dev.py`; this module keeps the rest of
the fallback honest on the broker that needs it.
"""

from __future__ import annotations

import pytest

from bus.broker.embedded import EmbeddedBroker
from bus.broker.local import client_settings
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.errors import BrokerUnavailableError
from bus.publish import Publisher
from schemas import IzinTerbit

pytestmark = pytest.mark.integration


async def test_a_refused_idempotence_handshake_is_named_not_called_unreachable(
    catalog: Catalog,
) -> None:
    with EmbeddedBroker() as tansu:
        settings = BusSettings(
            _env_file=None, bootstrap_servers=tansu.bootstrap_servers, producer_idempotence=True
        )
        with pytest.raises(BrokerUnavailableError) as refused:
            async with Publisher("dpmptsp.sicantik", catalog=catalog, settings=settings):
                pass
        message = str(refused.value)
        assert "answers, but the idempotent producer's handshake (InitProducerId)" in message
        assert "BUS_PRODUCER_IDEMPOTENCE=false" in message
        assert "cannot reach" not in message

        # With what bus.broker.local says Tansu needs, the same publish works.
        fitted = settings.model_copy(update=client_settings("tansu"))
        async with Publisher("dpmptsp.sicantik", catalog=catalog, settings=fitted) as publisher:
            delivery = await publisher.publish(IzinTerbit.model_validate(IzinTerbit.example))
        assert delivery.topic == "dpmptsp.izin.terbit.v1"

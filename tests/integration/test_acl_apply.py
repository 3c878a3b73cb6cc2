"""`bus acl apply` on a cluster without an authorizer says so, as an error and not a traceback.

Neither test broker runs an authorizer: Kafka answers CreateAcls with SECURITY_DISABLED, and
the embedded Tansu broker answers with no result at all; both must read as "no authorizer".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bus.acl import acl_bindings, apply_acls
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.errors import NoAuthorizerError

pytestmark = pytest.mark.integration


async def test_apply_without_an_authorizer_is_a_clear_error(
    bus_settings: BusSettings, catalog: Catalog
) -> None:
    bindings = acl_bindings(catalog)

    with pytest.raises(NoAuthorizerError) as refused:
        await apply_acls(bindings, bus_settings)

    message = str(refused.value)
    assert f"the cluster at {bus_settings.bootstrap_servers} has no" in message
    assert "authorizer" in message
    assert "SECURITY_DISABLED" in message
    assert "authorizer.class.name" in message  # tells the operator how to fix it


def test_cli_apply_exits_1_with_one_readable_line(bus_settings: BusSettings) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "bus"), "acl", "apply"],
        env={**os.environ, "BUS_BOOTSTRAP_SERVERS": bus_settings.bootstrap_servers},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: cannot apply ACLs: the cluster at ")

"""The catalog of Riau's OPD Bus: systems, event types (one module per owning OPD), agreements.

A change here is a reviewed pull request approved by the GCIO (Diskominfotik); CI checks it.
"""

from bus.catalog import Catalog
from schemas.bapenda import PkbDibayar
from schemas.bkd import AsnMutasi
from schemas.bpbd import HotspotTerdeteksi
from schemas.bpkad import Sp2dTerbit
from schemas.disdukcapil import PendudukPindah
from schemas.dpmptsp import IzinTerbit, NibTerbit
from schemas.subscriptions import DELIVERIES, SUBSCRIPTIONS
from schemas.systems import SYSTEMS

catalog = Catalog(
    systems=SYSTEMS,
    event_types=[
        IzinTerbit,
        NibTerbit,
        PendudukPindah,
        AsnMutasi,
        PkbDibayar,
        HotspotTerdeteksi,
        Sp2dTerbit,
    ],
    subscriptions=SUBSCRIPTIONS,
    deliveries=DELIVERIES,
)

__all__ = [
    "AsnMutasi",
    "HotspotTerdeteksi",
    "IzinTerbit",
    "NibTerbit",
    "PendudukPindah",
    "PkbDibayar",
    "Sp2dTerbit",
    "catalog",
]

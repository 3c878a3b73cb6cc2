"""Event types owned by BPBD (regional disaster management agency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from bus.catalog import EventData
from schemas.types import Bujur, KodeWilayah, Lintang


class HotspotTerdeteksi(
    EventData,
    type="id.go.riau.bpbd.hotspot.terdeteksi",
    version=1,
    owner="bpbd.sipongi",
    key="hotspot_id",
    topic={"partitions": 3, "retention_ms": 30 * 24 * 3600 * 1000},
):
    """Hotspot terdeteksi: a satellite detected a possible forest or land fire (karhutla)."""

    hotspot_id: str = Field(min_length=8, max_length=64)
    satelit: Literal["MODIS", "VIIRS_SNPP", "VIIRS_NOAA20", "HIMAWARI"]
    latitude: Lintang = Field(ge=-1.2, le=2.6, description="Inside Riau's bounding box.")
    longitude: Bujur = Field(ge=100.0, le=104.0, description="Inside Riau's bounding box.")
    confidence: int = Field(ge=0, le=100, description="Detection confidence in percent.")
    frp_mw: float | None = Field(default=None, ge=0, description="Fire radiative power, MW.")
    kode_wilayah: KodeWilayah
    lahan_gambut: bool = Field(description="True when the point lies on peatland.")
    detected_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "hotspot_id": "VIIRS-20261102-0142-0931",
        "satelit": "VIIRS_SNPP",
        "latitude": 1.421,
        "longitude": 101.447,
        "confidence": 82,
        "frp_mw": 12.7,
        "kode_wilayah": "14.03",
        "lahan_gambut": True,
        "detected_at": "2026-11-02T01:42:00+07:00",
    }

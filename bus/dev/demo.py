"""The live demo of `bus dev`: DPMPTSP issues licenses, other OPDs' systems receive them.

The simulated events are realistic in shape (13-digit NIB, KBLI, Riau's kode wilayah) but
invented: no real person or business is named.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from rich.console import Console

from bus.catalog import Catalog, EventData
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.publish import Publisher
from bus.subscribe import Subscriber

WIB = timezone(timedelta(hours=7), "WIB")

_USAHA = [
    "CV Sagu Meranti",
    "PT Sawit Lestari",
    "UD Kopi Liberika",
    "CV Batik Tabir",
    "PT Nanas Siak",
]
_NAMA = ["Siti Aminah", "Rahmat Hidayat", "Dewi Lestari", "Fauzan Akbar", "Nurhayati"]
_KBLI = ["47111", "10792", "01262", "56101", "13121"]
_JENIS = ["izin_usaha", "pbg", "sertifikat_standar", "izin_lingkungan"]
_WILAYAH = ["14.01", "14.02", "14.03", "14.04", "14.05", "14.06", "14.07", "14.08", "14.09",
            "14.10", "14.71", "14.73"]  # fmt: skip

#: Systems that receive the demo's `izin terbit` events, and how they describe what they do.
DEMO_SUBSCRIBERS = {
    "bapenda.sipd": "registers a potential taxpayer",
    "dlhk.simlhk": "schedules an environmental inspection",
    "diskominfotik.satudata": "updates the open-data licence statistics",
}


def random_izin(catalog: Catalog, sequence: int) -> EventData:
    """One invented but well-formed `izin terbit` event."""
    model = catalog.event_type("id.go.riau.dpmptsp.izin.terbit").data
    now = datetime.now(WIB)
    return model.model_validate(
        {
            "nomor_izin": f"503/DPMPTSP/IU/{now.year}/{sequence:05d}",
            "nib": f"912{random.randrange(10**10):010d}",
            "jenis_izin": random.choice(_JENIS),
            "kbli": random.choice(_KBLI),
            "nama_usaha": f"{random.choice(_USAHA)} {sequence}",
            "nama_pemohon": random.choice(_NAMA),
            "kode_wilayah": random.choice(_WILAYAH),
            "nilai_investasi": random.randrange(50, 5000) * 1_000_000,
            "tanggal_terbit": now.date().isoformat(),
            "issued_at": now.isoformat(),
        }
    )


async def publish_licences(
    publisher: Publisher, rate: float, stop: asyncio.Event, console: Console
) -> None:
    """Publish `rate` licences a second until `stop` is set."""
    sequence = 1
    while not stop.is_set():
        izin = random_izin(publisher.catalog, sequence)
        nomor = izin.model_dump()["nomor_izin"]
        delivery = await publisher.publish(izin)
        console.print(
            f"[dim]{_now()}[/] [bold cyan]{publisher.system.id:<24}[/] → published izin terbit "
            f"{nomor}  [dim]{delivery.topic}[{delivery.partition}]@{delivery.offset}[/]"
        )
        sequence += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0 / rate)


def demo_subscriber(
    system: str, action: str, catalog: Catalog, settings: BusSettings, console: Console
) -> Subscriber:
    """A subscriber of `system` that prints one line per licence it receives."""
    subscriber = Subscriber(system, group=f"{system}.demo", catalog=catalog, settings=settings)
    izin_type = catalog.event_type("id.go.riau.dpmptsp.izin.terbit").data
    wilayah = _wilayah_names()

    async def on_izin(izin: EventData, envelope: Envelope) -> None:
        data = izin.model_dump(mode="json")
        console.print(
            # Only granted fields are present: Satu Data is not granted the licence number.
            f"[dim]{_now()}[/] [bold green]{system:<24}[/] ← izin terbit "
            f"{data.get('nomor_izin', '(number not granted)')}  "
            f"{data['jenis_izin']}  {wilayah(data['kode_wilayah'])}: {action}  "
            f"[dim]id={envelope.id[:8]}[/]"
        )

    on_izin.__annotations__ = {"izin": izin_type, "envelope": Envelope, "return": None}
    subscriber.handler(izin_type)(on_izin)
    return subscriber


def _wilayah_names() -> Callable[[str], str]:
    try:
        from schemas.types import NAMA_WILAYAH, KodeWilayah

        return lambda code: NAMA_WILAYAH.get(KodeWilayah(code), code)
    except (ImportError, ValueError):
        return lambda code: code


def _now() -> str:
    return datetime.now(UTC).astimezone(WIB).strftime("%H:%M:%S")

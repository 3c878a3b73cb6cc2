"""The live demo of `bus dev`: DPMPTSP issues licenses, other OPDs' systems receive them.

The simulated events are realistic in shape (13-digit NIB, KBLI, Riau's kode wilayah) but
invented: no real person or business is named.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from rich.markup import escape

from bus.catalog import Catalog, EventData, EventType
from bus.config import BusSettings
from bus.dev.console import DevConsole
from bus.envelope import Envelope
from bus.publish import Delivery, Publisher
from bus.subscribe import Subscriber

#: The demo's licences are issued in Riau: their timestamps are WIB (UTC+7).
WIB = timezone(timedelta(hours=7), "WIB")
IZIN = "id.go.riau.dpmptsp.izin.terbit"

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
    model = catalog.event_type(IZIN).data
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


def label(event_type: EventType) -> str:
    """How the demo names an event type: `izin terbit` for `id.go.riau.dpmptsp.izin.terbit`."""
    return " ".join(event_type.type.split(".")[4:]) or event_type.type


def say_published(
    console: DevConsole,
    event_type: EventType,
    key: bytes,
    delivery: Delivery,
    *,
    via: str = "sdk",
) -> None:
    """The "→ published" line of one event, from the SDK demo or through the ingress."""
    # The key is the declared key field; when that field is personal data it is not shown.
    shown = "" if event_type.key in event_type.personal_fields else key.decode(errors="replace")
    where = f"{delivery.topic}[{delivery.partition}]@{delivery.offset}"
    console.say(
        "demo.published",
        f"[bold cyan]{event_type.owner:<24}[/] → published {label(event_type)} "
        f"{escape(shown)}{' via the ingress' if via == 'ingress' else ''}  [dim]{escape(where)}[/]",
        system=event_type.owner,
        event_type=event_type.type,
        key=shown or None,
        via=via,
        event_id=delivery.event_id,
        topic=delivery.topic,
        partition=delivery.partition,
        offset=delivery.offset,
    )


async def publish_licences(
    publisher: Publisher, rate: float, stop: asyncio.Event, console: DevConsole
) -> None:
    """Publish `rate` licences a second until `stop` is set."""
    izin_type = publisher.catalog.event_type(IZIN)
    sequence = 1
    while not stop.is_set():
        izin = random_izin(publisher.catalog, sequence)
        delivery = await publisher.publish(izin)
        say_published(console, izin_type, izin_type.key_of(izin), delivery)
        sequence += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0 / rate)


def demo_subscriber(
    system: str, action: str, catalog: Catalog, settings: BusSettings, console: DevConsole
) -> Subscriber:
    """A subscriber of `system` that prints one line per licence it receives."""
    subscriber = Subscriber(system, group=f"{system}.demo", catalog=catalog, settings=settings)
    izin_type = catalog.event_type(IZIN)
    withheld = sorted(set(izin_type.data.model_fields) - catalog.granted_fields(system, IZIN))
    agreement = catalog.agreement(system, IZIN)
    wilayah = _wilayah_names()
    console.say(
        "demo.agreement",
        f"[bold green]{system:<24}[/] receives izin terbit for: "
        f"{escape(agreement.purpose if agreement else '(no agreement)')}",
        details=[f"withheld from it by the agreement: {_withheld(izin_type, withheld)}"]
        if withheld
        else [],
        system=system,
        event_type=IZIN,
        purpose=agreement.purpose if agreement else None,
        withheld=withheld,
    )

    async def on_izin(izin: EventData, envelope: Envelope) -> None:
        # Only granted fields are present: the others were never sent to this system.
        data = izin.model_dump(mode="json")
        nomor = data.get("nomor_izin")
        shown = escape(nomor) if nomor else "[yellow](nomor_izin withheld: not in its agreement)[/]"
        console.say(
            "demo.received",
            f"[bold green]{system:<24}[/] ← izin terbit {shown}  "
            f"{data['jenis_izin']}  {wilayah(data['kode_wilayah'])}: {action}  "
            f"[dim]id={envelope.id[:8]}[/]",
            system=system,
            event_type=IZIN,
            event_id=envelope.id,
            nomor_izin=nomor,
            withheld=withheld,
            jenis_izin=data["jenis_izin"],
            kode_wilayah=data["kode_wilayah"],
            action=action,
        )

    on_izin.__annotations__ = {"izin": izin_type.data, "envelope": Envelope, "return": None}
    subscriber.handler(izin_type.data)(on_izin)
    return subscriber


def _withheld(event_type: EventType, fields: list[str]) -> str:
    personal = event_type.personal_fields
    return ", ".join(f"{f} (personal data)" if f in personal else f for f in fields)


def _wilayah_names() -> Callable[[str], str]:
    try:
        from schemas.types import NAMA_WILAYAH, KodeWilayah

        return lambda code: NAMA_WILAYAH.get(KodeWilayah(code), code)
    except (ImportError, ValueError):
        return lambda code: code

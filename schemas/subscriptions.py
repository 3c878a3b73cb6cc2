"""Data-sharing agreements (who consumes which event type, why, on what legal basis) and the
HTTP deliveries of systems that cannot run a Kafka consumer (signed webhooks or pull)."""

from __future__ import annotations

from bus.catalog import Delivery, Subscription

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(
        system="bapenda.sipd",
        event_type="id.go.riau.dpmptsp.izin.terbit",
        purpose="Register new businesses as potential regional taxpayers.",
        legal_basis="UU 1/2022 (HKPD); Perda Provinsi Riau tentang Pajak Daerah",
    ),
    Subscription(
        system="dlhk.simlhk",
        event_type="id.go.riau.dpmptsp.izin.terbit",
        purpose="Schedule environmental supervision of newly licensed businesses.",
        legal_basis="PP 22/2021 (Perlindungan dan Pengelolaan Lingkungan Hidup)",
    ),
    Subscription(
        system="diskominfotik.satudata",
        event_type="id.go.riau.dpmptsp.izin.terbit",
        purpose="Publish aggregate licensing statistics on Satu Data Riau.",
        legal_basis="Perpres 39/2019 (Satu Data Indonesia)",
        fields=("jenis_izin", "kbli", "kode_wilayah", "tanggal_terbit", "nilai_investasi"),
    ),
    Subscription(
        system="bapenda.sipd",
        event_type="id.go.riau.dpmptsp.nib.terbit",
        purpose="Pre-register businesses for regional tax obligations.",
        legal_basis="UU 1/2022 (HKPD)",
    ),
    Subscription(
        system="dinkes.sikda",
        event_type="id.go.riau.disdukcapil.penduduk.pindah",
        purpose="Move residents' primary-care registration to the destination puskesmas.",
        legal_basis="UU 24/2013 (Administrasi Kependudukan) Pasal 79; PKS Disdukcapil-Dinkes",
        fields=("nik", "kode_wilayah_asal", "kode_wilayah_tujuan", "tanggal_pindah"),
    ),
    Subscription(
        system="bapenda.samsat",
        event_type="id.go.riau.disdukcapil.penduduk.pindah",
        purpose="Update vehicle owners' registered regency for PKB revenue sharing.",
        legal_basis="UU 24/2013 Pasal 79; UU 1/2022 (HKPD)",
        fields=("nik", "kode_wilayah_tujuan", "tanggal_pindah"),
    ),
    Subscription(
        system="diskominfotik.satudata",
        event_type="id.go.riau.disdukcapil.penduduk.pindah",
        purpose="Publish monthly migration statistics per regency on Satu Data Riau.",
        legal_basis="Perpres 39/2019 (Satu Data Indonesia); UU 27/2022 Pasal 16 (minimisation)",
        # Counting people who moved (and not a person twice) needs no clear NIK: a token
        # that is the same for one person under this agreement only.
        fields=(
            "nik",
            "kode_wilayah_asal",
            "kode_wilayah_tujuan",
            "jumlah_anggota_keluarga",
            "tanggal_pindah",
        ),
        pseudonymous=("nik",),
    ),
    Subscription(
        system="bpkad.sipkd",
        event_type="id.go.riau.bkd.asn.mutasi",
        purpose="Move the civil servant's payroll to the destination OPD's budget.",
        legal_basis="PP 11/2017 (Manajemen PNS); Permendagri 77/2020",
        fields=("nip", "unit_asal", "unit_tujuan", "golongan", "tmt", "nomor_sk"),
    ),
    Subscription(
        system="bpkad.sipkd",
        event_type="id.go.riau.bapenda.pkb.dibayar",
        purpose="Recognise PKB revenue in the regional treasury and compute regency shares.",
        legal_basis="UU 1/2022 (HKPD); Permendagri 77/2020",
    ),
    Subscription(
        system="diskominfotik.satudata",
        event_type="id.go.riau.bapenda.pkb.dibayar",
        purpose="Publish daily PKB revenue per regency on Satu Data Riau.",
        legal_basis="Perpres 39/2019 (Satu Data Indonesia)",
        fields=("jenis_kendaraan", "total", "kode_wilayah", "kanal", "paid_at"),
    ),
    Subscription(
        system="dlhk.simlhk",
        event_type="id.go.riau.bpbd.hotspot.terdeteksi",
        purpose="Dispatch forest-fire patrols (Manggala Agni liaison) to detected hotspots.",
        legal_basis="Perda Riau 1/2019 (Pengendalian Karhutla)",
    ),
    Subscription(
        system="dinkes.sikda",
        event_type="id.go.riau.bpbd.hotspot.terdeteksi",
        purpose="Warn puskesmas near hotspots of haze (ISPA) risk.",
        legal_basis="Perda Riau 1/2019 (Pengendalian Karhutla)",
    ),
    Subscription(
        system="diskominfotik.satudata",
        event_type="id.go.riau.bpkad.sp2d.terbit",
        purpose="Budget transparency: publish disbursements on Satu Data Riau.",
        legal_basis="UU 14/2008 (Keterbukaan Informasi Publik)",
    ),
]

DELIVERIES: list[Delivery] = [
    # SIPD is a PHP application: new licences arrive as signed webhooks.
    Delivery(
        system="bapenda.sipd",
        event_type="id.go.riau.dpmptsp.izin.terbit",
        group="bapenda.sipd.izin-webhook",
        mode="push",
        endpoint="https://sipd.bapenda.riau.go.id/bus/webhook",
        secret="env:BUS_WEBHOOK_SECRET_BAPENDA_SIPD",
        rate_limit_per_s=200,
    ),
    # SIKDA sits behind the health office's NAT: it fetches hotspots itself.
    Delivery(
        system="dinkes.sikda",
        event_type="id.go.riau.bpbd.hotspot.terdeteksi",
        group="dinkes.sikda.hotspot-pull",
        mode="pull",
    ),
]

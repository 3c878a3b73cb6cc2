"""The OPD systems known to the bus. A new system is added here and approved by the GCIO."""

from __future__ import annotations

from bus.catalog import System

SYSTEMS: list[System] = [
    System(
        id="dpmptsp.sicantik",
        opd="DPMPTSP",
        name="SiCantik: one-stop licensing service (perizinan)",
        contact="perizinan@dpmptsp.riau.go.id",
    ),
    System(
        id="disdukcapil.siak",
        opd="Disdukcapil",
        name="SIAK: population administration (kependudukan)",
        contact="siak@disdukcapil.riau.go.id",
    ),
    System(
        id="bkd.simpeg",
        opd="BKD",
        name="SIMPEG: civil-servant personnel records",
        contact="simpeg@bkd.riau.go.id",
    ),
    System(
        id="bapenda.samsat",
        opd="Bapenda",
        name="e-Samsat: motor-vehicle tax (PKB) collection",
        contact="samsat@bapenda.riau.go.id",
    ),
    System(
        id="bapenda.sipd",
        opd="Bapenda",
        name="SIPD Pendapatan: regional revenue potential register",
        contact="pendapatan@bapenda.riau.go.id",
    ),
    System(
        id="bpbd.sipongi",
        opd="BPBD",
        name="Forest and land fire (karhutla) hotspot monitoring",
        contact="pusdalops@bpbd.riau.go.id",
    ),
    System(
        id="bpkad.sipkd",
        opd="BPKAD",
        name="SIPKD: regional financial management",
        contact="sipkd@bpkad.riau.go.id",
    ),
    System(
        id="dinkes.sikda",
        opd="Dinas Kesehatan",
        name="SIKDA: regional health information system",
        contact="sikda@diskes.riau.go.id",
    ),
    System(
        id="dlhk.simlhk",
        opd="DLHK",
        name="Environment and forestry permits and supervision",
        contact="data@dlhk.riau.go.id",
    ),
    System(
        id="diskominfotik.satudata",
        opd="Diskominfotik",
        name="Satu Data Riau: the province's open-data portal",
        contact="satudata@diskominfotik.riau.go.id",
    ),
]

"""The reuse advisor's report, for the GCIO's approval letter: Markdown, HTML or terminal tables.

    text = advice_markdown(advice)      # or advice_html(advice): one self-contained page
    for table in advice_tables(advice): console.print(table)

The report is first a short list of blocks (headings, paragraphs, tables, lists), then written
out by one small renderer per format, so every format says the same thing.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

from bus.governance.advisor import Advice


@dataclass(frozen=True)
class Heading:
    """A section title (level 1 or 2)."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of prose."""

    text: str


@dataclass(frozen=True)
class Rows:
    """A table with a header row."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Items:
    """A bulleted list."""

    items: tuple[str, ...]


Block = Heading | Paragraph | Rows | Items


def advice_blocks(advice: Advice, *, compact: bool = False) -> list[Block]:
    """The report's content, in order, independent of the format.

    `compact` (for a terminal) leaves out the reasons column and the `id.go.riau.` prefix.
    """

    def short(event_type: str) -> str:
        return event_type.removeprefix("id.go.riau.") if compact else event_type

    system = advice.proposal.system
    blocks: list[Block] = [
        Heading(f"Reuse advice: {system.name}", 1),
        Paragraph(f"Proposed by {system.opd} (system {system.id}). Purpose: {system.purpose}"),
        Paragraph(f"Summary: {advice.summary}."),
        Heading("1. Data the system needs"),
        Rows(
            ("Needed item", "Semantic type", "Already published in", "Field", "Owner", "Why")[
                : 5 if compact else 6
            ],
            tuple(
                (
                    a.need.name,
                    a.meaning or "-",
                    short(a.source.event_type) if a.source else "nothing: new data",
                    a.source.field + (" (personal)" if a.source.personal else "")
                    if a.source
                    else "-",
                    a.source.owner if a.source else "-",
                    "; ".join(a.source.reasons) if a.source else a.need.description,
                )[: 5 if compact else 6]
                for a in advice.answers
            ),
        ),
        Heading("2. Agreements to request instead of collecting the data again"),
    ]
    if not advice.agreements:
        blocks.append(Paragraph("None: no needed item is published on the bus yet."))
    for request in advice.agreements:
        personal = set(request.personal_fields)
        blocks += [
            Paragraph(
                f"{request.event_type} (topic {request.topic}), owned by {request.owner} "
                f"({request.owner_opd}, {request.owner_contact or 'no contact listed'}):"
            ),
            Items(
                (
                    "fields: "
                    + ", ".join(
                        f + (" (personal)" if f in personal else "") for f in request.fields
                    ),
                    f"for the needs: {', '.join(request.needs)}",
                    f"purpose: {request.purpose}",
                    f"legal basis: {request.legal_basis}",
                    *(
                        (
                            "personal data requested: the agreement must list these fields "
                            "explicitly and the legal basis must cover them (UU 27/2022)",
                        )
                        if personal
                        else ()
                    ),
                    "agreements already in force on this type: "
                    + ("; ".join(request.existing) if request.existing else "none"),
                )
            ),
        ]
    blocks.append(Heading("3. Genuinely new data"))
    blocks.append(
        Items(tuple(f"{i.name}: {i.description}" for i in advice.new_items))
        if advice.new_items
        else Paragraph("None: every needed item is already published.")
    )
    blocks.append(Heading("4. Overlaps the proposed events would create"))
    proposed = [e.type for e in advice.proposal.publishes]
    overlapping = {o.event_type.type for o in advice.overlaps}
    for overlap in advice.overlaps:
        s = overlap.similarity
        blocks += [
            Paragraph(
                f"{overlap.event_type.type} repeats {overlap.similar_to.type} owned by "
                f"{overlap.similar_to.owner}: overlap {overlap.score:.2f} (threshold "
                f"{advice.threshold:.2f}; coverage {s.coverage:.2f}, identity {s.identity:.2f}, "
                f"description {s.description:.2f}). {' '.join(_sentence(x) for x in s.signals)}"
            ),
            Rows(
                ("Proposed field", "Existing field", "Score", "Why"),
                tuple(
                    (m.field, m.other, f"{m.score:.2f}", "; ".join(m.reasons)) for m in s.matches
                ),
            ),
            Paragraph(
                f"Instead: {overlap.instead()}."
                + (f" Not in the existing type: {', '.join(s.unmatched)}." if s.unmatched else "")
            ),
        ]
    clean = [t for t in proposed if t not in overlapping]
    if clean:
        blocks.append(Paragraph(f"No overlap: {', '.join(clean)}."))
    if not proposed:
        blocks.append(Paragraph("The proposal publishes no event."))
    return blocks


def advice_markdown(advice: Advice) -> str:
    """The report as Markdown (GitHub-flavoured tables)."""
    out: list[str] = []
    for block in advice_blocks(advice):
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Items):
            out.append("\n".join(f"- {_md(item)}" for item in block.items))
        else:
            lines = [
                _md_row(block.header),
                "| " + " | ".join("---" for _ in block.header) + " |",
                *(_md_row(row) for row in block.rows),
            ]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.45}
h1{font-size:1.5rem;border-bottom:2px solid #0b5394;padding-bottom:.3rem}
h2{font-size:1.15rem;color:#0b5394;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #c8c8c8;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eef3f8}
tr:nth-child(even) td{background:#fafafa}
"""


def advice_html(advice: Advice) -> str:
    """The report as one self-contained HTML page (inline style, no script, no external file)."""
    blocks = advice_blocks(advice)
    title = blocks[0].text if isinstance(blocks[0], Heading) else "Reuse advice"
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Items):
            items = "".join(f"<li>{html.escape(item)}</li>" for item in block.items)
            body.append(f"<ul>{items}</ul>")
        else:
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in block.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                for row in block.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def advice_tables(advice: Advice) -> list[Table | str]:
    """The report for a terminal: its tables as rich `Table`s, the rest as lines of text."""
    out: list[Table | str] = []
    pending_title = ""
    for block in advice_blocks(advice, compact=True):
        if isinstance(block, Heading):
            pending_title = block.text
            if block.level == 1:
                out.append(f"[bold]{_rich(block.text)}[/]")
                pending_title = ""
        elif isinstance(block, Rows):
            table = Table(title=pending_title or None, title_justify="left")
            for column in block.header:
                table.add_column(column, overflow="fold")
            for row in block.rows:
                table.add_row(*(_rich(cell) for cell in row))
            out.append(table)
            pending_title = ""
        else:
            if pending_title:
                out.append(f"\n[bold]{_rich(pending_title)}[/]")
                pending_title = ""
            lines = block.items if isinstance(block, Items) else (block.text,)
            prefix = "  - " if isinstance(block, Items) else ""
            out.extend(f"{prefix}{_rich(line)}" for line in lines)
    return out


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:].rstrip(".") + "."


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_md(cell) for cell in cells) + " |"


def _rich(text: str) -> str:
    from rich.markup import escape

    return escape(text)


__all__ = ["advice_blocks", "advice_html", "advice_markdown", "advice_tables"]

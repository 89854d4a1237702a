"""Charts drawn on the server as inline SVG from the data itself: no script, no CDN."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 720, 180, 28


def bars(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    maximum: float | None = None,
    unit: str = "",
) -> Markup:
    """A bar per label; ``None`` draws no bar (a day without anyone due)."""
    top = maximum or max([v for v in values if v is not None] or [1]) or 1
    n = max(1, len(values))
    step = (WIDTH - 2 * PAD) / n
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + PAD}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{PAD}" y1="{HEIGHT}" x2="{WIDTH - PAD}" y2="{HEIGHT}" class="axis"/>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = PAD + i * step
        if value is not None:
            h = (HEIGHT - PAD) * min(value, top) / top
            parts.append(
                f'<rect x="{x + step * 0.1:.1f}" y="{HEIGHT - h:.1f}" width="{step * 0.8:.1f}" '
                f'height="{h:.1f}"><title>{escape(label)}: {value:g}{escape(unit)}</title></rect>'
            )
        if n <= 31 or i % max(1, n // 16) == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{HEIGHT + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    parts.append(f'<text x="{PAD}" y="{PAD - 10}" class="scale">{top:g}{escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()


def table(
    columns: Sequence[str], rows: Sequence[Sequence[object]], *, css: str = "recap"
) -> Markup:
    """A plain table of text and numbers. Built here rather than in a template loop because a
    monthly recap has 5,000 rows of 30 cells and the loop's per-cell tests were the slow part."""
    out = [f'<div class="table-wrap"><table class="{escape(css)}"><thead><tr>']
    out += [f'<th scope="col">{escape(c)}</th>' for c in columns]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = []
        for v in row:
            if v is None:
                cells.append("<td>—</td>")
            elif isinstance(v, int | float) and not isinstance(v, bool):
                cells.append(f'<td class="num">{v}</td>')
            else:
                cells.append(f"<td>{escape(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        out.append(f'<tr><td colspan="{len(columns)}" class="muted">—</td></tr>')
    out.append("</tbody></table></div>")
    return Markup("".join(out))  # noqa: S704 - every text in it went through escape()

"""Charts of reach, drawn on the server as SVG (no JavaScript): one line per forum.

- `over_days`: each forum's main figure (`reach.main_figure`) at the points it was read, over the days after
  delivery;
- `over_months`: each forum's main figure for this month's message and the messages of the months before it, at
  the latest point every one of them was read at.

Pure: numbers in, markup out. The text in the chart (labels, the title) is Danish; every value is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import hashlib
from dataclasses import dataclass
from html import escape

from budbringer.reach import Measure, Reach, main_figure

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 170, 24, 40
#: colour-blind-safe (Okabe–Ito), dark enough on white; lines also differ in dash, so colour is never all
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4")


@dataclass(frozen=True)
class Line:
    """One forum's line: its label and (x label, value) points in order."""

    label: str
    points: Sequence[tuple[str, int]]


def _chart(title: str, lines: Sequence[Line], x_labels: Sequence[str], x_title: str) -> str:
    """An SVG with one `<polyline class="forum">` per line (a single point is drawn as a dot too)."""
    top = max([value for line in lines for _, value in line.points] + [1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(x_labels) - 1, 1)
    xs = {label: LEFT + (i * step if len(x_labels) > 1 else plot_w / 2) for i, label in enumerate(x_labels)}

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    ident = "chart-" + hashlib.sha256(title.encode()).hexdigest()[:10]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
             f'aria-labelledby="{ident}" class="reach-chart">',
             f'<title id="{ident}">{escape(title)}</title>',
             f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#4a4a4a"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#4a4a4a"/>']
    for fraction in (0.5, 1.0):
        value = round(top * fraction)
        parts.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="12" '
                     f'fill="#1b1b1b">{value}</text>')
        parts.append(f'<line x1="{LEFT}" y1="{y(value):.1f}" x2="{LEFT + plot_w}" y2="{y(value):.1f}" '
                     f'stroke="#d0d0d0" stroke-dasharray="2 4"/>')
    parts.append(f'<text x="{LEFT - 6}" y="{TOP + plot_h + 4}" text-anchor="end" font-size="12" fill="#1b1b1b">0</text>')
    for label, x in xs.items():
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle" font-size="12" '
                     f'fill="#1b1b1b">{escape(label)}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle" font-size="12" '
                 f'fill="#4a4a4a">{escape(x_title)}</text>')
    for index, line in enumerate(lines):
        colour, dash = COLOURS[index % len(COLOURS)], DASHES[index % len(DASHES)]
        coordinates = " ".join(f"{xs[label]:.1f},{y(value):.1f}" for label, value in line.points)
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline class="forum" data-forum="{escape(line.label)}" points="{coordinates}" fill="none" '
                     f'stroke="{colour}" stroke-width="2.5"{dashing}><title>{escape(line.label)}</title></polyline>')
        for label, value in line.points:
            parts.append(f'<circle cx="{xs[label]:.1f}" cy="{y(value):.1f}" r="3.5" fill="{colour}">'
                         f'<title>{escape(line.label)}, {escape(label)}: {value}</title></circle>')
        legend_y = TOP + 8 + index * 18
        parts.append(f'<line x1="{WIDTH - RIGHT + 12}" y1="{legend_y}" x2="{WIDTH - RIGHT + 36}" y2="{legend_y}" '
                     f'stroke="{colour}" stroke-width="2.5"{dashing}/>')
        parts.append(f'<text x="{WIDTH - RIGHT + 42}" y="{legend_y + 4}" font-size="12" fill="#1b1b1b">'
                     f'{escape(line.label[:22])}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def over_days(readings: Sequence[Reach], labels: Mapping[str, str] | None = None, title: str = "") -> str:
    """One line per forum with figures: its main figure at each point it was read (days after delivery)."""
    labels = labels or {}
    lines: list[Line] = []
    days: set[int] = set()
    by_forum: dict[str, list[Reach]] = {}
    for reach in sorted(readings, key=lambda r: (r.forum, r.point)):
        if reach.reading.measure is Measure.MEASURED and main_figure(reach.reading) is not None:
            by_forum.setdefault(reach.forum, []).append(reach)
    for forum, series in sorted(by_forum.items()):
        metric = main_figure(series[-1].reading)
        assert metric is not None
        points = [(f"dag {r.point}", r.figures[metric[0]]) for r in series if metric[0] in r.figures]
        days.update(r.point for r in series if metric[0] in r.figures)
        lines.append(Line(labels.get(forum, forum), points))
    return _chart(title or "Rækkevidde over dagene efter udsendelsen", lines,
                  [f"dag {d}" for d in sorted(days)], "dage efter udsendelsen")


def over_months(readings: Sequence[Reach], message_id: str, months: int = 6,
                labels: Mapping[str, str] | None = None, title: str = "") -> str:
    """One line per forum of `message_id`: its main figure for each message delivered in this month and the
    `months` before, at the latest point each of them was read at (so the months compare like with like)."""
    labels = labels or {}
    month_of: dict[str, str] = {}
    for reach in readings:
        month_of.setdefault(reach.message_id, reach.delivered_at.strftime("%Y-%m"))
    if message_id not in month_of:
        return _chart(title or "Denne måned mod de forrige", [], [], "måned")
    this = month_of[message_id]
    shown = sorted({m for m in month_of.values() if m <= this})[-(months + 1):]
    mine = {r.forum for r in readings if r.message_id == message_id}
    lines: list[Line] = []
    for forum in sorted(mine):
        best: dict[str, tuple[int, int]] = {}  # month → (point, value) of its latest measured reading
        metric: str | None = None
        for reach in sorted((r for r in readings if r.forum == forum), key=lambda r: r.point):
            month = month_of[reach.message_id]
            figure = main_figure(reach.reading) if reach.reading.measure is Measure.MEASURED else None
            if month not in shown or figure is None or (metric is not None and figure[0] != metric):
                continue
            metric = figure[0]
            best[month] = (reach.point, figure[1])
        if best:
            lines.append(Line(labels.get(forum, forum), [(m, best[m][1]) for m in shown if m in best]))
    return _chart(title or "Denne måned mod de forrige", lines, shown, "måned (budskabets udsendelse)")

"""Report charts drawn with matplotlib, deterministic: the same figures give the same SVG and PNG bytes.

No pyplot (no global state, safe in a web worker): each chart is a ``matplotlib.figure.Figure``
drawn by a function, saved as SVG with a fixed hash salt, text kept as text and no date in
the metadata, and as PNG on demand. The palette and sizes are fixed here for every pack.

matplotlib is imported on the first chart, not with this module: every process that loads the
plugins (each CLI command, each web worker) imports the packs, and matplotlib costs ~1.3 CPU s.
"""

import io
import re

from civiccrm_plugins.report_document import Chart, Table

HASH_SALT = "civiccrm-report"
BLUE, GREY, RED, GREEN, AMBER = "#1f5fa8", "#9aa5b1", "#c0392b", "#2e7d32", "#b7791f"
RC = {"svg.hashsalt": HASH_SALT, "svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 8,
      "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100}
_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)


def _save(draw, size, format: str) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC):
        figure = Figure(figsize=size)
        draw(figure)
        out = io.BytesIO()
        metadata = {"Date": None} if format == "svg" else {"Software": None}
        figure.savefig(out, format=format, metadata=metadata, dpi=100 if format == "svg" else 150)
    return out.getvalue()


def chart(name: str, title: str, draw, table: Table, *, size=(7.0, 3.2), alt: str = "") -> Chart:
    """A Chart whose SVG is drawn now and PNG when asked for; ``draw(figure)`` fills a Figure."""
    svg = _METADATA.sub("", _XML_PROLOGUE.sub("", _save(draw, size, "svg").decode("utf-8"), count=1), count=1)
    return Chart(name=name, title=title, svg=svg, png=lambda: _save(draw, size, "png"), table=table, alt=alt or title)


def _margins(figure, labels=(), *, bottom=0.12, top=0.92):
    """Fixed margins (a layout engine costs more than the drawing): room on the left for the longest label."""
    longest = max((len(str(label)) for label in labels), default=6)
    width = figure.get_figwidth()
    figure.subplots_adjust(left=min(0.5, (0.25 + 0.065 * longest) / width), right=0.97, bottom=bottom, top=top)


def _percent_axis(axis):
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def trend_lines(labels, current, before, *, ylabel: str, share: bool = False):
    """This year's line over last year's, one point per month (None: no value that month)."""

    def draw(figure):
        ax = figure.add_subplot()
        _margins(figure, bottom=0.22)
        xs = range(len(labels))
        for values, colour, label, style in ((before, GREY, "a year before", "--"), (current, BLUE, "this period", "-")):
            points = [(x, v) for x, v in zip(xs, values) if v is not None]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], style, color=colour, marker="o",
                        markersize=3, label=label)
        ax.set_xticks(list(xs), labels, rotation=45, ha="right")
        ax.set_ylabel(ylabel)
        if share:
            ax.set_ylim(0, 1)
            _percent_axis(ax.yaxis)
        else:
            ax.set_ylim(bottom=0)
        ax.legend(loc="lower left", frameon=False)
        ax.grid(axis="y", color="#eee")

    return draw


def share_bars(labels, values, low_sample, goals: dict[str, float]):
    """Horizontal bars of shares (hatched when low sample), with a dashed line per goal."""

    def draw(figure):
        ax = figure.add_subplot()
        _margins(figure, labels, bottom=0.3 / figure.get_figheight() + 0.05, top=1 - 0.1 / figure.get_figheight())
        ys = list(range(len(labels)))[::-1]
        for y, value, low in zip(ys, values, low_sample):
            if value is not None:
                ax.barh(y, value, color="white" if low else BLUE, edgecolor=BLUE, hatch="//" if low else None)
        for (name, goal), colour in zip(goals.items(), (RED, GREEN, AMBER)):
            ax.axvline(goal, color=colour, linestyle="--", linewidth=1, label=f"{name} {goal:.0%}")
        ax.set_yticks(ys, labels)
        ax.set_xlim(0, 1)
        _percent_axis(ax.xaxis)
        if goals:
            ax.legend(loc="lower right", frameon=False, fontsize=7)

    return draw


def stacked_bars(labels, series: dict[str, list[int]]):
    """Horizontal stacked bars: one bar per label, one segment per series (e.g. backlog age windows)."""
    colours = (GREEN, BLUE, AMBER, RED, GREY, "#6a1b9a")

    def draw(figure):
        ax = figure.add_subplot()
        _margins(figure, labels, bottom=0.45 / figure.get_figheight() + 0.03, top=1 - 0.1 / figure.get_figheight())
        ys = list(range(len(labels)))[::-1]
        left = [0] * len(labels)
        for (name, values), colour in zip(series.items(), colours):
            ax.barh(ys, values, left=left, color=colour, label=name)
            left = [a + b for a, b in zip(left, values)]
        ax.set_yticks(ys, labels)
        ax.set_xlabel("open cases")
        ax.legend(loc="lower right", frameon=False, fontsize=7, title="days open", title_fontsize=7)

    return draw


def matrix_panels(current, before, *, timeliness_target: float, satisfaction_target: float, current_label: str,
                  before_label: str):
    """The 311 matrix: two panels (the year before, then this period), timeliness across and satisfaction up.

    ``current`` and ``before`` are lists of (number, label, timeliness, satisfaction, volume, low sample)
    for the groups placed; the goal lines split each panel into the four quadrants, point area grows with
    volume, a low-sample group is drawn hollow, and on this period's panel an arrow runs from where each
    group stood a year before to where it stands now.
    """
    biggest = max([p[4] for p in (*current, *before)] or [1]) or 1

    def area(volume):
        return 20 + 380 * (volume / biggest)

    def panel(ax, points, title):
        ax.axvline(timeliness_target, color=RED, linestyle="--", linewidth=1)
        ax.axhline(satisfaction_target, color=RED, linestyle="--", linewidth=1)
        for x, y, text in ((0.02, 0.98, "satisfied, late"), (0.98, 0.98, "meets both"),
                           (0.02, 0.02, "below both"), (0.98, 0.02, "on time, unsatisfied")):
            ax.text(x, y, text, transform=ax.transAxes, ha="left" if x < 0.5 else "right",
                    va="top" if y > 0.5 else "bottom", color="#777", fontsize=7)
        for number, _, x, y, volume, low in points:
            ax.scatter([x], [y], s=area(volume), facecolor="none" if low else BLUE, edgecolor=BLUE, alpha=0.8)
            ax.annotate(str(number), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        _percent_axis(ax.xaxis)
        _percent_axis(ax.yaxis)
        ax.set_xlabel("timeliness (closed on time)")
        ax.set_ylabel("satisfaction")
        ax.set_title(title, fontsize=9)

    def draw(figure):
        left, right = figure.subplots(1, 2, sharey=True)
        figure.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.92, wspace=0.08)
        panel(left, before, before_label)
        panel(right, current, current_label)
        was = {p[0]: (p[2], p[3]) for p in before}
        for number, _, x, y, _, _ in current:
            if number in was and was[number] != (x, y):
                right.annotate("", xy=(x, y), xytext=was[number],
                               arrowprops={"arrowstyle": "->", "color": GREY, "linewidth": 0.8})

    return draw


def interval_bars(labels, values, intervals, low_sample, *, reference=None, reference_label: str = "",
                  line: float | None = None, line_label: str = ""):
    """Horizontal bars of shares with their intervals as whiskers (hatched when low sample).

    ``intervals`` are (low, high) or None per bar; ``reference`` an optional second value per bar
    drawn as a grey diamond (e.g. the previous wave); ``line`` a dashed vertical line (e.g. the city).
    """

    def draw(figure):
        ax = figure.add_subplot()
        _margins(figure, labels, bottom=0.3 / figure.get_figheight() + 0.05, top=1 - 0.1 / figure.get_figheight())
        ys = list(range(len(labels)))[::-1]
        for y, value, interval, low in zip(ys, values, intervals, low_sample):
            if value is None:
                continue
            ax.barh(y, value, color="white" if low else BLUE, edgecolor=BLUE, hatch="//" if low else None)
            if interval is not None:
                ax.plot(list(interval), [y, y], color="#222", linewidth=1)
                ax.plot(list(interval), [y, y], "|", color="#222", markersize=5)
        if reference is not None:
            points = [(v, y) for y, v in zip(ys, reference) if v is not None]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], "D", color=GREY, markersize=4,
                        label=reference_label)
        if line is not None:
            ax.axvline(line, color=RED, linestyle="--", linewidth=1, label=f"{line_label} {line:.0%}")
        ax.set_yticks(ys, labels)
        ax.set_xlim(0, 1)
        _percent_axis(ax.xaxis)
        if line is not None or (reference is not None and any(v is not None for v in reference)):
            ax.legend(loc="lower right", frameon=False, fontsize=7)

    return draw


def paired_bars(labels, first, second, *, first_label: str, second_label: str):
    """Two horizontal bars of shares per label (e.g. share of cases beside share of cost)."""

    def draw(figure):
        ax = figure.add_subplot()
        _margins(figure, labels, bottom=0.3 / figure.get_figheight() + 0.05, top=1 - 0.1 / figure.get_figheight())
        ys = list(range(len(labels)))[::-1]
        ax.barh([y + 0.2 for y in ys], [v or 0 for v in first], height=0.4, color=GREY, label=first_label)
        ax.barh([y - 0.2 for y in ys], [v or 0 for v in second], height=0.4, color=BLUE, label=second_label)
        ax.set_yticks(ys, labels)
        ax.set_xlim(0, max([*(v or 0 for v in first), *(v or 0 for v in second), 0.1]) * 1.1)
        _percent_axis(ax.xaxis)
        ax.legend(loc="lower right", frameon=False, fontsize=7)

    return draw

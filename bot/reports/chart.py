"""A period's figures as a PNG made to be read on a phone: calls by hour (a day) or by day, and per member.

Drawn with matplotlib's Agg canvas, off the event loop (a chart takes a few hundred milliseconds); matplotlib is
imported on the first chart only, so the bot starts without paying for it.
"""

from __future__ import annotations

import html
import io
import math
import threading

from bot import interpreter
from bot.formatting import duration
from bot.reports.figures import Figures
from bot.texts import Texts

MAX_MEMBERS = 10  # the busiest shown; the caption names the rest
WIDTH, DPI = 9.0, 120  # 1080 pixels wide: a phone shows it without scaling text away
# Margins in inches: the titles above the calls, their hour or day labels below, the members' names to the left.
TOP, CALLS_LEFT, CALLS_BOTTOM, RIGHT = 0.85, 0.9, 0.85, 0.3
MEMBERS_TOP, MEMBER_ROW, MEMBERS_BOTTOM, MEMBERS_LEFT, MEMBERS_LEGEND = 0.5, 0.5, 0.85, 2.3, 0.8
GREEN, RED, BLUE, GREY = "#2e9d5b", "#d9534f", "#3f7fd1", "#6b7280"

# matplotlib is not thread-safe: two reports drawn at once in the loop's worker threads take turns.
_drawing = threading.Lock()


def render(figures: Figures, texts: Texts, title: str) -> bytes:
    """The chart of ``figures`` with ``title`` (plain text), in ``texts``' language, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    interpreter.loaded("matplotlib")

    def label(key: str, **values: object) -> str:
        return html.unescape(texts(key, **values))

    # People only: the calls nobody is known to have answered or placed are in the totals and the caption.
    members = [member for member in figures.members if member.name is not None][:MAX_MEMBERS]
    # Laid out by hand, in inches (a layout engine draws the figure twice to measure it: twice the time).
    calls_height, members_height = 4.3, MEMBER_ROW * len(members)
    height = TOP + calls_height + CALLS_BOTTOM + (MEMBERS_TOP + members_height + MEMBERS_BOTTOM if members else 0)
    with _drawing:
        fig = Figure(figsize=(WIDTH, height), dpi=DPI)

        def axes(left: float, top: float, tall: float) -> Axes:
            return fig.add_axes(
                (left / WIDTH, 1 - (top + tall) / height, (WIDTH - left - RIGHT) / WIDTH, tall / height)
            )

        calls_axes = axes(CALLS_LEFT, TOP, calls_height)
        below = TOP + calls_height + CALLS_BOTTOM + MEMBERS_TOP
        members_axes = axes(MEMBERS_LEFT, below, members_height) if members else None
        fig.suptitle(title, fontsize=18, fontweight="bold", y=1 - 0.12 / height, va="top")

        # Calls per bucket: inbound answered and missed stacked, outbound beside them.
        count = len(figures.buckets)
        xs = range(count)
        answered = [b.answered for b in figures.buckets]
        missed = [b.missed for b in figures.buckets]
        outbound = [b.outbound for b in figures.buckets]
        width = 0.4
        calls_axes.bar([x - width / 2 for x in xs], answered, width, color=GREEN, label=label("chart_answered"))
        calls_axes.bar(
            [x - width / 2 for x in xs], missed, width, bottom=answered, color=RED, label=label("chart_missed")
        )
        calls_axes.bar([x + width / 2 for x in xs], outbound, width, color=BLUE, label=label("chart_outbound"))
        step = max(1, math.ceil(count / 12))
        shown = list(xs)[::step]
        fmt = "%H" if figures.hourly else "%d.%m"
        calls_axes.set_xticks(shown, [figures.buckets[x].start.strftime(fmt) for x in shown], fontsize=13)
        calls_axes.set_xlim(-0.6, count - 0.4)
        calls_axes.set_xlabel(label("chart_by_hour" if figures.hourly else "chart_by_day"), fontsize=13)
        calls_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        calls_axes.tick_params(axis="y", labelsize=13)
        calls_axes.grid(axis="y", alpha=0.3)
        calls_axes.set_axisbelow(True)
        calls_axes.spines[["top", "right"]].set_visible(False)
        calls_axes.set_title(
            label(
                "chart_summary",
                inbound=figures.inbound,
                missed=figures.missed,
                lost=figures.lost,
                outbound=figures.outbound,
            ),
            fontsize=14,
            color=GREY,
        )
        if not any(answered) and not any(missed) and not any(outbound):
            calls_axes.set_ylim(0, 1)
            empty = label("chart_no_calls")
            calls_axes.text(0.5, 0.5, empty, ha="center", va="center", transform=calls_axes.transAxes, fontsize=16)
        else:
            calls_axes.legend(loc="upper left", fontsize=13, frameon=False, ncols=3)
            calls_axes.margins(y=0.15)

        if members_axes is not None:
            ys = range(len(members))
            names = [_short(m.name or "") for m in members]
            answered_by = [m.answered for m in members]
            placed_by = [m.placed for m in members]
            members_axes.barh(
                [y - 0.2 for y in ys], answered_by, 0.4, color=GREEN, label=label("chart_member_answered")
            )
            members_axes.barh([y + 0.2 for y in ys], placed_by, 0.4, color=BLUE, label=label("chart_member_placed"))
            members_axes.set_yticks(list(ys), names, fontsize=13)
            members_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            members_axes.tick_params(axis="x", labelsize=12)
            longest = max(max(m.answered, m.placed) for m in members) or 1
            for y, member in zip(ys, members, strict=True):
                end = max(member.answered, member.placed) + longest * 0.02
                members_axes.text(end, y, duration(member.talk_seconds), va="center", fontsize=12, color=GREY)
            members_axes.set_xlim(0, longest * 1.25)
            members_axes.set_title(label("chart_members"), fontsize=14, loc="left")
            below_ticks = -MEMBERS_LEGEND / members_height
            members_axes.legend(
                loc="lower center", bbox_to_anchor=(0.5, below_ticks), fontsize=12, frameon=False, ncols=2
            )
            members_axes.set_ylim(len(members) - 0.5, -0.5)
            members_axes.spines[["top", "right"]].set_visible(False)

        out = io.BytesIO()
        fig.savefig(out, format="png")
    return out.getvalue()


def _short(name: str, limit: int = 20) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"

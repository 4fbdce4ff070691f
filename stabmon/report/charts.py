"""Charts of a run: matplotlib functions that take data and an ``ax`` and return the figure.

Every function draws onto the ``ax`` it is given (or a new figure when
``ax`` is ``None``) and returns the :class:`~matplotlib.figure.Figure`. Nothing
here saves a file or calls ``pyplot``: new figures are plain ``Figure``
objects, so a notebook displays the returned figure exactly once and a
script or test never leaks pyplot state. (The backend is the caller's
business: notebooks use the inline one.)

Conventions: times are UTC; a snapshot at ``t_k`` stands for the interval
``(t_k - interval, t_k]``, so shaded breaches and alert spans start one
interval before the first flagged snapshot. Data that is absent is drawn as
a gap, never as 0; a chart whose input file does not exist says "not
available" instead of drawing an empty frame. A time axis spans what its
snapshots cover, ``(t_0 - interval, t_last]``.

Every drawn element is named in its legend, except what is labelled where it
is drawn (gid :data:`IN_PLACE`: day boundaries, grade bands). Value and
duration labels go through :func:`place_label`, which puts each where it
overlaps no other label, marker, bar or legend once the layout is known.

Layout: a figure made here is laid out by :class:`FitLayout`, which measures
each axes' decorations (tick labels, axis labels, titles, a legend outside
the axes, a colorbar) once at draw time and sizes the axes so all of it fits
on the figure, in inches. Constrained layout measured every axes twice and
:meth:`~matplotlib.figure.Figure.savefig` then drew the figure twice, which
was most of a report's time; :func:`figure_png` lays out once and draws once.
"""

from __future__ import annotations

import io
import math
import weakref
from datetime import datetime
from typing import Any, Mapping, Sequence

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.layout_engine import LayoutEngine
from matplotlib.lines import Line2D
from matplotlib.markers import TICKDOWN
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Annotation, Text
from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import Bbox

from stabmon.core.budget import window_length
from stabmon.core.durations import format_duration
from stabmon.core.model import METRIC_FIELDS, METRIC_LABELS
from stabmon.report.rundata import METRIC_UNITS, interval_spans

#: Line colours of the signals (colour-blind safe Okabe-Ito palette).
SIGNAL_COLORS: dict[str, str] = {
    "availability": "#0072B2",
    "error_rate": "#D55E00",
    "p95_latency_ms": "#E69F00",
    "p99_latency_ms": "#CC79A7",
    "cpu_percent": "#009E73",
    "memory_percent": "#56B4E9",
    "requests": "#000000",
    "errors": "#D55E00",
}
SEVERITY_COLORS: dict[str, str] = {"critical": "#C0392B", "warning": "#E69F00", "info": "#0072B2"}
ANOMALY_COLORS: dict[str, str] = {"low": "#999999", "medium": "#E69F00", "high": "#C0392B"}
ANOMALY_MARKERS: dict[str, str] = {"spike": "^", "drop": "v", "level_shift": "s"}
BREACH_COLOR = "#C0392B"
DEGRADED_COLOR = "#F5B041"
SLO_LINE = {"color": "#333333", "linestyle": "--", "linewidth": 1.2}
GRADE_BANDS: tuple[tuple[str, float, float, str], ...] = (
    ("F", 0.0, 60.0, "#C0392B"),
    ("D", 60.0, 70.0, "#E67E22"),
    ("C", 70.0, 80.0, "#F1C40F"),
    ("B", 80.0, 90.0, "#82C341"),
    ("A", 90.0, 100.0, "#27AE60"),
)

WIDE = (11.0, 3.6)
#: gid of an artist that is labelled where it is drawn (a day boundary, a grade
#: band, a heatmap cell), so the legend leaves it out.
IN_PLACE = "labelled-in-place"


# ---------------------------------------------------------------------------
# notebooks


def figure_png(figure: Figure, dpi: float = 80.0) -> bytes:
    """The figure as PNG bytes (what a notebook shows)."""
    buffer = io.BytesIO()
    engine = figure.get_layout_engine()
    if not isinstance(engine, FitLayout):
        figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
        return buffer.getvalue()
    # savefig draws a figure that has any layout engine twice (once to lay it
    # out, once to render it), even the "none" placeholder. The Agg canvas's
    # own print_png draws it once: Figure.draw runs FitLayout, then renders.
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # loaded with the inline backend anyway

    canvas = FigureCanvasAgg(figure)
    original_dpi, original_face = figure.dpi, figure.get_facecolor()
    figure.dpi = dpi
    figure.set_facecolor("white")
    try:
        canvas.print_png(buffer)
    finally:
        figure.dpi = original_dpi
        figure.set_facecolor(original_face)
    return buffer.getvalue()


def show_in_notebook(dpi: float = 80.0) -> None:
    """Make IPython display the figures these functions return as PNG images.

    Importing pyplot just to register its figure formatter (what
    ``%matplotlib inline`` does) costs a few tenths of a second in every
    kernel of a report; this registers the formatter directly. Outside
    IPython it does nothing.
    """
    try:
        from IPython import get_ipython  # 0.1 s to import: only in a notebook kernel, where it is loaded already
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return
    shell = get_ipython()
    if shell is None:
        return
    shell.display_formatter.formatters["image/png"].for_type(Figure, lambda figure: figure_png(figure, dpi))


# ---------------------------------------------------------------------------
# helpers


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure laid out by :class:`FitLayout`."""
    return Figure(figsize=figsize, layout=FitLayout())


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float] = WIDE) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    figure = new_figure(figsize)
    return figure, figure.add_subplot()


# ---------------------------------------------------------------------------
# layout

#: Space (inches) kept between the figure's edge and what is drawn, and between panels.
_EDGE = 0.06
_GAP = 0.1


class FitLayout(LayoutEngine):
    """Size the axes of a grid of subplots so that every decoration fits on the figure.

    Each axes is measured once (its tight box around tick labels, axis
    labels, titles, texts, outside legend and colorbar, less its frame: the
    space it needs on each side, in inches); each row of the grid then gets
    the largest top and bottom, each column the largest left and right, and
    the frames share what remains of the figure by the grid's ratios. A
    suptitle gets a band of its own at the top; a left-aligned title wider
    than its axes widens the right margin of its column. Unlike constrained
    layout (two measuring passes, then a draw for the layout and one for the
    image), it is one measure and one draw (:func:`figure_png`).

    The space an axes needs does not depend on its size, but for things
    placed in axes fractions; they are measured where the axes is before the
    fit, and the figure is laid out again at each draw.
    """

    _adjust_compatible = False
    _colorbar_gridspec = False

    def set(self, **kwargs: Any) -> None:  # pragma: no cover - no parameters
        if kwargs:
            raise TypeError(f"FitLayout takes no parameters, got {sorted(kwargs)}")

    def execute(self, fig: Any) -> None:
        get_renderer = getattr(fig.canvas, "get_renderer", None)
        self.fit(fig, get_renderer() if get_renderer is not None else fig._get_renderer())

    @staticmethod
    def fit(figure: Figure, renderer: Any) -> None:
        """Place the axes of ``figure`` (measured with ``renderer``, at the figure's dpi)."""
        _fit(figure, renderer)


def _decorated_box(ax: Axes, frame: Bbox, renderer: Any, probe: Text) -> Bbox:
    """The box (pixels) of ``ax`` and all it draws outside its frame, as far as the layout is concerned.

    Like ``ax.get_tightbbox(renderer, for_layout_only=True)`` (titles and
    axis labels count by their height only), without making, placing and
    measuring a ``Tick`` for each tick label, which the draw does again: the
    labels are the locator's and formatter's strings, measured with ``probe``
    where the tick places them. An axis drawn in a way this does not model
    (labels rotated, on the top or right, an offset text) is measured by
    matplotlib.
    """
    boxes = [frame]
    if ax.axison:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_visible():
                boxes += _axis_boxes(axis, frame, renderer, probe)
    for title in (ax.title, ax._left_title, ax._right_title):
        if title.get_visible() and title.get_text():
            box = title.get_window_extent(renderer)
            boxes.append(Bbox.from_extents(box.x0, box.y0, box.x0 + 1.0, box.y1))  # its width: see _fit
    for text in ax.texts:
        if text.get_visible() and text.get_in_layout() and text.get_text():
            boxes.append(text.get_window_extent(renderer))
    legend = ax.get_legend()
    # A legend placed by a ``loc`` alone is inside the axes; one anchored elsewhere is measured.
    if legend is not None and legend.get_visible() and legend.get_bbox_to_anchor().bounds != ax.bbox.bounds:
        boxes.append(legend.get_window_extent(renderer))
    for child in ax.child_axes:  # a colorbar
        if child.get_visible():
            box = child.get_tightbbox(renderer)
            if box is not None:
                boxes.append(box)
    return Bbox.union(boxes)


def _axis_boxes(axis: Any, frame: Bbox, renderer: Any, probe: Text) -> list[Bbox]:
    """Boxes (pixels) of the bottom x or left y axis' tick labels and axis label (see :func:`_decorated_box`).

    Also records in ``_LABEL_AT`` where the axis label goes (pixels from the
    frame's edge), for :func:`_fit` to place it there: left to matplotlib,
    every draw makes and measures the tick labels of the axis (and of every
    axis sharing it) once more to place its label.
    """
    is_x = axis.axis_name == "x"
    tick = axis.majorTicks[0]  # made once: the draw uses it
    label = tick.label1
    locs = np.asarray(axis.get_majorticklocs(), dtype=float)
    texts = axis.major.formatter.format_ticks(locs) if len(locs) else []
    if (tick.label2.get_visible() or label.get_rotation() != 0 or axis.major.formatter.get_offset()
            or axis.get_label_position() != ("bottom" if is_x else "left")
            or len(axis.get_minorticklocs())):
        box = axis.get_tightbbox(renderer, for_layout_only=True)
        _LABEL_AT.pop(axis, None)
        if not is_x and axis.major.formatter.get_offset():
            axis.axes._autotitlepos = None  # the offset text sits over the axes: matplotlib lifts the title over it
        return [box] if box is not None else []
    boxes = []
    scale = renderer.points_to_pixels(1.0)
    pad = (tick.get_pad() + tick.get_tick_padding()) * scale
    low, high = sorted(axis.get_view_interval())
    slack = 1e-10 * (high - low)
    keep = [(loc, text) for loc, text in zip(locs, texts) if low - slack <= loc <= high + slack and text]
    edge = frame.y0 if is_x else frame.x0
    if label.get_visible() and keep:
        probe.update_from(label)
        probe.set_rotation(0)
        transform = axis.axes.get_xaxis_transform() if is_x else axis.axes.get_yaxis_transform()
        for loc, text in keep:
            probe.set_text(text)
            extent = probe.get_window_extent(renderer)
            w, h = extent.width, extent.height
            if is_x:
                x = transform.transform((loc, 0.0))[0]
                boxes.append(Bbox.from_extents(x - w / 2, edge - pad - h, x + w / 2, edge - pad))
            else:
                y = transform.transform((0.0, loc))[1]
                boxes.append(Bbox.from_extents(edge - pad - w, y - h / 2, edge - pad, y + h / 2))
        edge = min(b.y0 for b in boxes) if is_x else min(b.x0 for b in boxes)
    else:
        edge -= pad
    title = axis.label
    gap = axis.labelpad * scale
    _LABEL_AT[axis] = (frame.y0 - edge + gap) if is_x else (frame.x0 - edge + gap)
    if title.get_visible() and title.get_text():
        extent = title.get_window_extent(renderer)
        if is_x:
            middle = (frame.x0 + frame.x1) / 2
            boxes.append(Bbox.from_extents(middle, edge - gap - extent.height, middle + 1.0, edge - gap))
        else:
            middle = (frame.y0 + frame.y1) / 2
            boxes.append(Bbox.from_extents(edge - gap - extent.width, middle, edge - gap, middle + 1.0))
    return boxes


#: Axis -> pixels between its frame's edge and its label, as :func:`_axis_boxes` measured them.
_LABEL_AT: "weakref.WeakKeyDictionary[Any, float]" = weakref.WeakKeyDictionary()


def _place_labels(ax: Axes, renderer: Any) -> None:
    """Put the axis labels of ``ax`` where :func:`_axis_boxes` measured, in axes units of its new frame."""
    frame = ax.get_window_extent(renderer)
    for axis in (ax.xaxis, ax.yaxis):
        offset = _LABEL_AT.get(axis)
        if offset is None or not frame.width or not frame.height:
            axis._autolabelpos = True  # measured by matplotlib: placed by it too
            continue
        if axis.axis_name == "x":
            axis.set_label_coords(0.5, -offset / frame.height)
        else:
            axis.set_label_coords(-offset / frame.width, 0.5)


def _fit(figure: Figure, renderer: Any) -> None:
    placed = [(ax, ax.get_subplotspec()) for ax in figure.axes if ax.get_visible()]
    placed = [(ax, spec) for ax, spec in placed if spec is not None]
    if not placed:
        return
    grid = placed[0][1].get_gridspec()
    placed = [(ax, spec) for ax, spec in placed if spec.get_gridspec() is grid]
    rows, cols = grid.get_geometry()
    dpi = figure.dpi
    width, height = figure.get_size_inches()
    left, right = [0.0] * cols, [0.0] * cols
    top, bottom = [0.0] * rows, [0.0] * rows
    title_widths: list[tuple[int, int, float]] = []  # first column, last column, inches
    probe = Text(figure=figure)
    for ax, spec in placed:
        frame = ax.get_window_extent(renderer)
        tight = _decorated_box(ax, frame, renderer, probe)
        first_row, last_row = spec.rowspan.start, spec.rowspan.stop - 1
        first_col, last_col = spec.colspan.start, spec.colspan.stop - 1
        left[first_col] = max(left[first_col], (frame.x0 - tight.x0) / dpi)
        right[last_col] = max(right[last_col], (tight.x1 - frame.x1) / dpi)
        top[first_row] = max(top[first_row], (tight.y1 - frame.y1) / dpi)
        bottom[last_row] = max(bottom[last_row], (frame.y0 - tight.y0) / dpi)
        title = ax._left_title
        if title.get_visible() and title.get_text():
            title_widths.append((first_col, last_col, title.get_window_extent(renderer).width / dpi))
    band = _EDGE
    suptitle = figure._suptitle
    if suptitle is not None and suptitle.get_visible() and suptitle.get_text():
        box = suptitle.get_window_extent(renderer)
        band = height - box.y0 / dpi + _GAP
    ratios_w = np.asarray(grid.get_width_ratios() or [1.0] * cols, dtype=float)
    ratios_h = np.asarray(grid.get_height_ratios() or [1.0] * rows, dtype=float)

    def spans(total: float, before: list[float], after: list[float], ratios: np.ndarray,
              start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        free = total - start - end - sum(before) - sum(after) - _GAP * (len(ratios) - 1)
        sizes = np.maximum(free, 0.2 * len(ratios)) * ratios / ratios.sum()
        lows, position = [], start
        for size, pad_before, pad_after in zip(sizes, before, after):
            position += pad_before
            lows.append(position)
            position += size + pad_after + _GAP
        return np.asarray(lows), sizes

    # A left-aligned title runs right of its axes' left edge: the columns it spans must hold it.
    for first_col, last_col, needed in title_widths:
        xs, ws = spans(width, left, right, ratios_w, _EDGE, _EDGE)
        room = width - _EDGE - xs[first_col]
        if needed > room:
            right[last_col] += needed - room
    xs, ws = spans(width, left, right, ratios_w, _EDGE, _EDGE)
    ys, hs = spans(height, top, bottom, ratios_h, band, _EDGE)  # from the top down
    for ax, spec in placed:
        first_row, last_row = spec.rowspan.start, spec.rowspan.stop - 1
        first_col, last_col = spec.colspan.start, spec.colspan.stop - 1
        x0, x1 = xs[first_col], xs[last_col] + ws[last_col]
        y_top, y_bottom = ys[first_row], ys[last_row] + hs[last_row]
        ax.set_position(Bbox.from_extents(x0 / width, 1.0 - y_bottom / height, x1 / width, 1.0 - y_top / height))
        _place_labels(ax, renderer)


def safe_text(text: Any) -> str:
    """Text from Prometheus made safe for matplotlib (a ``$`` would start mathtext)."""
    return str(text).replace("\\", "\\\\").replace("$", r"\$")


def _x(index: pd.Index) -> np.ndarray:
    """Times as naive-UTC ``datetime64`` (matplotlib's UTC convention)."""
    times = pd.DatetimeIndex(index)
    if times.tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    return times.to_numpy()


def _xt(ts: Any) -> datetime:
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def _interval_of(frame: pd.DataFrame | pd.Series) -> pd.Timedelta:
    if len(frame.index) < 2:
        return pd.Timedelta(minutes=30)
    return pd.Series(frame.index).diff().dropna().min()


# Tick steps a time axis may use, finest first: the axis takes the finest that
# puts at most _MAX_TICKS ticks on the window (10 minutes to 14 days and more).
_TICK_STEPS = tuple(pd.Timedelta(step) for step in (
    "1min", "2min", "5min", "10min", "15min", "30min", "1h", "2h", "3h", "6h", "12h", "1D", "2D", "7D"))
_MAX_TICKS = 9
# Up to this span the ticks are clock times on one date; beyond it, dates.
_CLOCK_SPAN = pd.Timedelta(hours=36)


def time_ticks(start: Any, end: Any) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex, str]:
    """Major and minor tick times of a time axis over ``[start, end]`` and the major labels' format.

    The step is the finest of :data:`_TICK_STEPS` giving at most
    :data:`_MAX_TICKS` major ticks (at least a day when the labels are
    dates, so no date repeats), on whole multiples of the step in UTC
    (hh:00, hh:15, midnight). The major ticks are never empty: a window that
    holds no multiple of its step (possible only for the coarsest) gets one at
    its start. Minor ticks split each major step in two to four (the finest).

    Returns
    -------
    major, minor : pandas.DatetimeIndex
        Naive-UTC tick times inside ``[start, end]``.
    fmt : str
        ``strftime`` format of the major labels: ``%H:%M`` up to 36 h, dates beyond.
    """
    begin, finish = pd.Timestamp(_xt(start)), pd.Timestamp(_xt(end))
    span = max(finish - begin, pd.Timedelta(seconds=1))
    step = next((s for s in _TICK_STEPS if span / s <= _MAX_TICKS), None)
    if step is not None and span > _CLOCK_SPAN:
        # Labels are dates beyond 36 h: a step under a day would repeat each date.
        step = max(step, pd.Timedelta(days=1))
    if step is None:
        step = pd.Timedelta(days=math.ceil(span / pd.Timedelta(days=1) / _MAX_TICKS))
    # Days from the epoch for day steps, so 2-day ticks do not depend on the start.
    major = pd.date_range(begin.ceil(step) if step <= pd.Timedelta(days=1) else _ceil_days(begin, step),
                          finish, freq=step)
    if major.empty:
        major = pd.DatetimeIndex([begin])
    minor_step = next((m for m in _TICK_STEPS if m < step and (step / m) in (2, 3, 4)), None)
    minor = (pd.date_range(begin.ceil(minor_step), finish, freq=minor_step).difference(major)
             if minor_step is not None else pd.DatetimeIndex([]))
    return major, minor, "%H:%M" if span <= _CLOCK_SPAN else "%a %d %b"


def _ceil_days(moment: pd.Timestamp, step: pd.Timedelta) -> pd.Timestamp:
    epoch = pd.Timestamp("1970-01-01")
    return epoch + math.ceil((moment - epoch) / step) * step


def _time_axis(ax: Axes, start: Any, end: Any) -> None:
    """Limit the x axis to ``[start, end]`` and label it in UTC at a step that fits the span."""
    begin, finish = _xt(start), _xt(end)
    ax.set_xlim(begin, finish)
    # Fixed tick positions instead of mdates' rrule locators: those are
    # recomputed at every layout pass and were half of a week chart's
    # rendering time.
    major, minor, fmt = time_ticks(begin, finish)
    if fmt == "%H:%M":
        # The span starts one interval before the first snapshot (the previous
        # evening for a day), so name the date of the middle of the span.
        middle = begin + (finish - begin) / 2
        ax.set_xlabel(f"time (UTC), {middle:%a %d %b %Y}")
    else:
        ax.set_xlabel("date (UTC)")
    ax.xaxis.set_major_locator(FixedLocator(mdates.date2num(major.to_pydatetime())))
    # The labels written once (the times are naive UTC): a DateFormatter
    # converts and formats every tick again at each layout pass.
    ax.xaxis.set_major_formatter(FixedFormatter(list(major.strftime(fmt))))
    _minor_ticks(ax, mdates.date2num(minor.to_pydatetime()))


class _MinorTicks(Artist):
    """The minor tick marks of a time axis, drawn as one set of markers.

    A matplotlib ``Tick`` per minor mark (two lines and two texts each, made
    and measured at every layout and draw) cost more than the rest of a
    day chart's axis; these marks have no label and no grid line.
    """

    def __init__(self, positions: np.ndarray) -> None:
        super().__init__()
        self.set_in_layout(False)  # inside the major ticks' band
        self.set_zorder(2.5)  # with the axis
        self._marks = Line2D(positions, np.zeros(len(positions)), linestyle="none", marker=TICKDOWN,
                             markersize=matplotlib.rcParams["xtick.minor.size"],
                             markeredgewidth=matplotlib.rcParams["xtick.minor.width"],
                             color=matplotlib.rcParams["xtick.color"])

    def draw(self, renderer: Any) -> None:
        ax = self.axes
        if ax is None or not self.get_visible() or not ax.xaxis.get_visible():
            return
        self._marks.set_transform(ax.get_xaxis_transform())  # x in data, y in axes units: on the bottom spine
        self._marks.draw(renderer)


def _minor_ticks(ax: Axes, positions: np.ndarray) -> None:
    ax.xaxis.set_minor_locator(NullLocator())  # shared by the panels of a stack
    for artist in [a for a in ax.artists if isinstance(a, _MinorTicks)]:
        artist.remove()
    if len(positions):
        ax.add_artist(_MinorTicks(np.asarray(positions, dtype=float)))


# A bar on a timeline is at least this share of the axis wide, so a
# one-snapshot episode on a 14-day axis (1 h of 336 h) still shows.
_MIN_BAR_SHARE = 1.0 / 250.0


def _bar_extent(begin: Any, end: Any, axis_start: Any, axis_end: Any) -> tuple[float, float]:
    """``(left, width)`` in matplotlib date units of a timeline bar, at least :data:`_MIN_BAR_SHARE` of the axis.

    A bar widened to that minimum at the axis' end grows to the left, so it
    stays on the axis; a bar that really runs past an end is cut there.
    """
    left, right = mdates.date2num(_xt(begin)), mdates.date2num(_xt(end))
    axis_left, axis_right = mdates.date2num(_xt(axis_start)), mdates.date2num(_xt(axis_end))
    width = max(right - left, (axis_right - axis_left) * _MIN_BAR_SHARE)
    if right <= axis_right < left + width:
        left = axis_right - width
    return left, width


def _daily_span(daily: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The span the snapshots of the daily table's days cover: their days shifted back one interval.

    A snapshot at ``t_k`` covers ``(t_k - interval, t_k]`` and a day holds the
    ``t_k`` in ``[start, end)``, so a run's timelines run from one interval
    before its first day to one interval before its last day's end, the same
    span as :func:`_frame_span` of its snapshots. The interval is the first
    day's length over its expected snapshots (0 when unknown).
    """
    spans = day_spans(daily)
    first = daily.loc[spans[0][0]]
    expected = first.get("expected_snapshots")
    interval = pd.Timedelta(0)
    if expected is not None and not pd.isna(expected) and float(expected) > 0:
        interval = (spans[0][2] - spans[0][1]) / float(expected)
    return spans[0][1] - interval, max(span[2] for span in spans) - interval


def _frame_span(frame: pd.DataFrame | pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    interval = _interval_of(frame)
    return frame.index.min() - interval, frame.index.max()


def _tidy(ax: Axes) -> None:
    ax.grid(True, axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


# ---------------------------------------------------------------------------
# labels that never hide each other
#
# Where a label lands on the page is known only once the layout is done, at
# draw time; so the labels of an axes are placed by one invisible artist that
# the axes draws after its bars, lines and legend and before the labels: it
# tries each label's candidate positions in turn and keeps the first whose
# box stays inside the axes and clear of the labels placed before it, of
# the other texts, of the legend, of every marker and of every bar.

#: A label's candidate position: anchor ``(x, y)`` in data coordinates, offset
#: ``(dx, dy)`` in points, horizontal and vertical alignment.
Candidate = tuple[float, float, float, float, str, str]
#: Drawn after the legend (5) and before the labels it places.
_PLACER_ZORDER = 5.5
_LABEL_ZORDER = 5.6
#: Space kept around a label (pixels), so two labels never touch.
_LABEL_GAP = 1.0


class _LabelPlacer(Artist):
    """Places the labels of one axes so that none overlaps another, a marker or the legend."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[Annotation, list[Candidate]]] = []
        self.set_zorder(_PLACER_ZORDER)
        self.set_in_layout(False)

    def draw(self, renderer: Any) -> None:
        ax = self.axes
        if ax is None or not self.items:
            return
        managed = {id(label) for label, _ in self.items}
        taken = [t.get_window_extent(renderer) for t in ax.texts
                 if id(t) not in managed and t.get_visible() and t.get_text()]
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            taken.append(legend.get_window_extent(renderer))
        frame = ax.get_window_extent(renderer)
        taken += marker_boxes(ax, renderer)
        boxes = np.array([box.extents for box in taken]).reshape(-1, 4)  # x0, y0, x1, y1
        boxes = np.vstack([boxes, _bar_boxes(ax)])
        for label, candidates in self.items:
            if not label.get_visible():
                continue
            best, best_box, best_cost = candidates[0], None, math.inf
            for candidate in candidates:
                box = _try(label, candidate, renderer)
                # Leaving the axes is worse than any overlap: the label would be cut or hit the title.
                cost = _outside(box, frame) * 1e6 + _overlap(box, boxes)
                if cost < best_cost:
                    best, best_box, best_cost = candidate, box, cost
                if cost == 0:
                    break
            if candidate is not best:
                best_box = _try(label, best, renderer)
            boxes = np.vstack([boxes, best_box.extents])


def _bar_boxes(ax: Axes) -> np.ndarray:
    """Window extents ``(n, 4)`` of the bars of ``ax`` (a label must not sit on the next bar).

    Bars are the rectangles drawn in data coordinates; the spans that shade
    a time range over the whole height are not (their y is in axes units).
    """
    bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_visible()
            and p.get_data_transform() == ax.transData]
    if not bars:
        return np.empty((0, 4))
    corners = ax.transData.transform(np.array([[p.get_x(), p.get_y()] for p in bars]
                                              + [[p.get_x() + p.get_width(), p.get_y() + p.get_height()]
                                                 for p in bars], dtype=float))
    low, high = corners[:len(bars)], corners[len(bars):]
    return np.column_stack([np.minimum(low, high), np.maximum(low, high)])


def _try(label: Annotation, candidate: Candidate, renderer: Any) -> Bbox:
    x, y, dx, dy, ha, va = candidate
    label.xy = (x, y)
    label.xyann = (dx, dy)
    label.set_horizontalalignment(ha)
    label.set_verticalalignment(va)
    return label.get_window_extent(renderer).padded(_LABEL_GAP)


def _overlap(box: Bbox, others: np.ndarray) -> float:
    """Total area (pixels) that ``box`` shares with the ``(n, 4)`` extents ``others``."""
    width = np.minimum(box.x1, others[:, 2]) - np.maximum(box.x0, others[:, 0])
    height = np.minimum(box.y1, others[:, 3]) - np.maximum(box.y0, others[:, 1])
    return float(np.sum(np.clip(width, 0.0, None) * np.clip(height, 0.0, None)))


def _outside(box: Bbox, frame: Bbox) -> float:
    """Pixels of ``box`` outside ``frame`` (0 when it is wholly inside)."""
    return (max(frame.x0 - box.x0, 0.0) + max(box.x1 - frame.x1, 0.0)
            + max(frame.y0 - box.y0, 0.0) + max(box.y1 - frame.y1, 0.0))


def marker_boxes(ax: Axes, renderer: Any) -> list[Bbox]:
    """Window boxes of every marker drawn on ``ax`` (line markers and scatter points)."""
    to_pixels = renderer.points_to_pixels(1.0)
    boxes: list[Bbox] = []

    def add(points: np.ndarray, transform: Any, radius_points: np.ndarray | float) -> None:
        if not len(points):
            return
        xy = transform.transform(np.asarray(points, dtype=float))
        radius = np.broadcast_to(np.asarray(radius_points, dtype=float) * to_pixels, (len(xy),))
        for (px, py), r in zip(xy, radius):
            if np.isfinite(px) and np.isfinite(py):
                boxes.append(Bbox.from_extents(px - r, py - r, px + r, py + r))

    for line in ax.lines:
        if line.get_visible() and line.get_marker() not in (None, "None", "none", "", " "):
            add(line.get_xydata(), line.get_transform(), line.get_markersize() / 2.0)
    for collection in ax.collections:
        if isinstance(collection, PathCollection) and collection.get_visible():
            sizes = collection.get_sizes()
            add(collection.get_offsets(), collection.get_offset_transform(),
                np.sqrt(sizes) / 2.0 if len(sizes) else 3.0)
    return boxes


def place_label(ax: Axes, text: str, candidates: Sequence[Candidate], **style: Any) -> Annotation:
    """Add a label to ``ax`` that is drawn at the first of ``candidates`` where it hides nothing.

    Parameters
    ----------
    ax
        The axes.
    text
        The label (made safe for mathtext here).
    candidates
        Positions to try, best first: ``(x, y, dx, dy, ha, va)`` with the
        anchor in data coordinates and the offset in points. When every one
        overlaps something, the one that overlaps least is kept.
    style
        Text properties (``fontsize``, ``color`` ...).

    Returns
    -------
    Annotation
        The label, at its first candidate until the figure is drawn.
    """
    x, y, dx, dy, ha, va = candidates[0]
    label = ax.annotate(safe_text(text), (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                        zorder=_LABEL_ZORDER, annotation_clip=False, **style)
    placer = next((a for a in ax.artists if isinstance(a, _LabelPlacer)), None)
    if placer is None:
        placer = _LabelPlacer()
        ax.add_artist(placer)
    placer.items.append((label, list(candidates)))
    return label


def above(x: float, y: float, gap: float = 3.0, steps: int = 4, step: float = 7.0) -> list[Candidate]:
    """Candidates above ``(x, y)``, then higher, then to its right and left (labels on bars and points)."""
    ups = [(x, y, 0.0, gap + i * step, "center", "bottom") for i in range(steps)]
    sides = [(x, y, side * 6.0, gap + i * step, "left" if side > 0 else "right", "bottom")
             for i in range(steps) for side in (1, -1)]
    below = [(x, y, 0.0, -gap, "center", "top")]
    return ups + sides + below


def beside(left: float, right: float, y: float, gap: float = 3.0, step: float = 8.0) -> list[Candidate]:
    """Candidates right of a bar ``[left, right]`` at height ``y``, then left of it, then shifted up or down."""
    shifts = (0.0, step, -step, 2 * step, -2 * step)
    return [candidate for dy in shifts for candidate in
            ((right, y, gap, dy, "left", "center"), (left, y, -gap, dy, "right", "center"))]


def not_available(ax: Axes | None, message: str, *, title: str | None = None) -> Figure:
    """Draw a placeholder saying why a chart has no data (e.g. a file not written yet)."""
    figure, ax = _figure_and_axes(ax, (11.0, 1.6))
    ax.set_axis_off()
    ax.text(0.5, 0.5, safe_text(message), ha="center", va="center", fontsize=11, color="#555555",
            transform=ax.transAxes)
    if title:
        ax.set_title(safe_text(title), loc="left", fontweight="bold", y=1.0)
    return figure


def _shade(ax: Axes, spans: Sequence[tuple[Any, Any]], *, color: str, alpha: float, label: str | None) -> None:
    for i, (begin, end) in enumerate(spans):
        ax.axvspan(_xt(begin), _xt(end), color=color, alpha=alpha, linewidth=0,
                   label=label if i == 0 else None)


def mark_anomalies(ax: Axes, anomalies: pd.DataFrame | None, metrics: Sequence[str]) -> int:
    """Mark the anomaly episodes of ``metrics`` on a timeline: a span and a marker each.

    An episode that lasted more than one snapshot is shaded from its start to
    its last snapshot out of normal (hatched; an excursion and its return are
    one episode, not two points); its anomaly lines are marked at their value,
    marker shape the type (▲ spike, ▼ drop, ■ level shift), colour the
    severity. Recovery lines are not marked. Returns the number of episodes.
    """
    if anomalies is None or anomalies.empty:
        return 0
    events = anomalies[anomalies["metric"].isin(list(metrics))]
    if "recovery" in events:
        events = events[~events["recovery"].astype(bool)]
    if "episode" in events and "episode_end" in events:
        spans = events.groupby("episode", sort=False).agg(
            start=("timestamp", "min"), end=("episode_end", "max"), severity=("severity", "last"))
        named: set[str] = set()
        for key, row in spans.iterrows():
            begin = pd.Timestamp(str(key).split("@", 1)[1])
            end = pd.Timestamp(row["end"])
            if end > begin:
                severity = row["severity"]
                # Hatched, so it does not read as an SLO breach band of the same red.
                ax.axvspan(_xt(begin), _xt(end), facecolor="none", edgecolor=ANOMALY_COLORS.get(severity, "#555555"),
                           hatch="////", alpha=0.5, linewidth=0, zorder=1,
                           label=None if severity in named else f"anomaly episode ({severity})")
                named.add(severity)
        count = len(spans)
    else:
        count = len(events)
    for (severity, kind), group in events.groupby(["severity", "type"], sort=False):
        ax.scatter(_x(pd.DatetimeIndex(group["timestamp"])), group["value"], zorder=5, s=46,
                   marker=ANOMALY_MARKERS.get(kind, "o"), color=ANOMALY_COLORS.get(severity, "#555555"),
                   edgecolor="white", linewidth=0.6, label=f"anomaly: {kind.replace('_', ' ')} ({severity})")
    return count


def day_spans(daily: pd.DataFrame | None) -> list[tuple[int, pd.Timestamp, pd.Timestamp]]:
    """``(day_number, start, end)`` of each day of the daily table, ends cut at the window's end.

    Uses the ``end_time`` column when the table has one (a day of a short
    window is shorter than 24 h), else a whole day.
    """
    if daily is None or daily.empty:
        return []
    spans = []
    for day_number, row in daily.iterrows():
        begin = pd.Timestamp(row["start_time"])
        end = row.get("end_time")
        end = begin + pd.Timedelta(days=1) if end is None or pd.isna(end) else pd.Timestamp(end)
        spans.append((int(day_number), begin, end))
    return spans


def mark_days(ax: Axes, daily: pd.DataFrame | None, *, label_days: bool = True) -> bool:
    """Draw day boundaries and shade degraded days on a multi-day timeline.

    ``daily`` is :attr:`stabmon.report.rundata.RunData.daily` (index ``day_number``,
    ``start_time``, ``end_time`` and ``degraded`` columns). Shading and labels
    stay inside each day's span, so a window shorter than a day keeps its
    axis (the label sits in the middle of the part of the day in the window).
    Returns whether a degraded day was shaded (the legend then names it).
    The boundary lines carry the gid :data:`IN_PLACE`: the day labels, not
    the legend, say what they are.
    """
    shaded = False
    for day_number, begin, end in day_spans(daily):
        ax.axvline(_xt(begin), color="#888888", linewidth=0.8, alpha=0.6, gid=IN_PLACE)
        if bool(daily.loc[day_number].get("degraded")):
            ax.axvspan(_xt(begin), _xt(end), color=DEGRADED_COLOR, alpha=0.14, linewidth=0,
                       label=None if shaded else "degraded day")
            shaded = True
        if label_days:
            ax.text(_xt(begin + (end - begin) / 2), 1.0, f"day {day_number}", transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8, color="#444444")
    return shaded


def _legend(ax: Axes, extra: Sequence[Artist] = (), **kwargs: Any) -> None:
    """A legend of every labelled artist of ``ax`` (each label once) and the ``extra`` proxy handles."""
    handles, labels = ax.get_legend_handles_labels()
    # In the order the artists were drawn (the order a chart's rows and layers are built), not by type.
    drawn = {id(artist): n for n, artist in enumerate(ax.get_children())}

    def position(handle: Any) -> int:
        first = handle.patches[0] if isinstance(handle, BarContainer) and handle.patches else handle
        return drawn.get(id(first), len(drawn))

    entries: dict[str, Any] = {}
    for label, handle in sorted(zip(labels, handles), key=lambda pair: position(pair[1])):
        entries.setdefault(label, handle)
    entries.update({h.get_label(): h for h in extra if h.get_label() not in entries})
    if entries:
        ax.legend(list(entries.values()), list(entries), fontsize=8, loc=kwargs.pop("loc", "best"),
                  framealpha=0.85, **kwargs)


def _outside_legend(ax: Axes, extra: Sequence[Artist] = (), **kwargs: Any) -> None:
    """:func:`_legend` right of the axes, where it covers nothing."""
    _legend(ax, extra, loc="upper left", bbox_to_anchor=(1.0, 1.0), **kwargs)


def _pad(daily: pd.DataFrame | None) -> float:
    # Day labels sit just above the axes; keep the title clear of them.
    return 16.0 if daily is not None and not daily.empty else 6.0


def _title(ax: Axes, title: str, pad: float = 6.0) -> None:
    # y given: the title stays ``pad`` points over the axes. Left to matplotlib, every draw
    # measures the whole y axis again to see if the title must move (it never must here:
    # nothing is drawn over these axes but the day labels, which the pad clears).
    ax.set_title(safe_text(title), loc="left", fontweight="bold", fontsize=11, pad=pad, y=1.0)


# ---------------------------------------------------------------------------
# timelines (a day or the whole week)


def plot_availability(
    snapshots: pd.DataFrame,
    ax: Axes | None = None,
    *,
    slo_percent: float = 99.9,
    anomalies: pd.DataFrame | None = None,
    daily: pd.DataFrame | None = None,
    label_days: bool = True,
    title: str | None = None,
) -> Figure:
    """Availability per snapshot, the SLO line, and the intervals below it shaded.

    Parameters
    ----------
    snapshots
        Snapshot rows (UTC index) with an ``availability`` column, e.g.
        :func:`stabmon.report.rundata.day_snapshots`.
    ax
        Axes to draw on; a new figure when ``None``.
    slo_percent
        The availability SLO (a snapshot complies at or above it).
    anomalies
        Anomaly events to mark (``error_rate`` events are shown here too,
        since availability is ``100 - error_rate``); ``None`` for none.
    daily
        Daily table to draw day boundaries and degraded days (multi-day charts).
    label_days
        Write "day N" over each day (off for the lower panels of a stack).
    title
        Chart title; a default one names the SLO.
    """
    figure, ax = _figure_and_axes(ax)
    values = snapshots["availability"]
    ax.plot(_x(snapshots.index), values, color=SIGNAL_COLORS["availability"], linewidth=1.4,
            marker="." if len(values) <= 60 else None, label="availability")
    ax.axhline(slo_percent, label=f"SLO {slo_percent:g} %", **SLO_LINE)
    _shade(ax, interval_spans(values < slo_percent, _interval_of(snapshots)), color=BREACH_COLOR,
           alpha=0.15, label="below SLO")
    mark_days(ax, daily, label_days=label_days)
    present = values.dropna()
    low = min(float(present.min()), slo_percent) if present.size else slo_percent
    margin = max((100.0 - low) * 0.08, 0.01)
    ax.set_ylim(low - margin, 100.0 + margin)
    ax.set_ylabel("availability (%)")
    if anomalies is not None and not anomalies.empty:
        mark_anomalies(ax, anomalies, ["availability"])
    _time_axis(ax, *_frame_span(snapshots))
    _tidy(ax)
    _title(ax, title or f"Availability vs the {slo_percent:g} % SLO", pad=_pad(daily if label_days else None))
    _legend(ax, loc="lower left")
    return figure


def plot_error_rate(
    snapshots: pd.DataFrame,
    ax: Axes | None = None,
    *,
    threshold_percent: float = 0.1,
    anomalies: pd.DataFrame | None = None,
    daily: pd.DataFrame | None = None,
    label_days: bool = True,
    title: str | None = None,
) -> Figure:
    """Error rate (5xx share) per snapshot, with the degradation threshold.

    A day is degraded on error rate when its *average* reaches
    ``threshold_percent``; snapshots at or above it are shaded so the
    intervals that pushed the average up stand out.
    """
    figure, ax = _figure_and_axes(ax)
    values = snapshots["error_rate"]
    ax.plot(_x(snapshots.index), values, color=SIGNAL_COLORS["error_rate"], linewidth=1.4,
            marker="." if len(values) <= 60 else None, label="error rate")
    ax.axhline(threshold_percent, label=f"degraded if day average ≥ {threshold_percent:g} %", **SLO_LINE)
    _shade(ax, interval_spans(values >= threshold_percent, _interval_of(snapshots)), color=BREACH_COLOR,
           alpha=0.12, label=f"≥ {threshold_percent:g} %")
    mark_days(ax, daily, label_days=label_days)
    present = values.dropna()
    top = max(float(present.max()) if present.size else 0.0, threshold_percent)
    ax.set_ylim(0, top * 1.15)
    ax.set_ylabel("error rate (% of requests)")
    if anomalies is not None and not anomalies.empty:
        mark_anomalies(ax, anomalies, ["error_rate"])
    _time_axis(ax, *_frame_span(snapshots))
    _tidy(ax)
    _title(ax, title or "Error rate (HTTP 5xx)", pad=_pad(daily if label_days else None))
    _legend(ax, loc="upper left")
    return figure


def plot_latency(
    snapshots: pd.DataFrame,
    ax: Axes | None = None,
    *,
    slo_p99_ms: float = 500.0,
    anomalies: pd.DataFrame | None = None,
    daily: pd.DataFrame | None = None,
    label_days: bool = True,
    title: str | None = None,
) -> Figure:
    """p95 and p99 latency per snapshot, the p99 SLO line, and the intervals over it shaded."""
    figure, ax = _figure_and_axes(ax)
    x = _x(snapshots.index)
    small = len(snapshots) <= 60
    ax.plot(x, snapshots["p95_latency_ms"], color=SIGNAL_COLORS["p95_latency_ms"], linewidth=1.3,
            marker="." if small else None, label="p95")
    ax.plot(x, snapshots["p99_latency_ms"], color=SIGNAL_COLORS["p99_latency_ms"], linewidth=1.5,
            marker="." if small else None, label="p99")
    ax.axhline(slo_p99_ms, label=f"p99 SLO < {slo_p99_ms:g} ms", **SLO_LINE)
    _shade(ax, interval_spans(snapshots["p99_latency_ms"] >= slo_p99_ms, _interval_of(snapshots)),
           color=BREACH_COLOR, alpha=0.15, label="p99 over SLO")
    mark_days(ax, daily, label_days=label_days)
    present = snapshots[["p95_latency_ms", "p99_latency_ms"]].stack().dropna()
    top = max(float(present.max()) if present.size else 0.0, slo_p99_ms)
    ax.set_ylim(0, top * 1.12)
    ax.set_ylabel("latency (ms)")
    if anomalies is not None and not anomalies.empty:
        mark_anomalies(ax, anomalies, ["p95_latency_ms", "p99_latency_ms"])
    _time_axis(ax, *_frame_span(snapshots))
    _tidy(ax)
    _title(ax, title or f"Latency p95 / p99 vs the {slo_p99_ms:g} ms p99 SLO", pad=_pad(daily if label_days else None))
    _legend(ax, loc="upper left")
    return figure


def plot_resources(
    snapshots: pd.DataFrame,
    ax: Axes | None = None,
    *,
    anomalies: pd.DataFrame | None = None,
    daily: pd.DataFrame | None = None,
    label_days: bool = True,
    title: str | None = None,
) -> Figure:
    """CPU and memory use as a percentage of the container limits."""
    figure, ax = _figure_and_axes(ax)
    x = _x(snapshots.index)
    for metric, label in (("cpu_percent", "CPU"), ("memory_percent", "memory")):
        ax.plot(x, snapshots[metric], color=SIGNAL_COLORS[metric], linewidth=1.4, label=label)
    mark_days(ax, daily, label_days=label_days)
    present = snapshots[["cpu_percent", "memory_percent"]].stack().dropna()
    ax.set_ylim(0, max(100.0, float(present.max()) * 1.05 if present.size else 100.0))
    ax.set_ylabel("% of limit")
    if anomalies is not None and not anomalies.empty:
        mark_anomalies(ax, anomalies, ["cpu_percent", "memory_percent"])
    _time_axis(ax, *_frame_span(snapshots))
    _tidy(ax)
    _title(ax, title or "CPU and memory (% of the container limits)", pad=_pad(daily if label_days else None))
    _legend(ax, loc="upper left")
    return figure


def plot_metric(
    snapshots: pd.DataFrame,
    metric: str,
    ax: Axes | None = None,
    *,
    threshold: float | None = None,
    baseline: float | None = None,
    anomalies: pd.DataFrame | None = None,
    daily: pd.DataFrame | None = None,
    label_days: bool = True,
    title: str | None = None,
) -> Figure:
    """Any one snapshot column over time, with an optional threshold and baseline line.

    Used for exploring; ``metric`` may be a metric (``p99_latency_ms``) or a
    derived column (``drift_p99_latency_ms``, ``drift_mean``).
    """
    figure, ax = _figure_and_axes(ax)
    values = snapshots[metric]
    base_metric = metric[len("drift_"):] if metric.startswith("drift_") else metric
    ax.plot(_x(snapshots.index), values, color=SIGNAL_COLORS.get(base_metric, "#0072B2"), linewidth=1.4,
            label=METRIC_LABELS.get(metric, metric))
    if threshold is not None:
        ax.axhline(threshold, label=f"threshold {threshold:g}", **SLO_LINE)
    if baseline is not None:
        ax.axhline(baseline, color="#27AE60", linestyle=":", linewidth=1.4, label=f"baseline {baseline:g}")
    mark_days(ax, daily, label_days=label_days)
    if anomalies is not None and not anomalies.empty:
        mark_anomalies(ax, anomalies, [metric])
    unit = "% drift from baseline" if metric.startswith("drift_") else METRIC_UNITS.get(metric, "")
    ax.set_ylabel(f"{metric} ({unit})" if unit else metric)
    _time_axis(ax, *_frame_span(snapshots))
    _tidy(ax)
    _title(ax, title or f"{metric} over time", pad=_pad(daily if label_days else None))
    _legend(ax, loc="best")
    return figure


def plot_alert_episodes(
    episodes: pd.DataFrame,
    ax: Axes | None = None,
    *,
    start: Any = None,
    end: Any = None,
    daily: pd.DataFrame | None = None,
    title: str | None = None,
) -> Figure:
    """Alert episodes as spans, one row per alert (name and distinguishing labels).

    Parameters
    ----------
    episodes
        :attr:`stabmon.report.rundata.RunData.episodes` rows (``span_start``,
        ``span_end``, ``alertname``, ``label_text``, ``severity``).
    start, end
        The time range to show (a day), UTC. When omitted, the span the
        snapshots of ``daily``'s days cover (the whole window, with day
        boundaries drawn; see :func:`_daily_span`). An episode running past
        an end is cut there; its duration label stays on the axis.
    daily
        The daily table, for the range and the day boundaries.
    """
    if start is None or end is None:
        if daily is None or daily.empty:
            raise ValueError("plot_alert_episodes needs start and end, or the daily table")
        start, end = _daily_span(daily)
    lanes = [] if episodes.empty else list(dict.fromkeys(zip(episodes["alertname"], episodes["label_text"])))
    figure, ax = _figure_and_axes(ax, (11.0, 1.4 + 0.45 * max(len(lanes), 1)))
    axis_left, axis_right = mdates.date2num(_xt(start)), mdates.date2num(_xt(end))
    if not lanes:
        ax.text(0.5, 0.5, "No alert fired in this period", transform=ax.transAxes, ha="center", va="center",
                color="#555555")
        ax.set_yticks([])
    else:
        named: set[str] = set()
        for lane, key in enumerate(lanes):
            rows = episodes[(episodes["alertname"] == key[0]) & (episodes["label_text"] == key[1])]
            for _, row in rows.iterrows():
                left, width = _bar_extent(row["span_start"], row["span_end"], start, end)
                severity = row["severity"]
                ax.barh(lane, width, left=left, height=0.6, color=SEVERITY_COLORS.get(severity, "#777777"),
                        alpha=0.9, label=None if severity in named else f"{severity} alert")
                named.add(severity)
                # The label names the whole episode; it sits by the part of the bar on the axis.
                visible_left, visible_right = max(left, axis_left), min(left + width, axis_right)
                place_label(ax, format_duration(row["duration_minutes"] / 60.0),
                            beside(visible_left, visible_right, lane), fontsize=8, color="#333333")
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels([safe_text(name) for name, _ in lanes], fontsize=9)
        ax.set_ylim(len(lanes) - 0.4, -0.6)
    mark_days(ax, daily, label_days=False)
    _time_axis(ax, start, end)
    ax.grid(True, axis="x", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _outside_legend(ax)
    _title(ax, title or f"Alert episodes ({len(episodes)})")
    return figure


def plot_drift_by_metric(
    drift_by_metric: Mapping[str, float] | pd.Series,
    ax: Axes | None = None,
    *,
    threshold_percent: float = 10.0,
    title: str | None = None,
) -> Figure:
    """Average drift from the baseline of each metric, against the drift threshold.

    A log scale is used when one metric drifts by far more than the others
    (an error rate of 0.5 % against a baseline of 0.02 % is a 2,400 % drift),
    so the small drifts stay readable.
    """
    series = pd.Series(drift_by_metric, dtype="float64").dropna().sort_values()
    if series.empty:
        return not_available(ax, "No drift figures: the run has no baseline", title=title or "Drift from baseline")
    figure, ax = _figure_and_axes(ax, (9.0, 0.6 + 0.45 * len(series)))
    colors = [BREACH_COLOR if v > threshold_percent else "#0072B2" for v in series]
    labels = [METRIC_LABELS.get(m, m) for m in series.index]
    ax.barh(labels, series.clip(lower=0.01), color=colors)
    ax.axvline(threshold_percent, label=f"threshold {threshold_percent:g} %", **SLO_LINE)
    if series.max() > 20 * threshold_percent:
        ax.set_xscale("log")
        # Decades as plain numbers (0.1, 1, 10, 1,000), not 10^n: read at a
        # glance, and no mathtext to lay out; no minor ticks between them.
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("average drift from baseline (%, log scale)")
    else:
        ax.set_xlabel("average drift from baseline (%)")
    for row, value in enumerate(series):
        place_label(ax, f"{value:,.1f} %", beside(0.01, max(value, 0.01), row), fontsize=8)
    ax.margins(x=0.15)
    ax.grid(True, axis="x", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _title(ax, title or "Drift from baseline by metric (red: over threshold)")
    _legend(ax, [Patch(color=BREACH_COLOR, label="over the threshold"),
                 Patch(color="#0072B2", label="within the threshold")],
            loc="lower right")
    return figure


# ---------------------------------------------------------------------------
# the week


def plot_slo_compliance(
    daily: pd.DataFrame,
    ax: Axes | None = None,
    *,
    target_percent: float = 95.0,
    title: str | None = None,
) -> Figure:
    """Per-day availability and latency SLO compliance bars against the target line.

    A day below ``target_percent`` on either signal is degraded; days with no
    data are labelled instead of drawn as 0.
    """
    figure, ax = _figure_and_axes(ax, (11.0, 3.8))
    days = list(daily.index)
    x = np.arange(len(days))
    width = 0.38
    for offset, column, label, color in (
        (-width / 2, "slo_compliance_percent", "availability SLO", SIGNAL_COLORS["availability"]),
        (width / 2, "latency_slo_compliance_percent", "latency SLO", SIGNAL_COLORS["p99_latency_ms"]),
    ):
        values = daily[column].astype("float64")
        bars = ax.bar(x + offset, values.fillna(0), width, label=label, color=color, zorder=2)
        for bar, value, count in zip(bars, values, daily.get("snapshot_count", pd.Series(1, index=daily.index))):
            middle = bar.get_x() + bar.get_width() / 2
            if math.isnan(value):
                # Each SLO of each day shows: a figure that is missing says so where its bar would be.
                bar.set_visible(False)
                if count:
                    ax.text(middle, 2, "no data", ha="center", va="bottom", rotation=90, fontsize=7,
                            color="#777777")
                continue
            place_label(ax, f"{value:.0f}", above(middle, value, gap=1.5), fontsize=7)
            if value < target_percent:
                bar.set_edgecolor(BREACH_COLOR)
                bar.set_linewidth(2)
    ax.axhline(target_percent, label=f"target {target_percent:g} %", **SLO_LINE)
    for i, (day_number, row) in enumerate(daily.iterrows()):
        if row.get("snapshot_count", 0) == 0:
            ax.text(i, 50, "no data", ha="center", va="center", rotation=90, color="#777777")
        elif bool(row.get("degraded")):
            ax.axvspan(i - 0.5, i + 0.5, color=DEGRADED_COLOR, alpha=0.14, linewidth=0, zorder=0,
                       label="degraded day")
            reasons = [name for name, key in (("availability", "availability_degraded"),
                                              ("latency", "latency_degraded"),
                                              ("error rate", "error_rate_degraded")) if bool(row.get(key))]
            place_label(ax, "degraded on\n" + ", ".join(reasons), above(i, 100.0, gap=12.0, steps=3, step=4.0),
                        fontsize=7, color=BREACH_COLOR, fontweight="bold")
    ax.set_xticks(x)
    ax.set_xticklabels([f"day {d}" for d in days])
    ax.set_ylim(0, 125)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("snapshots meeting the SLO (%)")
    _tidy(ax)
    _title(ax, title or f"SLO compliance per day (a day is degraded below {target_percent:g} %)")
    _outside_legend(ax, [Patch(facecolor="white", edgecolor=BREACH_COLOR, linewidth=2, label="below the target")])
    return figure


def plot_week_signals(
    snapshots: pd.DataFrame,
    daily: pd.DataFrame,
    *,
    availability_slo_percent: float = 99.9,
    latency_slo_p99_ms: float = 500.0,
    error_rate_threshold_percent: float = 0.1,
    anomalies: pd.DataFrame | None = None,
    figure: Figure | None = None,
) -> Figure:
    """The golden signals over the whole window, stacked, with day boundaries and degraded days.

    Four panels sharing the time axis: availability, error rate, latency,
    CPU and memory. This is the week-level view of the daily charts.
    """
    figure = figure or new_figure((11.0, 11.0))
    axes = figure.subplots(4, 1, sharex=True)
    plot_availability(snapshots, axes[0], slo_percent=availability_slo_percent, daily=daily, anomalies=anomalies,
                      title="Availability")
    # Every panel shades the degraded days (and names them in its legend); only the top one labels the days.
    plot_error_rate(snapshots, axes[1], threshold_percent=error_rate_threshold_percent, daily=daily,
                    label_days=False, anomalies=anomalies, title="Error rate")
    plot_latency(snapshots, axes[2], slo_p99_ms=latency_slo_p99_ms, daily=daily, label_days=False,
                 anomalies=anomalies, title="Latency p95 / p99")
    plot_resources(snapshots, axes[3], daily=daily, label_days=False, anomalies=anomalies, title="CPU and memory")
    for ax in axes[:-1]:
        ax.set_xlabel("")
    _title(axes[0], "Availability", pad=14)
    figure.suptitle("The golden signals over the window (shaded days are degraded, red bands breach the SLO)",
                    x=0.01, ha="left", fontweight="bold")
    return figure


def plot_drift_heatmap(
    matrix: pd.DataFrame,
    ax: Axes | None = None,
    *,
    threshold_percent: float = 10.0,
    title: str | None = None,
) -> Figure:
    """Day x metric heatmap of the average drift from the baseline.

    Colours are capped at three times the threshold (one runaway metric
    would otherwise wash every other cell out); the cell text gives the real
    figure and is bold when over the threshold. Days with no figure are grey.
    """
    if matrix.empty or matrix.isna().all().all():
        return not_available(ax, "No drift figures: the run has no baseline", title=title or "Drift heatmap")
    figure, ax = _figure_and_axes(ax, (9.5, 1.2 + 0.45 * len(matrix)))
    values = matrix.to_numpy(dtype="float64")
    cap = 3.0 * threshold_percent
    cmap = ListedColormap(["#EAF4EA", "#FDEBD0", "#F5B041", "#E67E22", "#C0392B"]).with_extremes(bad="#DDDDDD")
    norm = BoundaryNorm([0, threshold_percent / 2, threshold_percent, 1.5 * threshold_percent, 2 * threshold_percent,
                         cap], cmap.N)
    image = ax.imshow(np.ma.masked_invalid(np.minimum(values, cap * 0.9999)), cmap=cmap, norm=norm, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        text = "n/a" if math.isnan(value) else (f"{value:,.0f}" if value >= 100 else f"{value:.1f}")
        over = not math.isnan(value) and value > threshold_percent
        ax.text(j, i, text, ha="center", va="center", fontsize=8, fontweight="bold" if over else "normal",
                color="white" if over and value >= 1.5 * threshold_percent else "#222222")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_xticklabels([METRIC_LABELS.get(c, c) for c in matrix.columns])
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_yticklabels([f"day {d}" for d in matrix.index])
    ax.tick_params(length=0)
    # In the axes' own coordinates, so it follows the axes wherever the layout puts it.
    colorbar = figure.colorbar(image, cax=ax.inset_axes((1.02, 0.0, 0.025, 1.0)), extend="max")
    colorbar.set_label(f"drift (%), capped at {cap:g}")
    _title(ax, title or f"Average drift from baseline, day x metric (bold: over {threshold_percent:g} %)")
    return figure


def plot_stability_score(weekly: Mapping[str, Any], ax: Axes | None = None, *, title: str | None = None) -> Figure:
    """The stability score on the A-F grade scale, with what each component contributed.

    Upper bar: the grade bands and a marker at the score. Lower bar: the
    score's parts (0.4 x availability compliance, 0.4 x latency compliance,
    0.2 x (100 - capped drift)) and what each lost.
    """
    score = weekly.get("stability_score")
    if score is None:
        return not_available(ax, "Stability score not available (no SLO compliance figures)",
                             title=title or "Stability score")
    figure, ax = _figure_and_axes(ax, (11.0, 2.6))
    for grade, low, high, color in GRADE_BANDS:
        ax.barh(1, high - low, left=low, height=0.5, color=color, alpha=0.85, gid=IN_PLACE)
        ax.text((low + high) / 2, 1, grade, ha="center", va="center", fontweight="bold", color="white")
    ax.plot([score, score], [0.68, 1.32], color="black", linewidth=3, gid=IN_PLACE)  # named by its figure
    place_label(ax, f"{score:.1f}", above(score, 1.32, gap=2.0), fontweight="bold")
    settings = weekly.get("settings") or {}
    parts = _score_parts(weekly, settings)
    left = 0.0
    colors = [SIGNAL_COLORS["availability"], SIGNAL_COLORS["p99_latency_ms"], "#7F8C8D"]
    for (name, earned, possible), color in zip(parts, colors):
        ax.barh(0, earned, left=left, height=0.5, color=color, label=f"{name}: {earned:.1f} of {possible:.0f}")
        left += earned
    if left < 100:
        ax.barh(0, 100 - left, left=left, height=0.5, color="white", edgecolor="#BBBBBB", hatch="///",
                label=f"lost: {100 - left:.1f}")
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.5, 1.7)
    ax.set_yticks([0, 1])
    ax.set_yticklabels(["components", "grade"])
    ax.set_xlabel("stability score (0-100)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    grade = weekly.get("stability_grade")
    _title(ax, title or f"Stability score {score:.1f} / 100, grade {grade}")
    _outside_legend(ax)
    return figure


def _score_parts(weekly: Mapping[str, Any], settings: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    # Mirrors analysis.stability_score so the bar adds up to the score shown.
    wa = float(settings.get("score_weight_availability", 0.4))
    wl = float(settings.get("score_weight_latency", 0.4))
    wd = float(settings.get("score_weight_drift", 0.2))
    cap = float(settings.get("drift_penalty_cap_percent", 20.0))
    availability = weekly.get("avg_slo_compliance_percent") or 0.0
    latency = weekly.get("avg_latency_slo_compliance_percent") or 0.0
    drift = min(weekly.get("avg_drift_percent") or 0.0, cap)
    return [
        ("availability compliance", availability * wa, 100 * wa),
        ("latency compliance", latency * wl, 100 * wl),
        ("drift", (100.0 - drift) * wd, 100 * wd),
    ]


def plot_resource_trend(
    daily: pd.DataFrame,
    ax: Axes | None = None,
    *,
    trend: str | None = None,
    cpu_change_percent: float | None = None,
    memory_change_percent: float | None = None,
    title: str | None = None,
) -> Figure:
    """Daily average and peak CPU and memory, with the first-half and last-half means the trend compares."""
    figure, ax = _figure_and_axes(ax, (11.0, 3.8))
    days = daily[daily["snapshot_count"] > 0] if "snapshot_count" in daily else daily
    x = np.asarray(days.index, dtype=float)
    n = len(days)
    half = n // 2
    for avg, peak, label in (("avg_cpu_percent", "peak_cpu_percent", "CPU"),
                             ("avg_memory_percent", "peak_memory_percent", "memory")):
        color = SIGNAL_COLORS["cpu_percent" if label == "CPU" else "memory_percent"]
        ax.plot(x, days[avg], marker="o", color=color, linewidth=1.8, label=f"{label} daily average")
        ax.plot(x, days[peak], marker="^", color=color, linewidth=0.9, linestyle=":", alpha=0.8,
                label=f"{label} daily peak")
        if half:
            first, last = days[avg].iloc[:half].mean(), days[avg].iloc[n - half:].mean()
            ax.hlines(first, x[0] - 0.2, x[half - 1] + 0.2, color=color, linestyle="--", linewidth=1, alpha=0.7)
            ax.hlines(last, x[n - half] - 0.2, x[-1] + 0.2, color=color, linestyle="--", linewidth=1, alpha=0.7)
    if half:
        ax.plot([], [], color="#555555", linestyle="--", linewidth=1, label="half-week means (trend)")
    ax.set_xticks(x)
    ax.set_xticklabels([f"day {int(d)}" for d in x])
    ax.set_ylim(0, max(100.0, float(np.nanmax(days[["peak_cpu_percent", "peak_memory_percent"]].to_numpy(float)))
                       * 1.05 if n else 100.0))
    ax.set_ylabel("% of limit")
    _tidy(ax)
    details = []
    if cpu_change_percent is not None:
        details.append(f"CPU {cpu_change_percent:+.1f} %")
    if memory_change_percent is not None:
        details.append(f"memory {memory_change_percent:+.1f} %")
    heading = f"Resource trend: {trend}" if trend else "Resource use per day"
    if details:
        heading += f" ({', '.join(details)}, last days vs first days)"
    _title(ax, title or heading)
    ax.legend(fontsize=8, loc="upper left", ncols=3, framealpha=0.9)
    return figure


# ---------------------------------------------------------------------------
# the retrospective


def plot_incident_timeline(
    snapshots: pd.DataFrame,
    episodes: pd.DataFrame,
    daily: pd.DataFrame,
    ax: Axes | None = None,
    *,
    anomalies: pd.DataFrame | None = None,
    availability_slo_percent: float = 99.9,
    latency_slo_p99_ms: float = 500.0,
    title: str | None = None,
) -> Figure:
    """The week's incidents on one timeline.

    Rows, top to bottom: degraded days, intervals below the availability SLO,
    intervals over the p99 latency SLO, one row per alert (coloured by
    severity), and the anomalies (when ``anomalies.jsonl`` exists; the row
    says "not available" when it does not).
    """
    lanes: list[str] = ["degraded days", "availability < SLO", "p99 latency ≥ SLO"]
    alert_keys = [] if episodes.empty else list(dict.fromkeys(zip(episodes["alertname"], episodes["label_text"])))
    lanes += [f"alert: {name}" for name, _ in alert_keys]
    lanes.append("anomalies")
    figure, ax = _figure_and_axes(ax, (11.0, 1.6 + 0.42 * len(lanes)))
    interval = _interval_of(snapshots)

    window = _frame_span(snapshots)

    named: set[str] = set()

    def bar(lane: int, begin: Any, end: Any, color: str, label: str) -> None:
        # Each kind of bar is named once in the legend.
        left, width = _bar_extent(begin, end, *window)
        ax.barh(lane, width, left=left, height=0.6, color=color, alpha=0.9, label=None if label in named else label)
        named.add(label)

    for day_number, begin, end in day_spans(daily):
        if bool(daily.loc[day_number].get("degraded")):
            bar(0, begin, end, DEGRADED_COLOR, "degraded day")
    for begin, end in interval_spans(snapshots["availability"] < availability_slo_percent, interval):
        bar(1, begin, end, SIGNAL_COLORS["availability"], f"availability below the {availability_slo_percent:g} % SLO")
    for begin, end in interval_spans(snapshots["p99_latency_ms"] >= latency_slo_p99_ms, interval):
        bar(2, begin, end, SIGNAL_COLORS["p99_latency_ms"], f"p99 latency over the {latency_slo_p99_ms:g} ms SLO")
    for offset, (name, labels) in enumerate(alert_keys):
        rows = episodes[(episodes["alertname"] == name) & (episodes["label_text"] == labels)]
        for _, row in rows.iterrows():
            bar(3 + offset, row["span_start"], row["span_end"], SEVERITY_COLORS.get(row["severity"], "#777777"),
                f"{row['severity']} alert")
    anomaly_lane = len(lanes) - 1
    if anomalies is None:
        ax.text(_xt(snapshots.index.min()), anomaly_lane, "  not available (no anomalies.jsonl)", va="center",
                fontsize=8, color="#777777")
    elif anomalies.empty:
        ax.text(_xt(snapshots.index.min()), anomaly_lane, "  none detected", va="center", fontsize=8, color="#777777")
    else:
        for severity, group in anomalies.groupby("severity", sort=False):
            ax.scatter(_x(pd.DatetimeIndex(group["timestamp"])), [anomaly_lane] * len(group),
                       color=ANOMALY_COLORS.get(severity, "#555555"), s={"high": 60, "medium": 40}.get(severity, 22),
                       marker="D", zorder=5, label=f"{severity} anomaly")
    mark_days(ax, daily)
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([safe_text(lane) for lane in lanes], fontsize=9)
    ax.set_ylim(len(lanes) - 0.4, -0.6)
    _time_axis(ax, *window)
    ax.grid(True, axis="x", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _outside_legend(ax)
    _title(ax, title or "What happened, when (UTC)", pad=14)
    return figure


def plot_burndown(burndown: Mapping[str, Any] | None, ax: Axes | None = None, *, title: str | None = None) -> Figure:
    """Error-budget burn-down: budget consumed per day, cumulative use, and what remains.

    ``burndown`` is the ``slo_burndown.json`` document (docs/contract.md §4);
    ``None`` draws a "not available" note (the file is written by a later
    stage of the pipeline).
    """
    if not burndown or not burndown.get("days"):
        return not_available(ax, "Error-budget burn-down not available (no slo_burndown.json in the run folder)",
                             title=title or "Error budget")
    days = pd.DataFrame(burndown["days"]).sort_values("day_number")
    figure, ax = _figure_and_axes(ax, (11.0, 3.8))
    x = days["day_number"].to_numpy(dtype=float)
    ax.bar(x, days["budget_consumed_percent"], width=0.6, color=SIGNAL_COLORS["error_rate"], alpha=0.55,
           label="consumed that day")
    ax.plot(x, days["cumulative_consumed_percent"], marker="o", color=BREACH_COLOR, linewidth=2,
            label="consumed so far")
    ax.plot(x, days["budget_remaining_percent"], marker="s", color="#27AE60", linewidth=2, label="remaining")
    ax.axhline(100, label="budget exhausted", **SLO_LINE)
    rates = days["burn_rate"] if "burn_rate" in days else pd.Series([None] * len(days))
    for xi, rate, used in zip(x, rates, days["budget_consumed_percent"]):
        if rate is not None and not (isinstance(rate, float) and math.isnan(rate)):
            place_label(ax, f"×{rate:.1f}", above(float(xi), max(float(used), 0.0)), fontsize=7, color="#333333")
    ax.set_xticks(x)
    ax.set_xticklabels([f"day {int(d)}" for d in x])
    top = float(np.nanmax(days[["cumulative_consumed_percent", "budget_remaining_percent"]].to_numpy(float)))
    ax.set_ylim(min(0.0, float(days["budget_remaining_percent"].min())) - 5, max(105.0, top * 1.1))
    ax.set_ylabel("% of the error budget")
    _tidy(ax)
    target = burndown.get("slo_target_percent")
    window_days = burndown.get("window_days")
    exhaustion = burndown.get("projected_exhaustion")
    heading = "Error budget"
    if target is not None:
        heading += f" of the {target:g} % SLO"
    if window_days:
        heading += f" over {window_length(burndown)}"
    exhausted = days[days["cumulative_consumed_percent"] >= 100.0]
    if not exhausted.empty:
        heading += (f": exhausted on day {int(exhausted['day_number'].iloc[0])} "
                    f"({float(days['cumulative_consumed_percent'].iloc[-1]):.0f} % used by day "
                    f"{int(days['day_number'].iloc[-1])})")
    elif exhaustion:
        heading += f": projected exhaustion {exhaustion}"
    else:
        heading += ": not projected to run out"
    _title(ax, title or heading)
    _outside_legend(ax)
    ax.text(1.0, -0.2, "×n: burn rate (1 = spending exactly the budget)", transform=ax.transAxes, ha="right",
            fontsize=7, color="#555555")
    return figure


def plot_anomaly_timelines(
    snapshots: pd.DataFrame,
    anomalies: pd.DataFrame | None,
    *,
    daily: pd.DataFrame | None = None,
    figure: Figure | None = None,
) -> Figure:
    """One timeline per metric that had anomalies, with the events marked.

    ``anomalies`` is ``None`` when the run has no ``anomalies.jsonl``: the
    chart says the data is not available.
    """
    if anomalies is None:
        return not_available(None, "Anomalies not available (no anomalies.jsonl in the run folder)",
                             title="Anomalies")
    if anomalies.empty:
        return not_available(None, "No anomaly detected in this period", title="Anomalies")
    # Panels in the contract's metric order, whatever order the events came in.
    named = set(anomalies["metric"])
    metrics = [m for m in METRIC_FIELDS if m in named] + sorted(
        m for m in named if m not in METRIC_FIELDS and m in snapshots.columns)
    if not metrics:
        return not_available(None, "The anomalies name no metric of the snapshots", title="Anomalies")
    figure = figure or new_figure((11.0, 1.0 + 2.4 * len(metrics)))
    axes = figure.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    for ax, metric in zip(axes, metrics):
        of_metric = anomalies[anomalies["metric"] == metric]
        # Episodes, not lines: an excursion and its return are one.
        count = of_metric["episode"].nunique() if "episode" in of_metric else len(of_metric)
        plot_metric(snapshots, metric, ax, anomalies=anomalies, daily=daily,
                    title=f"{METRIC_LABELS.get(metric, metric)}: {count} anomal{'y' if count == 1 else 'ies'}")
    for ax in axes[:-1]:
        ax.set_xlabel("")
    return figure


# ---------------------------------------------------------------------------
# the fleet

OK_COLOR = "#27AE60"
NO_DATA_COLOR = "#DDDDDD"
SCORE_COLOR = "#0072B2"


def plot_degradation_heatmap(matrix: pd.DataFrame, ax: Axes | None = None, *, title: str | None = None) -> Figure:
    """Service x day heatmap of degraded days: red degraded, green fine, grey no data.

    Parameters
    ----------
    matrix
        :func:`stabmon.report.fleet_views.degradation_matrix`: one row per
        service (worst first), one column per day; 1 degraded, 0 fine, NaN
        no data.
    ax
        Axes to draw on; a new figure when ``None``.
    title
        Replaces the default title.

    Returns
    -------
    Figure
        The figure of ``ax``.
    """
    if matrix.empty:
        return not_available(ax, "No service in the fleet summary", title=title or "Degraded days per service")
    figure, ax = _figure_and_axes(ax, (9.5, 1.4 + 0.3 * len(matrix)))
    cmap = ListedColormap([OK_COLOR, BREACH_COLOR]).with_extremes(bad=NO_DATA_COLOR)
    ax.imshow(np.ma.masked_invalid(matrix.to_numpy(dtype="float64")), cmap=cmap, vmin=0, vmax=1, aspect="auto",
              interpolation="nearest")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_xticklabels([str(c) for c in matrix.columns])
    ax.set_yticks(range(matrix.shape[0]))
    # Service names are Prometheus label values: a "$" must stay text.
    ax.set_yticklabels([safe_text(s) for s in matrix.index])
    ax.tick_params(length=0)
    ax.legend(handles=[Patch(color=BREACH_COLOR, label="degraded"), Patch(color=OK_COLOR, label="fine"),
                       Patch(color=NO_DATA_COLOR, label="no data")],
              fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), framealpha=0.9)
    _title(ax, title or "Degraded days per service, worst service first")
    return figure


def plot_score_ranking(
    summary: Mapping[str, Any],
    ax: Axes | None = None,
    *,
    top_n: int | None = 30,
    title: str | None = None,
) -> Figure:
    """Horizontal bars of the services' stability scores, worst at the top, rollbacks in red.

    A service with no score (no data) gets no bar but a "no data" label on
    its row: a bar at 0 would read as the worst possible score.

    Parameters
    ----------
    summary
        The ``fleet_summary.json`` document; its ``services`` are worst first.
    ax
        Axes to draw on; a new figure when ``None``.
    top_n
        How many services to show (all when ``None``).
    title
        Replaces the default title.

    Returns
    -------
    Figure
        The figure of ``ax``.
    """
    services = list(summary.get("services") or [])
    if top_n:
        services = services[:top_n]
    if not services:
        return not_available(ax, "No service in the fleet summary", title=title or "Stability score ranking")
    figure, ax = _figure_and_axes(ax, (9.5, 1.4 + 0.3 * len(services)))
    # Row 0 at the bottom: the worst service (first in the summary) gets the top row.
    rows = np.arange(len(services))[::-1]
    scored = [(row, e) for row, e in zip(rows, services) if e.get("stability_score") is not None]
    ax.barh([row for row, _ in scored], [float(e["stability_score"]) for _, e in scored], height=0.7, zorder=2,
            color=[BREACH_COLOR if e.get("rollback_recommended") else SCORE_COLOR for _, e in scored])
    for row, entry in zip(rows, services):
        score = entry.get("stability_score")
        if score is None:
            ax.text(1.0, row, "no data", ha="left", va="center", fontsize=8, fontstyle="italic", color="#777777")
        else:
            place_label(ax, f"{float(score):.0f}", beside(0.0, float(score), float(row)), fontsize=7)
    ax.set_yticks(rows)
    ax.set_yticklabels([safe_text(e["service"]) for e in services])
    ax.set_ylim(-0.6, len(services) - 0.4)
    ax.set_xlim(0, 105)
    ax.set_xlabel("stability score (0-100)")
    ax.grid(True, axis="x", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(handles=[Patch(color=BREACH_COLOR, label="rollback recommended"), Patch(color=SCORE_COLOR, label="keep")],
              fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), framealpha=0.9)
    _title(ax, title or "Stability score per service, worst first")
    return figure


# ---------------------------------------------------------------------------
# this release against earlier ones (issue 14)

#: ``worse`` / ``better`` markers of :func:`plot_release_band`.
RELEASE_STATUS_COLORS: dict[str, str] = {"worse": BREACH_COLOR, "better": "#27AE60", "same": "#0072B2",
                                         "nodata": "#BBBBBB"}


def plot_release_band(frame: pd.DataFrame, metric: str, ax: Axes | None = None, *,
                      title: str | None = None) -> Figure:
    """This week's day medians of ``metric`` over the band of the earlier weeks' day medians, day by day.

    Parameters
    ----------
    frame
        One row per day: ``day_number``, ``current`` (this week's median),
        ``low``/``high`` (the lowest and highest earlier week's median),
        ``previous`` (the earlier weeks pooled) and ``status``
        (``better|worse|same|nodata``); missing values are ``NaN``.
    """
    label = METRIC_LABELS.get(metric, metric)
    if frame.empty or frame["current"].isna().all():
        return not_available(ax, f"No {label} to compare", title=title or f"{label}: this release vs earlier")
    figure, ax = _figure_and_axes(ax, (5.5, 2.8))
    days = frame["day_number"].to_numpy()
    ax.fill_between(days, frame["low"].to_numpy(dtype=float), frame["high"].to_numpy(dtype=float),
                    color="#999999", alpha=0.3, linewidth=0, label="earlier releases (range)", zorder=1)
    ax.plot(days, frame["previous"].to_numpy(dtype=float), color="#777777", linestyle="--", linewidth=1,
            label="earlier releases (pooled median)", zorder=2)
    ax.plot(days, frame["current"].to_numpy(dtype=float), color=SCORE_COLOR, linewidth=1.8,
            label="this release", zorder=3)
    for status in ("worse", "better"):
        chosen = frame[frame["status"] == status]
        if not chosen.empty:
            ax.scatter(chosen["day_number"], chosen["current"], color=RELEASE_STATUS_COLORS[status], s=40,
                       zorder=4, label=status)
    ax.set_xticks(days)
    ax.set_xlabel("day after the release")
    ax.set_ylabel(safe_text(label))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best", framealpha=0.9)
    _title(ax, title or f"{label}: this release vs earlier")
    return figure

"""Colours and point labels of the comparison report's plots.

``policy_colours`` gives each policy one colour, the same in every plot and every run; ``place_labels``
labels points so that no label overprints another label or a point.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import Collection
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

FIXED_COLOURS = {
    # references in grey scale: the bound, the greedy bound, the counterfactual
    "oracle": "#000000",
    "myopic_oracle": "#555555",
    "no_discount": "#9a9a9a",
    # baselines and agents: tab10 without its grey
    "ppo": "#1f77b4",
    "a2c": "#ff7f0e",
    "dqn": "#2ca02c",
    "sac": "#d62728",
    "supervised": "#9467bd",
    "uniform": "#8c564b",
    "supervised_closed_loop": "#e377c2",
    "rule_based": "#bcbd22",
    "recurrent_ppo": "#17becf",
    "ppo_distilled": "#393b79",
}
"""Colours of the known policies (``uniform_<depth>`` labels share ``uniform``'s), the same in every report."""

_CYCLE = (  # tab20's light halves and tab20b's darks: not in FIXED_COLOURS, for policies it does not know
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
)


def policy_colours(labels: Iterable[str]) -> dict[str, str]:
    """One colour per policy label: fixed for the known ones, the next free one of a cycle for the rest.

    Args:
        labels: Policy labels in line-up order (the order decides the colours of unknown labels only).

    Returns:
        Label -> hex colour, distinct for distinct labels while the cycle lasts (then it repeats).
    """
    colours: dict[str, str] = {}
    unknown: list[str] = []
    for label in dict.fromkeys(labels):
        base = re.sub(r"_\d+$", "", label) if label.startswith("uniform_") else label
        if base in FIXED_COLOURS and FIXED_COLOURS[base] not in colours.values():
            colours[label] = FIXED_COLOURS[base]
        else:
            unknown.append(label)
    free = [c for c in _CYCLE if c not in colours.values()] or list(_CYCLE)
    for i, label in enumerate(unknown):
        colours[label] = free[i % len(free)]
    return colours


_DIRECTIONS = (  # (dx, dy, ha, va): right first, then above, left, below, the diagonals
    (1, 0, "left", "center"),
    (0.7, 0.7, "left", "bottom"),
    (0, 1, "center", "bottom"),
    (-0.7, 0.7, "right", "bottom"),
    (-1, 0, "right", "center"),
    (-0.7, -0.7, "right", "top"),
    (0, -1, "center", "top"),
    (0.7, -0.7, "left", "top"),
)
_RADII = (7, 12, 18, 26, 36, 48, 62, 78)  # points from the marker


def place_labels(
    ax: Axes,
    points: Sequence[tuple[str, float, float]],
    markers: Sequence[Artist] | None = None,
    fontsize: float = 7,
    pad: float = 2.0,
) -> list[Annotation]:
    """Label points so that no label overlaps another label or a marked point (a deterministic repel).

    Points within a marker's radius of each other on screen share one label (``"a, b"``), and their
    markers (if given) are redrawn as concentric rings, the first largest, so every colour shows. Each
    label tries offsets around its point, nearest first (8 directions x growing radii), and takes the
    first whose text box is inside the axes and clear of the labels placed before and of every point;
    failing that, the first clear one outside the axes; failing that, the one with the least overlap.
    Labels away from their point get a thin leader line. Freezes the axes' limits.

    Args:
        ax: Axes whose data limits already hold the points.
        points: ``(label, x, y)`` in data coordinates; placed in this order.
        markers: The marker artist of each point (a scatter's collection or a plotted line), or None.
        fontsize: Label size in points.
        pad: Pixels kept free around each label box.

    Returns:
        One annotation per group of coincident points, in the order of their first point.
    """
    fig = ax.figure
    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    half = 4.0 * fig.dpi / 72  # half-size of a marker's keep-out box, pixels
    centres = [ax.transData.transform((x, y)) for _, x, y in points]
    keep_out = [Bbox.from_extents(cx - half, cy - half, cx + half, cy + half) for cx, cy in centres]
    groups: list[list[int]] = []
    for i, (cx, cy) in enumerate(centres):
        for group in groups:
            gx, gy = centres[group[0]]
            if (cx - gx) ** 2 + (cy - gy) ** 2 < half**2:
                group.append(i)
                break
        else:
            groups.append([i])
    if markers is not None:
        for group in groups:
            for rank, i in enumerate(group):
                _shrink(markers[i], 1.0 - 0.6 * rank / max(len(group) - 1, 1), rank)
    placed: list[Bbox] = []
    annotations = []
    for group in groups:
        label = ", ".join(points[i][0] for i in group)
        xy = points[group[0]][1:]
        text = ax.annotate(label, xy, xytext=(0, 0), textcoords="offset points", fontsize=fontsize)
        best = (0.0, 0.0, 0, "left", "center")
        best_score = (3, float("inf"))
        for radius in _RADII:
            for dx, dy, ha, va in _DIRECTIONS:
                text.xyann = (dx * radius, dy * radius)
                text.set_ha(ha)
                text.set_va(va)
                box = text.get_window_extent(renderer).padded(pad)
                overlap = sum(_area(box, other) for other in (*placed, *keep_out))
                score = (0 if overlap == 0 and _contains(inside, box) else 1 if overlap == 0 else 2, overlap)
                if score < best_score:
                    best_score, best = score, (dx * radius, dy * radius, radius, ha, va)
            if best_score[0] == 0:
                break
        text.remove()
        ox, oy, radius, ha, va = best
        arrow = dict(arrowstyle="-", color="0.5", linewidth=0.6, shrinkA=0, shrinkB=4) if radius > _RADII[0] else None
        text = ax.annotate(
            label,
            xy,
            xytext=(ox, oy),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=fontsize,
            zorder=5,
            arrowprops=arrow,
            gid=f"label:{label}",
        )
        placed.append(text.get_window_extent(renderer).padded(pad))
        annotations.append(text)
    return annotations


def _shrink(marker: Artist, scale: float, rank: int) -> None:
    """Scale a marker's linear size (the later of coincident markers smaller and on top)."""
    if isinstance(marker, Collection):
        marker.set_sizes(marker.get_sizes() * scale**2)
    else:
        marker.set_markersize(marker.get_markersize() * scale)
    marker.set_zorder(marker.get_zorder() + 0.01 * rank)


def _area(a: Bbox, b: Bbox) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width * height if width > 0 and height > 0 else 0.0


def _contains(outer: Bbox, inner: Bbox) -> bool:
    return outer.x0 <= inner.x0 and outer.y0 <= inner.y0 and inner.x1 <= outer.x1 and inner.y1 <= outer.y1

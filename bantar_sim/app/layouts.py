"""Drawing geometry for the teaching app, computed once and cached.

The app redraws on every monthly step, so nothing here may run per step: the city's tile grid depends
only on the RTs per sub-district, and an RT's network layout only on its number of households and
leaders. Both are cached (`functools.lru_cache`), so a Reset with the same city size reuses them and a
step only sends new colours. A force-directed layout would cost seconds per RT and move every time;
the "street ring" below is instant, stable, and shows the model's own structure: households sit in
street order around the ring (their ring-lattice ties are the short arcs), leaders sit in the middle
with their ties reaching across the street.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

TILE = 0.84          # tile side in grid units (1 unit = tile + gap)
BLOCK_GAP = 1.6      # space between sub-district blocks
LABEL_SPACE = 2.2    # room above a block for its label, in units of the label's font size


@dataclass(frozen=True)
class CityLayout:
    """Where each RT tile and each sub-district block and label goes (SVG user units)."""

    tiles: tuple           # ((x, y), ...) one per RT, in model order (grouped by sub-district)
    blocks: tuple          # ({"name", "x", "y", "w", "h", "label_x", "label_y", "n"}, ...) one per sub-district
    width: float
    height: float
    tile: float
    font: float


@lru_cache(maxsize=16)
def city_layout(rt_counts: tuple[int, ...], names: tuple[str, ...], columns: int = 4) -> CityLayout:
    """Sub-district blocks of equal width in `columns` columns; a block's height shows its RT count.

    RT i of the model (RTs are numbered sub-district by sub-district) gets tile i.
    """
    if len(rt_counts) != len(names):
        raise ValueError(f"city_layout: {len(rt_counts)} RT counts for {len(names)} sub-districts")
    block_cols = max(2, math.ceil(math.sqrt(max(max(rt_counts), 1))))
    font = block_cols / 7.5            # a 13-letter name ("Jambi Selatan") fits the block width
    label_h = LABEL_SPACE * font
    tiles: list[tuple[float, float]] = []
    blocks = []
    cell_w = block_cols + BLOCK_GAP
    y_row = 0.0
    for row_start in range(0, len(rt_counts), columns):
        row = range(row_start, min(row_start + columns, len(rt_counts)))
        row_h = max(math.ceil(rt_counts[s] / block_cols) for s in row)
        for col, s in enumerate(row):
            x0 = col * cell_w
            y0 = y_row + label_h
            n = int(rt_counts[s])
            for k in range(n):
                tiles.append((round(x0 + k % block_cols, 3), round(y0 + k // block_cols, 3)))
            blocks.append({"name": names[s], "n": n, "x": round(x0, 3), "y": round(y0, 3), "w": float(block_cols),
                           "h": float(math.ceil(n / block_cols)), "label_x": round(x0, 3),
                           "label_y": round(y0 - 0.45 * font, 3)})
        y_row += label_h + row_h + BLOCK_GAP
    width = min(columns, len(rt_counts)) * cell_w - BLOCK_GAP
    return CityLayout(tiles=tuple(tiles), blocks=tuple(blocks), width=round(width, 3),
                      height=round(y_row - BLOCK_GAP, 3), tile=TILE, font=round(font, 3))


@lru_cache(maxsize=256)
def rt_network_layout(n_households: int, n_leaders: int) -> np.ndarray:
    """Positions in [-1, 1]² of an RT's households: leaders (RT head first) inside, the street outside.

    Households 0..n_leaders-1 of the RT are its leaders (the model puts the RT head at position 0 and
    the informal leaders right after it); the rest go round the outer ring in street order.
    """
    if n_households < 1 or not 0 <= n_leaders <= n_households:
        raise ValueError(f"rt_network_layout: need 0 <= leaders ({n_leaders}) <= households ({n_households}), "
                         "and at least one household")
    pos = np.zeros((n_households, 2))
    if n_leaders == 1:
        pos[0] = (0.0, 0.0)
    elif n_leaders > 1:
        a = np.pi / 2 + 2 * np.pi * np.arange(n_leaders) / n_leaders
        pos[:n_leaders] = 0.32 * np.column_stack([np.cos(a), np.sin(a)])
    m = n_households - n_leaders
    if m:
        a = np.pi / 2 - 2 * np.pi * np.arange(m) / m
        pos[n_leaders:] = np.column_stack([np.cos(a), np.sin(a)])
    pos.setflags(write=False)     # cached and shared: nobody may move a node
    return pos


def node_radius(n_households: int) -> float:
    """Marker radius (layout units) that keeps neighbours on the outer ring from overlapping."""
    return float(min(0.06, 0.8 * math.pi / max(n_households, 1)))

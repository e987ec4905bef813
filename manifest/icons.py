"""The app's two Teams icons, drawn in code so the package never depends on a binary someone has to redraw.

The emblem is two overlapping speech bubbles (agencies talking to each other) with an upward arrow in the
front one (a concern escalated). Teams wants a 192x192 colour icon and a 32x32 outline icon that is white
on a fully transparent background; both are drawn large and scaled down so the edges are smooth.

`python -m manifest.icons DIR` writes both PNGs into DIR to look at them.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from manifest.config import DEFAULT_ACCENT_COLOR as ACCENT_COLOR

COLOR_SIZE = 192
OUTLINE_SIZE = 32

_SUPERSAMPLE = 8
_WHITE = (255, 255, 255)

# The emblem in unit coordinates (0..1 of the icon's side), shared by both icons so they match. Edges sit on
# whole pixels of the 32x32 grid (multiples of 1/32) so the outline icon's strokes come out crisp.
_G = 1 / 32
_BACK_BUBBLE = (12 * _G, 6 * _G, 27 * _G, 18 * _G)
_BACK_TAIL = ((21 * _G, 16 * _G), (25 * _G, 16 * _G), (26 * _G, 22 * _G))
_FRONT_BUBBLE = (5 * _G, 11 * _G, 21 * _G, 24 * _G)
_FRONT_TAIL = ((8 * _G, 22 * _G), (12 * _G, 22 * _G), (7 * _G, 28 * _G))
_BUBBLE_RADIUS = 3.5 * _G
_ARROW_HEAD = ((13 * _G, 13.5 * _G), (17 * _G, 17.5 * _G), (9 * _G, 17.5 * _G))
_ARROW_SHAFT = (12 * _G, 17 * _G, 14 * _G, 21.5 * _G)
_OUTLINE_STROKE = 2 * _G


def _scaled(points: Sequence[tuple[float, float]], side: int) -> list[tuple[float, float]]:
    return [(x * side, y * side) for x, y in points]


def _box(box: tuple[float, float, float, float], side: int) -> tuple[float, float, float, float]:
    left, top, right, bottom = box
    return (left * side, top * side, right * side, bottom * side)


def _bubble_mask(
    side: int, box: tuple[float, float, float, float], tail: Sequence[tuple[float, float]], grow: float = 0
) -> Image.Image:
    """A filled speech bubble (rounded box plus tail) as a greyscale mask of `side` pixels.

    `grow` widens the bubble by that many pixels all round. Growing a union is the union of the grown
    parts, and each part grows exactly by geometry, which is far quicker than a rank filter on a large
    supersampled image.
    """
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    left, top, right, bottom = _box(box, side)
    draw.rounded_rectangle(
        (left - grow, top - grow, right + grow, bottom + grow), radius=_BUBBLE_RADIUS * side + grow, fill=255
    )
    corners = _scaled(tail, side)
    draw.polygon(corners, fill=255)
    if grow > 0:
        draw.line([*corners, corners[0]], fill=255, width=round(2 * grow), joint="curve")
        for x, y in corners:
            draw.ellipse((x - grow, y - grow, x + grow, y + grow), fill=255)
    return mask


def _arrow_mask(side: int) -> Image.Image:
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    draw.polygon(_scaled(_ARROW_HEAD, side), fill=255)
    draw.rectangle(_box(_ARROW_SHAFT, side), fill=255)
    return mask


def _ring(mask: Image.Image, stroke: int) -> Image.Image:
    """The band `stroke` pixels wide just inside the edge of a filled shape."""
    inner = mask.filter(ImageFilter.MinFilter(2 * stroke + 1))
    return ImageChops.subtract(mask, inner)


def _to_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def draw_color_icon(accent_color: str = ACCENT_COLOR) -> Image.Image:
    """The 192x192 full-colour icon: white bubbles on the accent colour, the arrow in the accent colour.

    The background follows the manifest's accent colour, so a partnership that changes it keeps a
    matching tile in Teams.
    """
    side = COLOR_SIZE * _SUPERSAMPLE
    accent = Image.new("RGB", (side, side), accent_color)
    tint = Image.blend(accent, Image.new("RGB", (side, side), _WHITE), 0.55)
    white = Image.new("RGB", (side, side), _WHITE)

    canvas = accent.copy()
    canvas.paste(tint, mask=_bubble_mask(side, _BACK_BUBBLE, _BACK_TAIL))
    front = _bubble_mask(side, _FRONT_BUBBLE, _FRONT_TAIL)
    # A band of background colour around the front bubble keeps the two bubbles apart.
    canvas.paste(accent, mask=_bubble_mask(side, _FRONT_BUBBLE, _FRONT_TAIL, grow=0.03 * side))
    canvas.paste(white, mask=front)
    canvas.paste(accent, mask=_arrow_mask(side))
    return canvas.resize((COLOR_SIZE, COLOR_SIZE), Image.Resampling.LANCZOS)


def draw_outline_icon() -> Image.Image:
    """The 32x32 outline icon: every pixel pure white, the shape carried by alpha alone."""
    side = OUTLINE_SIZE * _SUPERSAMPLE
    stroke = round(_OUTLINE_STROKE * side)
    back = _bubble_mask(side, _BACK_BUBBLE, _BACK_TAIL)
    front = _bubble_mask(side, _FRONT_BUBBLE, _FRONT_TAIL)
    halo = _bubble_mask(side, _FRONT_BUBBLE, _FRONT_TAIL, grow=stroke)
    shape = ImageChops.subtract(_ring(back, stroke), halo)
    shape = ImageChops.lighter(shape, _ring(front, stroke))
    shape = ImageChops.lighter(shape, _arrow_mask(side))
    alpha = shape.resize((OUTLINE_SIZE, OUTLINE_SIZE), Image.Resampling.BOX)
    white = Image.new("L", alpha.size, 255)
    return Image.merge("RGBA", (white, white, white, alpha))


def color_icon_png(accent_color: str = ACCENT_COLOR) -> bytes:
    """The colour icon as PNG bytes, for the app package."""
    return _to_png(draw_color_icon(accent_color))


def outline_icon_png() -> bytes:
    """The outline icon as PNG bytes, for the app package."""
    return _to_png(draw_outline_icon())


def main(argv: Sequence[str] | None = None) -> int:
    """Write `color.png` and `outline.png` into a folder, to look at or to hand to a designer."""
    parser = argparse.ArgumentParser(prog="python -m manifest.icons", description=main.__doc__)
    parser.add_argument("folder", type=Path, help="where to write color.png and outline.png")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    folder: Path = args.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "color.png").write_bytes(color_icon_png())
    (folder / "outline.png").write_bytes(outline_icon_png())
    print(f"wrote {folder / 'color.png'} and {folder / 'outline.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Draw the app icons (the favicon's record button) as PNGs, once; the output is committed.

    python scripts/make_icons.py   # writes static/icons/icon-{192,512}.png, maskable-512.png
                                 # and apple-touch-icon.png (180 px)

Plain zlib PNG writing, so no imaging library is needed. ``maskable``: the background fills the
whole square and the button stays inside the safe zone (the central 80 %).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

TEAL = (0x0F, 0x7F, 0x81)
WHITE = (0xFF, 0xFF, 0xFF)
RED = (0xC6, 0x28, 0x28)
OUT = Path(__file__).resolve().parent.parent / "static" / "icons"


def _png(size: int, pixels: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + row for row in pixels)
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def draw(size: int, *, maskable: bool) -> bytes:
    corner = 0 if maskable else size * 7 / 32  # the favicon's rounded square
    scale = 0.8 if maskable else 1.0  # the safe zone of a maskable icon
    outer, inner = size * 7 / 32 * scale, size * 4 / 32 * scale
    c = size / 2
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            px, py = x + 0.5, y + 0.5
            dx = max(corner - px, 0, px - (size - corner))
            dy = max(corner - py, 0, py - (size - corner))
            if corner and dx * dx + dy * dy > corner * corner:
                row += bytes((0, 0, 0, 0))
                continue
            d2 = (px - c) ** 2 + (py - c) ** 2
            color = RED if d2 <= inner * inner else WHITE if d2 <= outer * outer else TEAL
            row += bytes((*color, 255))
        rows.append(bytes(row))
    return _png(size, rows)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        (OUT / f"icon-{size}.png").write_bytes(draw(size, maskable=False))
    (OUT / "maskable-512.png").write_bytes(draw(512, maskable=True))
    # iOS rounds the corners itself and shows transparency as black: a full square.
    (OUT / "apple-touch-icon.png").write_bytes(draw(180, maskable=True))


if __name__ == "__main__":
    main()

"""Render resources/icons/signoff.svg into every icon the packages need, with Qt's own SVG renderer.

    .venv/bin/python packaging/make_icons.py

Writes (all committed, so a build needs neither this script nor any imaging library):

- resources/icons/hicolor/<N>x<N>/apps/org.signoff.Signoff.png for N in SIZES (Linux, freedesktop
  icon theme layout: copy the hicolor tree under /usr/share/icons or ~/.local/share/icons);
- resources/icons/signoff.ico (Windows: PyInstaller's exe icon and Inno Setup's setup icon);
- resources/icons/signoff.icns (macOS bundle icon).

ICO and ICNS are simple containers of PNG images, written here directly: no Pillow, no iconutil
(which only exists on macOS). Runs offscreen; re-run it whenever signoff.svg changes.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1]
ICONS = ROOT / "resources" / "icons"
SOURCE = ICONS / "signoff.svg"
APP_ID = "org.signoff.Signoff"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # 256 is the largest an .ico entry can declare
# ICNS element types holding PNG data, by pixel size (the @2x types share sizes with 1x ones).
ICNS_TYPES = (
    (b"icp4", 16),
    (b"icp5", 32),
    (b"icp6", 64),
    (b"ic07", 128),
    (b"ic08", 256),
    (b"ic09", 512),
    (b"ic10", 1024),
    (b"ic11", 32),
    (b"ic12", 64),
    (b"ic13", 256),
    (b"ic14", 512),
)


def png_path(size: int, root: Path = ICONS) -> Path:
    return root / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def render_png(renderer: QSvgRenderer, size: int) -> bytes:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise RuntimeError(f"could not encode the {size} px PNG")
    buffer.close()
    return bytes(data.data())


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """An ICO file whose entries are PNG images (understood by Windows Vista and later)."""
    sizes = [size for size in ICO_SIZES if size in pngs]
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, blobs = [], []
    for size in sizes:
        blob = pngs[size]
        side = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries.append(struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(blob), offset))
        blobs.append(blob)
        offset += len(blob)
    return header + b"".join(entries) + b"".join(blobs)


def icns_bytes(pngs: dict[int, bytes]) -> bytes:
    """An ICNS file of PNG elements (understood by macOS 10.7 and later)."""
    body = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main(out: Path = ICONS) -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (keeps Qt alive)
    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        print(f"make_icons: {SOURCE} is not a valid SVG", file=sys.stderr)
        return 1
    needed = sorted({*SIZES, *ICO_SIZES, *(size for _kind, size in ICNS_TYPES)})
    pngs = {size: render_png(renderer, size) for size in needed}
    for size in SIZES:
        path = png_path(size, out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pngs[size])
    (out / "signoff.ico").write_bytes(ico_bytes(pngs))
    (out / "signoff.icns").write_bytes(icns_bytes(pngs))
    print(f"make_icons: {len(SIZES)} PNGs, signoff.ico and signoff.icns written under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ICONS))

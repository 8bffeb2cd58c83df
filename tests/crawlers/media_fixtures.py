"""Hostile and harmless images for the media tests, made here (never downloaded)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, PngImagePlugin

SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert("svg")</script><image href="http://evil.test/tracker.png" width="10" height="10"/></svg>'
)
HTML_AS_IMAGE = b"<!DOCTYPE html><html><body><script>alert('fake png')</script></body></html>"


def png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (40, 30), secret: str = "") -> bytes:
    """A small PNG; ``secret`` goes into a text chunk (metadata the thumbnail must not keep)."""
    info = PngImagePlugin.PngInfo()
    if secret:
        info.add_text("Author", secret)
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_exif(size: tuple[int, int] = (64, 48), secret: str = "GPS 43.238949,76.889709") -> bytes:
    image = Image.new("RGB", size, (30, 120, 200))
    exif = Image.Exif()
    exif[0x010E] = secret  # ImageDescription
    exif[0x013B] = "Camera Owner"  # Artist
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header claims 10 billion pixels in a few hundred bytes (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = compressor.compress(row * 64) + compressor.flush()  # the first rows only: still "valid" to a header parser
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")

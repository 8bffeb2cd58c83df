"""Tell documents we turn into text from binaries we only record by URL and hash."""

from __future__ import annotations

TEXT_TYPES = (
    "text/html",
    "application/xhtml+xml",
    "text/plain",
    "text/xml",
    "application/xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
    "application/json",
)
_MAGIC = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"Rar!",
    b"7z\xbc\xaf",
    b"\x1f\x8b",
    b"BZh",
    b"\xd0\xcf\x11\xe0",  # OLE (old Office)
    b"RIFF",
    b"ID3",
    b"\x00\x00\x00",  # MP4/MOV boxes, many others
    b"MZ",
    b"\x7fELF",
    b"OggS",
    b"fLaC",
)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_binary(content_type: str | None, body: bytes) -> bool:
    """Binary when the server says so or the first bytes say so (servers mislabel both ways)."""
    head = body[:1024]
    if head.startswith(_MAGIC):
        return True
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    kind = media_type(content_type)
    textual = not kind or kind in TEXT_TYPES or kind.startswith("text/") or kind.endswith(("+xml", "+json"))
    return not textual

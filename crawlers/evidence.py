"""WARC evidence written at fetch time, before anyone reviews the item (posts vanish in hours).

Each response that yields an item is written as a ``request`` and a ``response`` record (gzip
members, so a single record can be cut out of the file at its offset) with the request and
response headers, the fetch time (``WARC-Date``) and the server's IP (``WARC-IP-Address``).
Items keep the file, the offset and length of the response record, and the SHA-256 of the body
(also written into the record as ``WARC-Saqshy-Body-SHA256``), so an escalation can later prove
what was online, where and when. One writer per crawler process: files are named by host, pid
and time, and rotated by size, so several processes on several machines never share a file.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# Scrapy already undid these (decompressed, de-chunked): the record holds the body as decoded.
_HOP_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Evidence:
    path: str
    offset: int
    length: int
    sha256: str
    size: int
    fetched_at: datetime
    server_ip: str | None


@dataclass(frozen=True)
class Fetch:
    """What was sent and received, as Scrapy saw it."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int
    protocol: str | None
    response_headers: list[tuple[str, str]]
    body: bytes
    fetched_at: datetime
    server_ip: str | None

    @classmethod
    def of_response(cls, request: Any, response: Any, *, fetched_at: datetime | None = None) -> Fetch:
        """The exchange of a Scrapy request and its response (typed loosely: this module is also
        imported by extraction workers, which never import Scrapy)."""
        return cls(
            url=response.url,
            method=request.method,
            request_headers=_header_pairs(request.headers),
            request_body=request.body,
            status=response.status,
            protocol=response.protocol,
            response_headers=_header_pairs(response.headers),
            body=response.body,
            fetched_at=fetched_at or datetime.now(UTC),
            server_ip=str(response.ip_address) if response.ip_address else None,
        )


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, values in headers.items() for value in values]


class WarcEvidenceWriter:
    def __init__(self, directory: Path, prefix: str = "saqshy", max_file_bytes: int = 1 << 30) -> None:
        self.directory = directory
        self.prefix = prefix
        self.max_file_bytes = max_file_bytes
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self._writer: WARCWriter | None = None
        self._serial = 0
        self.records = 0

    def _open(self) -> None:
        self.close()
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        folder = self.directory / day
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self._serial += 1
        name = f"{self.prefix}-{stamp}-{socket.gethostname()}-{os.getpid()}-{self._serial:05d}.warc.gz"
        self._path = folder / name
        self._file = open(self._path, "ab")  # noqa: SIM115 - kept open across records, closed in close()
        self._writer = WARCWriter(None, gzip=False)  # builds records; _member compresses them
        info = self._writer.create_warcinfo_record(
            name, {"software": "Saqshy crawler (Scrapy, warcio)", "format": "WARC File Format 1.1"}
        )
        self._file.write(self._member(info))

    def write(self, fetch: Fetch) -> Evidence:
        if self._writer is None or self._file is None or self._file.tell() >= self.max_file_bytes:
            self._open()
        assert self._writer is not None and self._file is not None and self._path is not None
        body_sha256 = hashlib.sha256(fetch.body).hexdigest()
        warc_date = fetch.fetched_at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")

        parts = urlsplit(fetch.url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        request_headers = [("Host", parts.netloc), *fetch.request_headers]
        request_http = StatusAndHeaders(
            f"{fetch.method} {target} HTTP/1.1", request_headers, protocol="", is_http_request=True
        )
        common = {"WARC-Date": warc_date}
        if fetch.server_ip:
            common["WARC-IP-Address"] = fetch.server_ip
        request_record = self._writer.create_warc_record(
            fetch.url,
            "request",
            payload=io.BytesIO(fetch.request_body),
            http_headers=request_http,
            warc_headers_dict=dict(common),
        )

        response_headers = [(k, v) for k, v in fetch.response_headers if k.lower() not in _HOP_HEADERS]
        response_headers.append(("Content-Length", str(len(fetch.body))))
        protocol = (fetch.protocol or "HTTP/1.1").upper()
        response_http = StatusAndHeaders(f"{fetch.status}", response_headers, protocol=protocol)
        response_record = self._writer.create_warc_record(
            fetch.url,
            "response",
            payload=io.BytesIO(fetch.body),
            http_headers=response_http,
            warc_headers_dict={**common, "WARC-Saqshy-Body-SHA256": body_sha256},
        )
        request_record.rec_headers.add_header(
            "WARC-Concurrent-To", response_record.rec_headers.get_header("WARC-Record-ID")
        )

        offset = self._file.tell()
        member = self._member(response_record)
        self._file.write(member)
        self._file.write(self._member(request_record))
        self._file.flush()
        length = len(member)
        self.records += 2
        return Evidence(
            path=str(self._path),
            offset=offset,
            length=length,
            sha256=body_sha256,
            size=len(fetch.body),
            fetched_at=fetch.fetched_at,
            server_ip=fetch.server_ip,
        )

    @staticmethod
    def _member(record: Any) -> bytes:
        """One record as its own gzip member (so it can be cut out at its offset), at level 6:
        warcio's level 9 costs three times the CPU for a few per cent of space."""
        buffer = io.BytesIO()
        WARCWriter(buffer, gzip=False).write_record(record)
        compressor = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        return compressor.compress(buffer.getvalue()) + compressor.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._writer = None


@dataclass
class FetchRef:
    """One fetch shared by every item of its response: written to WARC once, by the first."""

    fetch: Fetch
    future: Any = None


_writers: dict[tuple[str, str], WarcEvidenceWriter] = {}


def write_evidence(directory: str, prefix: str, fetch: Fetch) -> Evidence:
    """Write with this process's writer (extraction workers each keep their own WARC file)."""
    key = (directory, prefix)
    writer = _writers.get(key)
    if writer is None:
        writer = _writers[key] = WarcEvidenceWriter(Path(directory), prefix=f"{prefix}")
    return writer.write(fetch)


def close_writers() -> None:
    while _writers:
        _writers.popitem()[1].close()


@dataclass(frozen=True)
class StoredRecord:
    """A WARC record read back: its type, the WARC headers Saqshy writes, and for a response the
    HTTP status, headers and body (decoded, as fetched)."""

    rec_type: str
    url: str
    warc_date: str
    server_ip: str | None
    record_id: str | None
    recorded_sha256: str | None
    status: int
    headers: list[tuple[str, str]]
    body: bytes


# What ``read_response`` returns: a record of type "response".
StoredResponse = StoredRecord


def read_record(stream: BinaryIO) -> StoredRecord | None:
    """The WARC record at the stream's position (None where there is none); the one reader of
    Saqshy's records, for the crawler and the evidence bundle alike. warcio's errors propagate."""
    for record in ArchiveIterator(stream):
        response = record.rec_type == "response"
        http = record.http_headers if response else None
        return StoredRecord(
            rec_type=record.rec_type,
            url=record.rec_headers.get_header("WARC-Target-URI"),
            warc_date=record.rec_headers.get_header("WARC-Date"),
            server_ip=record.rec_headers.get_header("WARC-IP-Address"),
            record_id=record.rec_headers.get_header("WARC-Record-ID"),
            recorded_sha256=record.rec_headers.get_header("WARC-Saqshy-Body-SHA256"),
            status=int(http.get_statuscode()) if http else 0,
            headers=list(http.headers) if http else [],
            body=record.content_stream().read(),
        )
    return None


def read_response(path: str | Path, offset: int) -> StoredResponse:
    """Read back the response record at ``offset`` (what an escalation attaches and verifies)."""
    with open(path, "rb") as stream:
        stream.seek(offset)
        record = read_record(stream)
    if record is None:
        raise ValueError(f"no WARC record at {path}:{offset}")
    if record.rec_type != "response":
        raise ValueError(f"record at {path}:{offset} is a {record.rec_type!r} record, not a response")
    return record

"""WARC evidence: records readable back, with headers, fetch time, server IP and matching SHA-256."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from crawlers.evidence import Fetch, WarcEvidenceWriter, read_response


def _fetch(body: bytes, url: str = "http://127.0.0.1:8000/page?x=1") -> Fetch:
    return Fetch(
        url=url,
        method="GET",
        request_headers=[("User-Agent", "SaqshyBot/0.1 (+https://example.org)"), ("Accept", "text/html")],
        request_body=b"",
        status=200,
        protocol="HTTP/1.1",
        response_headers=[("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")],
        body=body,
        fetched_at=datetime(2026, 10, 1, 12, 0, 0, tzinfo=UTC),
        server_ip="127.0.0.1",
    )


def test_records_read_back_with_matching_hash(tmp_path: Path) -> None:
    writer = WarcEvidenceWriter(tmp_path)
    bodies = ["Привет, мир".encode() * 50, b"", b"<html>second</html>"]
    evidence = [writer.write(_fetch(body, f"http://127.0.0.1:8000/{i}")) for i, body in enumerate(bodies)]
    writer.close()
    for body, ev in zip(bodies, evidence, strict=True):
        stored = read_response(ev.path, ev.offset)
        assert stored.body == body
        assert hashlib.sha256(stored.body).hexdigest() == ev.sha256 == stored.recorded_sha256
        assert stored.server_ip == "127.0.0.1"
        assert stored.warc_date.startswith("2026-10-01T12:00:00")
        assert ("Content-Type", "text/html; charset=utf-8") in stored.headers
        # The body is stored decoded, so the encoding header must not claim otherwise.
        assert all(name.lower() != "content-encoding" for name, _ in stored.headers)
        # The offset and length cut exactly one gzip member out of the file.
        with open(ev.path, "rb") as stream:
            stream.seek(ev.offset)
            chunk = stream.read(ev.length)
        assert chunk[:2] == b"\x1f\x8b"


def test_each_response_has_its_request(tmp_path: Path) -> None:
    writer = WarcEvidenceWriter(tmp_path)
    ev = writer.write(_fetch(b"<html>x</html>"))
    writer.close()
    with open(ev.path, "rb") as stream:
        records = [
            (r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.http_headers) for r in ArchiveIterator(stream)
        ]
    kinds = [kind for kind, _, _ in records]
    assert kinds == ["warcinfo", "response", "request"]
    request_headers = records[2][2]
    assert request_headers.protocol == "GET" or request_headers.statusline.startswith("GET /page?x=1")
    assert request_headers.get_header("User-Agent").startswith("SaqshyBot")
    assert request_headers.get_header("Host") == "127.0.0.1:8000"


def test_files_rotate_by_size(tmp_path: Path) -> None:
    writer = WarcEvidenceWriter(tmp_path, max_file_bytes=2_000)
    paths = {writer.write(_fetch(os.urandom(3_000))).path for _ in range(3)}
    writer.close()
    assert len(paths) == 3

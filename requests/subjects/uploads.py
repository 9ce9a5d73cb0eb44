"""An owner's uploaded export for a subject-request task, checked before anything is stored.

Every upload is held to settings.UPLOAD_MAX_BYTES and must be what it says it is: a JSON list
of objects, a CSV with a header row, or a zip of such files (no folders of other files, no
nested zips, uncompressed sizes within the same limit). Anything else is refused naming the
`upload` field, so the page and the API answer 400, never 500.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

from django.conf import settings
from django.core.exceptions import ValidationError

MAX_ZIP_MEMBERS = 100
TEXT_KINDS = (".json", ".csv")


def _refuse(reason: str) -> ValidationError:
    return ValidationError({"upload": reason})


def read_upload(upload) -> list[dict]:
    """The records of an uploaded file (a Django UploadedFile), after the size and content
    checks; raises ValidationError({"upload": reason})."""
    limit = settings.UPLOAD_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise _refuse(f"The file is larger than the limit of {limit} bytes")
    content = b"".join(upload.chunks())
    if len(content) > limit:  # a size the client misreported
        raise _refuse(f"The file is larger than the limit of {limit} bytes")
    return parse_upload(upload.name or "", content)


def parse_upload(name: str, content: bytes) -> list[dict]:
    """Records from a .json, .csv or .zip file's bytes, parsed as its name says."""
    lowered = name.lower()
    if not content:
        raise _refuse("The file is empty")
    if lowered.endswith(".zip"):
        return _zip_rows(content)
    if lowered.endswith(TEXT_KINDS):
        return _text_rows(lowered, content, where="")
    raise _refuse("Upload a .json, .csv or .zip file")


def _text_rows(lowered: str, content: bytes, *, where: str) -> list:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse(f"{where}The file is not UTF-8 text") from None
    if "\x00" in text:
        raise _refuse(f"{where}The file holds binary data, not text")
    if lowered.endswith(".json"):
        return _json_rows(text, where)
    return _csv_rows(text, where)


def _json_rows(text: str, where: str) -> list:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _refuse(f"{where}Not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise _refuse(f"{where}Give the export as a JSON list of records (objects)")
    return data


def _csv_rows(text: str, where: str) -> list[dict]:
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise _refuse(f"{where}Not a CSV file that parses: {exc}") from None
    if not lines or not any(lines[0]):
        raise _refuse(f"{where}The CSV file needs a header row naming its columns")
    header = [column.strip() for column in lines[0]]
    if any(not column for column in header) or len(set(header)) != len(header):
        raise _refuse(f"{where}The CSV header needs distinct, non-empty column names")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        if len(line) != len(header):
            raise _refuse(
                f"{where}CSV line {number} has {len(line)} fields; the header names {len(header)}"
            )
        rows.append(dict(zip(header, line, strict=True)))
    return rows


def _zip_rows(content: bytes) -> list[dict]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError):
        raise _refuse("Not a zip file that opens") from None
    if not members:
        raise _refuse("The zip file holds no files")
    if len(members) > MAX_ZIP_MEMBERS:
        raise _refuse(f"The zip file holds more than {MAX_ZIP_MEMBERS} files")
    limit = settings.UPLOAD_MAX_BYTES
    if sum(info.file_size for info in members) > limit:
        raise _refuse(f"The zip file unpacks to more than the limit of {limit} bytes")
    rows: list = []
    budget = limit  # what all members may unpack to together, whatever their headers claim
    with archive:
        for info in members:
            lowered = info.filename.lower()
            if not lowered.endswith(TEXT_KINDS):
                raise _refuse(f"{info.filename}: a zip may hold only .json and .csv files")
            data = _member(archive, info, budget)
            budget -= len(data)
            rows.extend(_text_rows(lowered, data, where=f"{info.filename}: "))
    return rows


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """A member's bytes, read no further than the budget left (a zip bomb stops there)."""
    try:
        with archive.open(info) as member:
            data = member.read(budget + 1)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError) as exc:
        raise _refuse(f"{info.filename}: cannot be read from the zip ({exc})") from None
    if len(data) > budget:
        raise _refuse("The zip file unpacks to more than the upload limit")
    return data

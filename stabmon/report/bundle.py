"""``reports/retrospective.zip``: the retrospective's Markdown and its charts in one file to attach.

The zip holds ``retrospective.md`` at its root and every PNG the Markdown
links to at the same relative path (``retrospective_files/...``), so the links
resolve once the zip is unpacked or uploaded as it is. The single-file
``retrospective.html`` stays beside it.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path, PurePosixPath

from stabmon import store
from stabmon.core.errors import ReportError

BUNDLE_NAME = "retrospective.zip"
MARKDOWN_NAME = "retrospective.md"

#: ``![alt](target)``: the images a Markdown file links to.
_IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")

# A fixed time for every member: the same reports give the same zip.
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


def image_links(markdown: str) -> list[str]:
    """The image targets of a Markdown text, in order, each once."""
    return list(dict.fromkeys(_IMAGE_LINK.findall(markdown)))


def _member(reports_dir: Path, link: str) -> PurePosixPath:
    path = PurePosixPath(link)
    if path.is_absolute() or ".." in path.parts or re.match(r"^[a-z][a-z0-9+.-]*:", link):
        raise ReportError(f"{MARKDOWN_NAME} links to {link!r}, outside {reports_dir}: cannot bundle it")
    if not (reports_dir / path).is_file():
        raise ReportError(f"{MARKDOWN_NAME} links to {link}, which is not in {reports_dir}: render the "
                          "retrospective again")
    return path


def write_bundle(reports_dir: str | Path) -> Path:
    """Write ``reports_dir/retrospective.zip`` (the Markdown and the PNGs it links to) atomically.

    Returns
    -------
    Path
        The zip written.

    Raises
    ------
    ReportError
        When there is no ``retrospective.md`` (the retrospective was not
        rendered) or it links to an image that is missing or outside the folder.
    """
    reports_dir = Path(reports_dir)
    source = reports_dir / MARKDOWN_NAME
    if not source.is_file():
        raise ReportError(f"--bundle: no {source}: render the retrospective first "
                          "(stabmon report without --only, or with --only retrospective)")
    text = source.read_text(encoding="utf-8")
    members = [_member(reports_dir, link) for link in image_links(text)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(MARKDOWN_NAME, _ZIP_TIME), text.encode("utf-8"),
                         compress_type=zipfile.ZIP_DEFLATED)
        for member in members:
            archive.writestr(zipfile.ZipInfo(str(member), _ZIP_TIME), (reports_dir / member).read_bytes(),
                             compress_type=zipfile.ZIP_DEFLATED)
    target = reports_dir / BUNDLE_NAME
    store.write_bytes_atomic(target, buffer.getvalue(), fsync=False)
    return target

"""File facts an investigator checks first: format, size, hash, JPEG quality, EXIF, warnings."""

from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QTextBrowser, QWidget

from ..viewer.document import Document, printable


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def fact_rows(doc: Document) -> list[tuple[str, str]]:
    """(label, value) pairs shown in the panel, in reading order."""
    facts = doc.facts
    rows = [
        ("File", printable(facts.path.name)),
        ("Folder", printable(str(facts.path.parent))),
        ("Format", f"{facts.format or 'unknown'} ({facts.mode})"),
        (
            "Dimensions",
            f"{facts.width} x {facts.height} px ({facts.width * facts.height / 1e6:.1f} MP)",
        ),
        ("File size", f"{_size(facts.file_size)} ({facts.file_size:,} bytes)"),
        ("SHA-256", facts.sha256),
    ]
    if facts.orientation != 1:
        rows.append(("EXIF orientation", f"{facts.orientation} (rotated for display)"))
    if facts.frames > 1:
        rows.append(("Frames", str(facts.frames)))
    if facts.truncated:
        rows.append(("Decoded", f"{facts.describe_decoded()}; the rest is hatched"))
    rows += [("Embedded", item.describe()) for item in facts.embedded]
    jpeg = facts.jpeg
    if jpeg is not None:
        quality = jpeg.quality.describe() if jpeg.quality else "no quantization tables"
        rows.append(("JPEG quality", quality))
        rows.append(("Subsampling", jpeg.subsampling))
        rows.append(("Progressive", "yes" if jpeg.progressive else "no"))
    rows.append(("ICC profile", "yes" if facts.icc_present else "no"))
    exif = facts.exif
    if not exif:
        rows.append(("EXIF", "none"))
    else:
        camera = " ".join(str(exif[k]) for k in ("camera_make", "camera_model") if exif.get(k))
        for label, value in (
            ("Camera", camera),
            ("Software", exif.get("software")),
            ("Captured", exif.get("captured")),
            ("Modified", exif.get("modified")),
            ("GPS", "present" if exif.get("gps_present") else "absent"),
            ("EXIF", exif.get("error")),
        ):
            if value:
                rows.append((label, str(value)))
    return rows


class InfoPanel(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setToolTip("Facts read from the file; select text to copy (e.g. the SHA-256)")
        self.show_document(None)

    def show_document(self, doc: Document | None) -> None:
        if doc is None:
            self.setHtml("<p style='color:gray'>No image open. Drop files or folders here.</p>")
            return
        body = []
        notes = [*doc.facts.warnings, *doc.facts.notes]
        if notes:
            # first, so it is in sight without scrolling on a small screen
            body.append("<p style='margin:0'><b>Worth a look</b></p><ul style='margin-left:-20px'>")
            body.extend(f"<li style='color:#d68910'>{escape(n)}</li>" for n in doc.facts.warnings)
            body.extend(f"<li>{escape(n)}</li>" for n in doc.facts.notes)
            body.append("</ul>")
        body.append("<table cellspacing='2'>")
        for label, value in fact_rows(doc):
            style = "font-family:monospace; font-size:small" if label == "SHA-256" else ""
            body.append(
                f"<tr><td style='color:gray; padding-right:8px' valign='top'>{escape(label)}</td>"
                f"<td style='{style}'>{escape(value)}</td></tr>"
            )
        body.append("</table>")
        # explanations, not alarms: plain text after the facts they explain
        body.extend(f"<p style='color:gray'>&#9432; {escape(n)}</p>" for n in doc.facts.information)
        self.setHtml("".join(body))
        self.plain_rows = fact_rows(doc)

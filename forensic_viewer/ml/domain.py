"""The domain a model was validated on: the files its numbers were measured on.

A model card's ``domain`` (ml.modelfile.ModelCard) lists the formats, the size range (pixels, and
both sides), and the kinds of last save (IJG-standard or other quantization tables) with their
JPEG quality ranges. ``ml.verdict`` gives no verdict outside it. ``measure_domain`` computes the
smallest domain holding a set of files (``train`` writes it from its validation split;
scripts/measure_domain.py made the default card's), and ``false_alarms_outside`` records the
false-alarm rates measured on innocent files outside it (scripts/domain_false_alarms.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LAST_SAVE_KINDS = ("standard", "non-standard")
"""How the last save quantized: IJG-scaled Annex K tables (libjpeg, Pillow, many tools at a
quality setting), or other tables (cameras, phones, Photoshop)."""


def _pair(value: Any, what: str, kind: type = int) -> tuple:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
        or value[0] > value[1]
    ):
        raise ValueError(f"domain '{what}' must be [low, high] with low <= high, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class FalseAlarms:
    """A measured false-alarm rate: ``flagged`` of ``of`` innocent images were called tampered."""

    images: str
    """What the innocent images were, e.g. 'untouched camera originals (104 photos, 88 models)'."""
    flagged: int
    of: int

    @property
    def rate(self) -> float:
        return self.flagged / self.of

    def describe(self) -> str:
        return f"{self.rate:.0%} ({self.flagged}/{self.of}) of {self.images}"

    @classmethod
    def from_dict(cls, data: Any) -> FalseAlarms:
        if not isinstance(data, dict) or not isinstance(data.get("images"), str):
            raise ValueError("a domain false-alarm entry needs 'images', 'flagged' and 'of'")
        flagged, of = data.get("flagged"), data.get("of")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (flagged, of)):
            raise ValueError("domain false-alarm counts must be integers")
        if not 0 <= flagged <= of or of == 0:
            raise ValueError(f"domain false-alarm counts {flagged}/{of} are impossible")
        return cls(data["images"], flagged, of)


@dataclass(frozen=True)
class Domain:
    """The files a model's numbers were measured on; outside it, the model gives no verdict."""

    formats: tuple[str, ...] = ("JPEG",)
    last_save: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Kind of last save ('standard' / 'non-standard') -> IJG quality range (closest IJG
    quality for non-standard tables, as core.jpeg estimates it). A kind not listed is outside."""
    pixels: tuple[int, int] | None = None
    """Width x height range, inclusive."""
    sides: tuple[int, int] | None = None
    """Range of both the width and the height, inclusive."""
    validated_on: str = ""
    false_alarms_outside: tuple[FalseAlarms, ...] = ()
    """False-alarm rates measured on innocent images outside this domain."""

    @classmethod
    def from_dict(cls, data: Any) -> Domain:
        """Parse a card's ``domain``; any malformed or unknown entry raises ValueError."""
        if not isinstance(data, dict):
            raise ValueError("domain is not a JSON object")
        known = {"formats", "last_save", "pixels", "sides", "validated_on", "false_alarms_outside"}
        if unknown := sorted(set(data) - known):
            raise ValueError(f"domain has unknown entries {unknown}")
        formats = data.get("formats", ["JPEG"])
        if (
            not isinstance(formats, list)
            or not formats
            or not all(isinstance(f, str) and f for f in formats)
        ):
            raise ValueError("domain 'formats' must be a non-empty list of format names")
        last_save = data.get("last_save", {})
        if not isinstance(last_save, dict) or ("JPEG" in formats and not last_save):
            raise ValueError("domain 'last_save' must map kinds of last save to quality ranges")
        saves = {}
        for kind, qualities in last_save.items():
            if kind not in LAST_SAVE_KINDS:
                raise ValueError(f"domain last-save kind {kind!r} is not one of {LAST_SAVE_KINDS}")
            low, high = _pair(qualities, f"last_save.{kind}")
            if not 1 <= low <= high <= 100:
                raise ValueError(f"domain quality range {qualities} is not within 1-100")
            saves[kind] = (low, high)
        sizes = {}
        for name in ("pixels", "sides"):
            if data.get(name) is not None:
                sizes[name] = _pair(data[name], name)
                if sizes[name][0] < 1:
                    raise ValueError(f"domain '{name}' must be positive")
        validated_on = data.get("validated_on", "")
        if not isinstance(validated_on, str):
            raise ValueError("domain 'validated_on' must be text")
        alarms = data.get("false_alarms_outside", [])
        if not isinstance(alarms, list):
            raise ValueError("domain 'false_alarms_outside' must be a list")
        return cls(
            formats=tuple(formats),
            last_save=saves,
            pixels=sizes.get("pixels"),
            sides=sizes.get("sides"),
            validated_on=validated_on,
            false_alarms_outside=tuple(FalseAlarms.from_dict(a) for a in alarms),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "formats": list(self.formats),
            "last_save": {kind: list(q) for kind, q in self.last_save.items()},
            "pixels": None if self.pixels is None else list(self.pixels),
            "sides": None if self.sides is None else list(self.sides),
            "validated_on": self.validated_on,
            "false_alarms_outside": [
                {"images": a.images, "flagged": a.flagged, "of": a.of}
                for a in self.false_alarms_outside
            ],
        }

    def describe(self) -> str:
        """One line: 'JPEG; 246-600 px sides; 94,464-270,000 pixels; last save standard q75-90'."""
        parts = ["/".join(self.formats)]
        if self.sides:
            parts.append(f"{self.sides[0]}-{self.sides[1]} px sides")
        if self.pixels:
            parts.append(f"{self.pixels[0]:,}-{self.pixels[1]:,} pixels")
        saves = ", ".join(f"{k} tables q{lo}-{hi}" for k, (lo, hi) in self.last_save.items())
        if saves:
            parts.append(f"last save {saves}")
        return "; ".join(parts)

    def misfits(self, facts) -> list[str]:
        """Why ``facts`` (core.images.ImageFacts) is outside this domain; empty when inside."""
        found = []
        if facts.format not in self.formats:
            found.append(f"format {facts.format or 'unknown'}, not {'/'.join(self.formats)}")
        width, height = facts.width, facts.height
        if self.sides and not all(self.sides[0] <= s <= self.sides[1] for s in (width, height)):
            found.append(f"{width}x{height} px, sides outside {self.sides[0]}-{self.sides[1]} px")
        elif self.pixels and not self.pixels[0] <= width * height <= self.pixels[1]:
            found.append(
                f"{width * height:,} pixels, outside {self.pixels[0]:,}-{self.pixels[1]:,}"
            )
        estimate = None if facts.jpeg is None else facts.jpeg.quality
        if facts.format in self.formats and facts.jpeg is not None and self.last_save:
            if estimate is None:
                found.append("no quantization tables to estimate the last save")
            else:
                kind = "standard" if estimate.standard else "non-standard"
                span = self.last_save.get(kind)
                if span is None:
                    found.append(f"last saved with {kind} tables (validated: {self._saves()})")
                elif not span[0] <= estimate.quality <= span[1]:
                    found.append(
                        f"last saved with {kind} tables at quality ~{estimate.quality} "
                        f"(validated: {self._saves()})"
                    )
        return found

    def _saves(self) -> str:
        return ", ".join(f"{k} q{lo}-{hi}" for k, (lo, hi) in self.last_save.items())


def measure_domain(all_facts, validated_on: str = "") -> Domain:
    """The smallest domain holding every image in ``all_facts`` (ImageFacts of a model's data)."""
    all_facts = list(all_facts)
    if not all_facts:
        raise ValueError("no images to measure a domain on")
    formats = sorted({f.format for f in all_facts if f.format})
    qualities: dict[str, list[int]] = {}
    for facts in all_facts:
        estimate = None if facts.jpeg is None else facts.jpeg.quality
        if estimate is not None:
            kind = "standard" if estimate.standard else "non-standard"
            qualities.setdefault(kind, []).append(estimate.quality)
    pixels = [f.width * f.height for f in all_facts]
    sides = [s for f in all_facts for s in (f.width, f.height)]
    return Domain(
        formats=tuple(formats),
        last_save={k: (min(q), max(q)) for k, q in sorted(qualities.items(), reverse=True)},
        pixels=(min(pixels), max(pixels)),
        sides=(min(sides), max(sides)),
        validated_on=validated_on,
    )


@dataclass(frozen=True)
class HeaderFacts:
    """The facts a verdict needs, read from a file's header without decoding its pixels (for
    ``evaluate`` over many files). Damaged entropy-coded data is not seen from the header."""

    format: str | None
    width: int
    height: int
    jpeg: object | None
    notes: tuple[str, ...] = ()


def header_facts(path) -> HeaderFacts:
    """Read ``path``'s header (Pillow, lazily: no pixel decoding). Raises OSError/ValueError."""
    import warnings

    from PIL import Image

    from ..core.jpeg import jpeg_facts_from_pillow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as image:
            return HeaderFacts(
                image.format, image.width, image.height, jpeg_facts_from_pillow(image)
            )


def domain_of_files(paths, validated_on: str) -> dict:
    """``measure_domain`` over the headers of ``paths`` as a card's ``domain`` entry ({} when
    none can be read): what ``train`` writes, from its validation split."""
    found = []
    for path in paths:
        try:
            found.append(header_facts(path))
        except Exception:  # noqa: BLE001 - an unreadable file was not validated on either
            continue
    return measure_domain(found, validated_on).as_dict() if found else {}

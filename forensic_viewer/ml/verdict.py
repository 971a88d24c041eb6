"""Verdicts that say what they know: ``tampered``, ``no_trace`` or ``inconclusive``, with a reason.

Model-agnostic and torch-free (the window imports it before any model is loaded): a verdict is
made from the image's facts (``core.images.ImageFacts``), the model card (its name, threshold and
declared ``domain``) and, when the model ran, its P(tampered).

Inconclusive, before any network runs, when the evidence the method needs is missing:

- not a JPEG (PNG, HEIC, ...): ELA and every model here compare JPEG compression errors;
- too small: under ``MIN_SIDE`` pixels on a side there are too few 8x8 blocks to compare regions;
- a last save that leaves nothing to compare: every luminance quantization step is 1 (quality 100
  with standard tables, or any table that quantizes nothing). Finer tables than that do not
  exist, and a re-save at the ELA qualities then changes every block alike. Tables with steps of
  2-3 (e.g. CASIA's own Photoshop saves) still quantize and are left to the domain check;
- damaged JPEG data: pixels after the damage are the decoder's guess;
- outside the model card's ``domain`` (formats, size range, kinds of last save with their quality
  ranges): the model's numbers were not measured on such files, so it is not asked. The reason
  quotes the false-alarm rates measured outside the domain, where the card has some.

Otherwise the model runs and the state follows its number: ``tampered`` when P(tampered) reaches
the card's threshold, else ``no_trace`` ("no trace found": an absence of evidence, not proof of
authenticity). P(tampered) is the calibrated probability; the threshold was chosen on validation
data and may be below 0.5, so the label is never shown as a percentage that could read as a
confidence, and ``format_p_and_threshold`` prints the two numbers so their order matches the label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .domain import Domain

TAMPERED, NO_TRACE, INCONCLUSIVE = "tampered", "no_trace", "inconclusive"
STATES = (TAMPERED, NO_TRACE, INCONCLUSIVE)
HEADLINES = {TAMPERED: "Tampered", NO_TRACE: "No trace found", INCONCLUSIVE: "Inconclusive"}
MIN_SIDE = 32
"""Pixels on the shorter side below which no model is asked (4 JPEG blocks: too few regions to
compare). A card's domain sets the real floor of its model (256 px for the default)."""
CAUSES = ("model", "not_jpeg", "too_small", "damaged", "nothing_to_compare", "outside_domain")
EXTREME_DECIMALS = 4
"""P(tampered) nearer 0 or 1 than this many decimals show is printed as a bound (<0.0001)."""
DAMAGED_NOTE = "JPEG data is corrupt"
"""Start of the note core.images writes for a JPEG whose entropy-coded data is damaged."""


def card_domain(card) -> Domain | None:
    """The card's declared domain (ModelCard or its dict), or None when it declares none."""
    data = card.get("domain") if isinstance(card, dict) else getattr(card, "domain", None)
    return Domain.from_dict(data) if data else None


def _card_value(card, key: str, default: Any = None) -> Any:
    return card.get(key, default) if isinstance(card, dict) else getattr(card, key, default)


@dataclass(frozen=True)
class Verdict:
    state: str
    """'tampered', 'no_trace' or 'inconclusive'."""
    p_tampered: float | None
    """The model's calibrated P(tampered); None when the model did not run."""
    reason: str
    model_name: str
    threshold: float
    false_alarm_rate: float | None = None
    """The highest false-alarm rate measured outside the domain, when that is the reason."""
    cause: str = "model"
    """Short key of the reason, for counting: one of ``CAUSES``."""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown verdict state {self.state!r}")
        if self.state != INCONCLUSIVE and self.p_tampered is None:
            raise ValueError(f"a '{self.state}' verdict needs P(tampered)")
        if self.state == TAMPERED and not self.p_tampered >= self.threshold:
            raise ValueError("a 'tampered' verdict below the threshold")
        if self.state == NO_TRACE and not self.p_tampered < self.threshold:
            raise ValueError("a 'no_trace' verdict at or above the threshold")

    @property
    def headline(self) -> str:
        return HEADLINES[self.state]

    def numbers(self) -> str:
        """'P(tampered) 0.47 ≥ threshold 0.42 (model default)', or the reason's short form."""
        if self.p_tampered is None:
            return f"model {self.model_name} not run"
        p, threshold = format_p_and_threshold(self.p_tampered, self.threshold)
        sign = "≥" if self.p_tampered >= self.threshold else "<"
        return f"P(tampered) {p} {sign} threshold {threshold} (model {self.model_name})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.state,
            "reason": self.reason,
            "p_tampered": None if self.p_tampered is None else round(self.p_tampered, 6),
            "threshold": round(self.threshold, 6),
            "model": self.model_name,
            "false_alarm_rate": self.false_alarm_rate,
        }


def format_p_and_threshold(p: float, threshold: float) -> tuple[str, str]:
    """Both numbers with the fewest decimals (at least 2) at which their printed order agrees
    with the verdict, and P is not printed as 0 or 1 unless it is: rounding never turns
    p >= threshold around, but p just below the threshold could print equal to it (reading as
    'tampered' beside 'no trace found'), and 0.99996 printed as 1.00 would claim certainty.
    P closer to 0 or 1 than 4 decimals show is printed as '<0.0001' or '>0.9999'."""
    for decimals in range(2, 13):
        p_text, t_text = f"{p:.{decimals}f}", f"{threshold:.{decimals}f}"
        ordered = (p >= threshold) == (float(p_text) >= float(t_text))
        certain = float(p_text) in (0.0, 1.0) and float(p_text) != p
        if ordered and not certain:
            return p_text, t_text
        if ordered and decimals >= EXTREME_DECIMALS:
            step, tampered, shown = 10.0**-decimals, p >= threshold, float(t_text)
            if p < 0.5 and (tampered or step <= shown):
                return f"<{step:.{decimals}f}", t_text
            if p >= 0.5 and tampered == (1 - step >= shown):
                return f">{1 - step:.{decimals}f}", t_text
    return repr(float(p)), repr(float(threshold))


def missing_evidence(facts, formats: tuple[str, ...] = ("JPEG",)) -> tuple[str, str] | None:
    """(cause, reason) when the method has nothing to work with in this file, else None."""
    if facts.format not in formats:
        kind = facts.format or "unknown format"
        return "not_jpeg", (
            f"not a JPEG ({kind}): the method compares JPEG compression errors, "
            "which this file does not carry"
        )
    if min(facts.width, facts.height) < MIN_SIDE:
        return "too_small", (
            f"too small ({facts.width}x{facts.height} px): under {MIN_SIDE} px on a side there "
            "are too few 8x8 blocks to compare regions"
        )
    if any(note.startswith(DAMAGED_NOTE) for note in facts.notes):
        return (
            "damaged",
            "the JPEG data is damaged: pixels after the damage are the decoder's guess",
        )
    tables = [] if facts.jpeg is None else list(facts.jpeg.quantization.values())
    if tables and max(tables[0]) <= 1:
        return "nothing_to_compare", (
            "the last save quantized nothing (every luminance step is 1, quality 100): "
            "there is no compression difference to compare"
        )
    return None


def before_model(facts, card) -> Verdict | None:
    """The inconclusive verdict given without running the model, or None when it may run."""
    name = str(_card_value(card, "name", "?"))
    threshold = float(_card_value(card, "threshold", 0.5))
    domain = card_domain(card)
    formats = domain.formats if domain is not None else ("JPEG",)
    if (missing := missing_evidence(facts, formats)) is not None:
        cause, reason = missing
        return Verdict(INCONCLUSIVE, None, reason, name, threshold, cause=cause)
    if domain is None:
        return None
    misfits = domain.misfits(facts)
    if not misfits:
        return None
    where = f" ({domain.validated_on})" if domain.validated_on else ""
    reason = f"outside what model {name} was validated on{where}: " + "; ".join(misfits)
    rate = None
    if domain.false_alarms_outside:
        reason += ". Measured false alarms outside it: " + "; ".join(
            a.describe() for a in domain.false_alarms_outside
        )
        rate = max(a.rate for a in domain.false_alarms_outside)
    return Verdict(INCONCLUSIVE, None, reason, name, threshold, rate, cause="outside_domain")


def from_probability(p_tampered: float, card) -> Verdict:
    """The verdict of a model that ran: tampered at or above the card's threshold, else no trace."""
    name = str(_card_value(card, "name", "?"))
    threshold = float(_card_value(card, "threshold", 0.5))
    p = float(p_tampered)
    domain = card_domain(card)
    scope = (
        f"inside the domain model {name} was validated on ({domain.describe()})"
        if domain is not None
        else f"model {name}'s card declares no validated domain: treat this with extra care"
    )
    if p >= threshold:
        reason = f"P(tampered) reached the model's threshold; {scope}"
        return Verdict(TAMPERED, p, reason, name, threshold)
    reason = (
        f"P(tampered) is below the model's threshold: no trace of tampering found, which does "
        f"not prove the image authentic; {scope}"
    )
    return Verdict(NO_TRACE, p, reason, name, threshold)


def decide(facts, card, p_tampered: float | None = None) -> Verdict:
    """``before_model`` if it applies, else ``from_probability`` (which needs ``p_tampered``)."""
    early = before_model(facts, card)
    if early is not None:
        return early
    if p_tampered is None:
        raise ValueError("the model must run for this image: P(tampered) is needed")
    return from_probability(p_tampered, card)

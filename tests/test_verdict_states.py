"""ml.verdict: states, reasons, the card's domain, labels that never contradict their numbers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from forensic_viewer.core.images import load_image
from forensic_viewer.ml import modelformat
from forensic_viewer.ml import verdict as v
from forensic_viewer.ml.domain import Domain, measure_domain
from forensic_viewer.ml.model import ElaCnn
from forensic_viewer.ml.modelfile import ModelCard, ModelFileError, load_model, save_model
from forensic_viewer.ml.modelpaths import DEFAULT_MODEL_STEM
from forensic_viewer.ml.preprocess import Recipe

MODELS = Path(__file__).resolve().parents[1] / "models"
DEFAULT_CARD = modelformat.read_card(MODELS / f"{DEFAULT_MODEL_STEM}.safetensors")[0]
DOMAIN = {
    "formats": ["JPEG"],
    "last_save": {"standard": [75, 90], "non-standard": [84, 99]},
    "pixels": [98304, 98304],
    "sides": [256, 384],
    "validated_on": "a test",
    "false_alarms_outside": [{"images": "camera photos", "flagged": 9, "of": 10}],
}


def facts_of(tmp_path, size=(384, 256), name="x.jpg", **save) -> object:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path = tmp_path / name
    Image.fromarray(pixels).save(path, **save)
    return load_image(path).facts


def card(threshold=0.42, domain=None) -> ModelCard:
    return ModelCard(name="m", threshold=threshold, domain=DOMAIN if domain is None else domain)


@pytest.mark.parametrize(
    ("size", "save", "expected"),
    [
        ((384, 256), {"format": "PNG"}, "not a JPEG (PNG)"),
        ((384, 256), {"format": "JPEG", "quality": 100}, "the last save quantized nothing"),
        ((20, 300), {"format": "JPEG", "quality": 80}, "too small (20x300 px)"),
        ((2000, 1500), {"format": "JPEG", "quality": 80}, "outside what model m was validated"),
        ((384, 256), {"format": "JPEG", "quality": 95}, "outside what model m was validated"),
        ((384, 256), {"format": "JPEG", "quality": 70}, "outside what model m was validated"),
    ],
)
def test_inconclusive_before_the_model_with_a_reason(tmp_path, size, save, expected):
    facts = facts_of(tmp_path, size, **save)
    verdict = v.before_model(facts, card())
    assert verdict is not None and verdict.state == "inconclusive"
    assert verdict.p_tampered is None and verdict.reason.startswith(expected)
    assert verdict.as_dict()["verdict"] == "inconclusive"


def test_outside_the_domain_names_the_misfit_and_the_measured_false_alarms(tmp_path):
    verdict = v.before_model(facts_of(tmp_path, (2000, 1500), quality=95), card())
    assert verdict.reason == (
        "outside what model m was validated on (a test): 2000x1500 px, sides outside 256-384 px; "
        "last saved with standard tables at quality ~95 (validated: standard q75-90, "
        "non-standard q84-99). Measured false alarms outside it: 90% (9/10) of camera photos"
    )
    assert verdict.false_alarm_rate == 0.9


def test_inside_the_domain_the_model_decides(tmp_path):
    facts = facts_of(tmp_path, (256, 384), quality=80)
    assert v.before_model(facts, card()) is None
    tampered = v.decide(facts, card(), 0.474)
    assert (tampered.state, tampered.p_tampered, tampered.threshold) == ("tampered", 0.474, 0.42)
    assert tampered.numbers() == "P(tampered) 0.47 ≥ threshold 0.42 (model m)"
    clean = v.decide(facts, card(), 0.1)
    assert clean.state == "no_trace" and clean.headline == "No trace found"
    assert "does not prove the image authentic" in clean.reason
    with pytest.raises(ValueError, match="P\\(tampered\\) is needed"):
        v.decide(facts, card())


def test_a_card_without_domain_still_checks_the_evidence_and_says_it_declares_none(tmp_path):
    bare = card(domain={})
    big = facts_of(tmp_path, (2000, 1500), quality=95)
    assert v.before_model(big, bare) is None
    assert "declares no validated domain" in v.from_probability(0.9, bare).reason
    png = facts_of(tmp_path, (100, 100), name="a.png", format="PNG")
    assert v.before_model(png, bare).reason.startswith("not a JPEG (PNG)")


def test_the_default_card_domain_is_casia_validation_size(tmp_path):
    domain = v.card_domain(DEFAULT_CARD)
    assert domain.sides == (256, 384) and domain.pixels == (98304, 98304)
    assert domain.last_save == {"standard": (75, 90), "non-standard": (84, 99)}
    # measured by scripts/domain_false_alarms.py (the model run ignoring its domain)
    assert [(a.flagged, a.of) for a in domain.false_alarms_outside] == [(99, 104), (88, 104)]
    phone = facts_of(tmp_path, (2000, 1500), name="p.jpg", quality=90)
    messenger = facts_of(tmp_path, (1600, 1200), name="m.jpg", quality=75)
    casia_like = facts_of(tmp_path, (384, 256), name="c.jpg", quality=84)
    for facts in (phone, messenger):
        assert v.before_model(facts, DEFAULT_CARD).state == "inconclusive"
    assert v.before_model(casia_like, DEFAULT_CARD) is None


def test_damaged_jpeg_data_is_inconclusive(tmp_path):
    facts = facts_of(tmp_path, (384, 256), quality=80)
    damaged = dataclasses.replace(facts, notes=("JPEG data is corrupt (Premature end)",))
    assert v.before_model(damaged, card()).reason.startswith("the JPEG data is damaged")


@given(
    p=st.floats(0.0, 1.0, allow_nan=False),
    threshold=st.floats(0.0, 1.0, allow_nan=False),
)
def test_the_printed_numbers_never_contradict_the_label(p, threshold):
    verdict = v.from_probability(p, card(threshold, domain={}))
    assert verdict.state == ("tampered" if p >= threshold else "no_trace")
    p_text, t_text = v.format_p_and_threshold(p, threshold)
    tampered = verdict.state == "tampered"
    if p_text.startswith("<"):  # a bound, never a false 0: "<0.0001 < threshold 0.4200"
        bound = float(p_text[1:])
        assert 0.0 < p < bound and (tampered or bound <= float(t_text))
    elif p_text.startswith(">"):  # a bound, never a false 1
        bound = float(p_text[1:])
        assert bound < p < 1.0 and (bound >= float(t_text)) == tampered
    else:
        assert (float(p_text) >= float(t_text)) == (verdict.state == "tampered")
        assert float(p_text) not in (0.0, 1.0) or float(p_text) == p  # never a false certainty
    assert "%" not in verdict.numbers() and "%" not in verdict.headline
    assert ("≥" in verdict.numbers()) == (verdict.state == "tampered")


def test_near_threshold_prints_enough_decimals():
    assert v.format_p_and_threshold(0.4201, 0.420106) == ("0.42010", "0.42011")
    assert v.format_p_and_threshold(0.474, 0.420106) == ("0.47", "0.42")
    assert v.format_p_and_threshold(0.9996, 0.42) == ("0.9996", "0.4200")
    assert v.format_p_and_threshold(0.99996, 0.42) == (">0.9999", "0.4200")
    assert v.format_p_and_threshold(3e-8, 0.42) == ("<0.0001", "0.4200")
    assert v.format_p_and_threshold(0.001, 0.42) == ("0.001", "0.420")
    assert v.format_p_and_threshold(1.0, 0.42) == ("1.00", "0.42")


def test_a_verdict_cannot_be_built_against_its_number():
    with pytest.raises(ValueError):
        v.Verdict("tampered", 0.3, "", "m", 0.42)
    with pytest.raises(ValueError):
        v.Verdict("no_trace", 0.5, "", "m", 0.42)
    with pytest.raises(ValueError):
        v.Verdict("authentic", 0.1, "", "m", 0.42)


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("JPEG", "field 'domain' has the wrong type"),
        ({"formats": [], "last_save": {"standard": [75, 90]}}, "formats"),
        ({"last_save": {}}, "last_save"),
        ({"last_save": {"camera": [75, 90]}}, "kind 'camera'"),
        ({"last_save": {"standard": [90, 75]}}, "low <= high"),
        ({"last_save": {"standard": [75, 101]}}, "within 1-100"),
        ({"last_save": {"standard": [75, 90]}, "sides": [0, 10]}, "positive"),
        ({"last_save": {"standard": [75, 90]}, "sizes": [1, 2]}, "unknown entries"),
        (
            {"last_save": {"standard": [75, 90]}, "false_alarms_outside": [{"images": "x"}]},
            "integers",
        ),
        (
            {
                "last_save": {"standard": [75, 90]},
                "false_alarms_outside": [{"images": "x", "flagged": 3, "of": 2}],
            },
            "impossible",
        ),
    ],
)
def test_a_bad_domain_makes_the_model_file_unusable(tmp_path, domain, message):
    card = ModelCard(name="bad", recipe=Recipe(name="small", size=32).as_dict())
    card.domain = domain  # save_model writes what it is given; loading checks it
    path = save_model(tmp_path / "bad", ElaCnn(input_size=32), card)
    with pytest.raises(ModelFileError, match="domain") as caught:
        load_model(path)
    assert message in str(caught.value) and "bad.safetensors" in str(caught.value)


def test_a_good_domain_round_trips_through_the_model_file(tmp_path):
    card = ModelCard(name="good", recipe=Recipe(name="small", size=32).as_dict(), domain=DOMAIN)
    path = save_model(tmp_path / "good", ElaCnn(input_size=32), card)
    assert load_model(path).card.domain == DOMAIN


def test_measure_domain_is_the_smallest_holding_every_file(tmp_path):
    a = facts_of(tmp_path, (384, 256), name="a.jpg", quality=75)
    b = facts_of(tmp_path, (300, 500), name="b.jpg", quality=90)
    domain = measure_domain([a, b], "two files")
    assert domain.as_dict() == {
        "formats": ["JPEG"],
        "last_save": {"standard": [75, 90]},
        "pixels": [98304, 150000],
        "sides": [256, 500],
        "validated_on": "two files",
        "false_alarms_outside": [],
    }
    assert Domain.from_dict(domain.as_dict()) == domain
    assert not domain.misfits(a) and not domain.misfits(b)

"""The synthetic tampering generator: masks, pairs, determinism, coverage of kinds."""

from __future__ import annotations

import io
from collections import Counter, defaultdict

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, JpegImagePlugin

from forensic_viewer.core.jpeg import estimate_quality
from forensic_viewer.ml import synthetic_regions as regions
from forensic_viewer.ml.synthetic import (
    AUTHENTIC_KINDS,
    INNOCENT_KINDS,
    TAMPERED_KINDS,
    Photo,
    decode_jpeg,
    find_photos,
    generate,
)


def _camera_like(seed: int, height: int, width: int) -> np.ndarray:
    """Smooth colour structure plus sensor-like noise, so JPEG has something to quantise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 32 + 2, width // 32 + 2, 3)).astype(np.uint8)
    base = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    noise = rng.normal(0, 6, (height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    (folder / "sub").mkdir()
    sizes = {"a_one.jpg": (300, 400), "b_two.jpg": (280, 360), "sub/c_three.JPG": (320, 300)}
    for index, (name, (h, w)) in enumerate(sizes.items()):
        exif = Image.Exif()
        exif[271], exif[272] = "ExifMaker", "Cam 1"
        Image.fromarray(_camera_like(index, h, w)).save(
            folder / name, quality=95, subsampling=1, exif=exif.tobytes()
        )
    # A wide one for the messenger's downscale to 1600 px.
    Image.fromarray(_camera_like(9, 640, 2000)).save(folder / "d_wide.jpg", quality=92)
    (folder / ".hidden.jpg").write_bytes((folder / "a_one.jpg").read_bytes())
    (folder / "MANIFEST.tsv").write_text(
        "file\tmake\tmodel\na_one.jpg\tAlpha\tA1\nb_two.jpg\tbeta\tB2\n", encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="module")
def photos(photo_folder):
    return find_photos(photo_folder)


@pytest.fixture(scope="module")
def suite(photos):
    """Every kind once per photo (per_photo=5 cycles the five tampering kinds and five innocent
    operations)."""
    return list(generate(photos[:3], seed=7, per_photo=5, max_side=256))


def test_find_photos_uses_the_manifest_then_exif(photos, photo_folder):
    by_name = {p.path.name: p for p in photos}
    assert sorted(by_name) == ["a_one.jpg", "b_two.jpg", "c_three.JPG", "d_wide.jpg"]
    assert (by_name["a_one.jpg"].make, by_name["a_one.jpg"].model) == ("alpha", "A1")
    assert (by_name["b_two.jpg"].make, by_name["b_two.jpg"].model) == ("beta", "B2")
    assert (by_name["c_three.JPG"].make, by_name["c_three.JPG"].model) == ("exifmaker", "Cam 1")
    assert (by_name["d_wide.jpg"].make, by_name["d_wide.jpg"].model) == ("", "")
    with pytest.raises(FileNotFoundError):
        find_photos(photo_folder / "missing")


def test_every_kind_occurs_once_per_photo(suite):
    counts = Counter(g.kind for g in suite)
    assert {k: counts[k] for k in TAMPERED_KINDS + INNOCENT_KINDS} == {
        k: 3 for k in TAMPERED_KINDS + INNOCENT_KINDS
    }
    assert counts["pair_authentic"] == 15
    assert len(suite) == 45
    assert {g.label for g in suite if g.kind in TAMPERED_KINDS} == {1}
    assert {g.label for g in suite if g.kind in AUTHENTIC_KINDS} == {0}


def test_same_seed_same_bytes_other_seed_other_bytes(photos, suite):
    again = list(generate(photos[:3], seed=7, per_photo=5, max_side=256))
    assert [g.jpeg for g in again] == [g.jpeg for g in suite]
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(again, suite, strict=True))
    other = list(generate(photos[:3], seed=8, per_photo=5, max_side=256))
    changed = [a.jpeg != b.jpeg for a, b in zip(other, suite, strict=True) if a.kind != "original"]
    assert all(changed)


def test_a_photo_gives_the_same_output_whatever_comes_before_it(photos):
    alone = list(generate(photos[1:2], seed=3, per_photo=2, max_side=256, donors=photos[:3]))
    within = list(generate(photos[:3], seed=3, per_photo=2, max_side=256))
    assert [g.jpeg for g in alone] == [g.jpeg for g in within if g.photo == photos[1]]


def _allowed(mask: np.ndarray, block: int) -> np.ndarray:
    """Pixels a JPEG decode may change when the pixels in ``mask`` changed: every block (MCU)
    touching the mask, plus 2 px for the decoder's chroma upsampling filter."""
    h, w = mask.shape
    rows, cols = -(-h // block), -(-w // block)
    padded = np.zeros((rows * block, cols * block), bool)
    padded[:h, :w] = mask
    touched = padded.reshape(rows, block, cols, block).any(axis=(1, 3))
    blocks = np.repeat(np.repeat(touched, block, 0), block, 1)[:h, :w]
    return cv2.dilate(blocks.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)


def test_pairs_differ_only_inside_the_mask_and_share_their_last_save(suite):
    pairs = defaultdict(dict)
    for g in suite:
        if g.kind in TAMPERED_KINDS or g.kind == "pair_authentic":
            pairs[g.pair_id]["t" if g.label else "a"] = g
    assert len(pairs) == 15
    for pair in pairs.values():
        tampered, authentic = pair["t"], pair["a"]
        assert tampered.settings == authentic.settings
        t, a = Image.open(io.BytesIO(tampered.jpeg)), Image.open(io.BytesIO(authentic.jpeg))
        with t, a:
            assert t.quantization == a.quantization
            assert JpegImagePlugin.get_sampling(t) == JpegImagePlugin.get_sampling(a)
            assert t.size == a.size == tampered.mask.shape[::-1]
        changed = np.any(decode_jpeg(tampered.jpeg) != decode_jpeg(authentic.jpeg), axis=2)
        block = 8 if tampered.settings.subsampling == "4:4:4" else 16
        assert not (changed & ~_allowed(tampered.mask, block)).any(), tampered.kind
        # ... and the paste really changed the region (not an invisible no-op).
        assert changed[tampered.mask].mean() > 0.3, tampered.kind
        assert 0.015 <= tampered.mask.mean() <= 0.16
        assert not authentic.mask.any() and authentic.mask.shape == tampered.mask.shape


def test_save_settings_are_what_the_files_say(suite, photos):
    for g in suite:
        if g.settings is None:
            continue
        with Image.open(io.BytesIO(g.jpeg)) as image:
            sampling = JpegImagePlugin.get_sampling(image)
            tables = image.quantization
        assert sampling == (0 if g.settings.subsampling == "4:4:4" else 2)
        if g.settings.own_tables:
            with Image.open(g.photo.path) as original:
                own = original.quantization
            assert [tables[0], tables[1]] == [own[0], own[1]]
        else:
            estimate = estimate_quality(tables)
            assert estimate.standard and estimate.quality == g.settings.quality
            assert 70 <= g.settings.quality <= 100


def test_innocent_operations(suite, photos):
    by_kind = defaultdict(list)
    for g in suite:
        by_kind[g.kind].append(g)
    for g in by_kind["original"]:
        assert g.jpeg == g.photo.path.read_bytes() and g.settings is None
        with Image.open(g.photo.path) as image:
            assert g.mask.shape == image.size[::-1] and not g.mask.any()
    for g in by_kind["resave"] + by_kind["double_resave"]:
        top, left, h, w = g.params["crop"]
        assert (top % 8, left % 8) == (0, 0) and (h, w) == g.mask.shape
    for g in by_kind["double_resave"]:
        assert 70 <= g.params["first"]["quality"] <= 100
    for g in by_kind["crop"]:
        assert g.mask.shape == tuple(g.params["crop"][2:])


def test_messenger_copy_is_downscaled_to_1600_at_q70_80(photos):
    wide = [p for p in photos if p.path.name == "d_wide.jpg"]
    made = list(generate(wide, 1, per_photo=5, kinds=["messenger"], max_side=None))
    assert len(made) == 5
    for g in made:
        with Image.open(io.BytesIO(g.jpeg)) as image:
            assert image.size == (1600, 512)
            assert JpegImagePlugin.get_sampling(image) == 2
        assert 70 <= g.settings.quality <= 80 and g.mask.shape == (512, 1600)


def test_kinds_filter_and_qualities(photos):
    made = list(
        generate(photos[:2], 2, per_photo=4, kinds=["copy_move"], max_side=128, qualities=[85])
    )
    assert [g.kind for g in made] == ["copy_move"] * 8
    assert {g.settings.quality for g in made} <= {85, None}
    assert all(g.mask.shape == (128, 128) for g in made)
    with pytest.raises(ValueError, match="unknown kinds: nope"):
        list(generate(photos, 0, kinds=["nope"]))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    height=st.integers(64, 700),
    width=st.integers(64, 700),
)
def test_region_fits_and_covers_2_to_15_percent(seed, height, width):
    mask = regions.region_mask(np.random.default_rng(seed), height, width)
    assert mask.shape[0] <= height and mask.shape[1] <= width
    assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()
    assert 0.012 <= mask.sum() / (height * width) <= 0.17


def test_feathered_alpha_stays_inside_the_mask():
    mask = np.zeros((20, 20), bool)
    mask[5:15, 4:16] = True
    assert np.array_equal(regions.feathered_alpha(mask, 0), mask.astype(np.float32))
    alpha = regions.feathered_alpha(mask, 2)
    assert np.array_equal(alpha > 0, mask)
    assert alpha[5, 10] == pytest.approx(1 / 3) and alpha[6, 10] == pytest.approx(2 / 3)
    assert alpha[10, 10] == 1.0


def test_composite_keeps_every_pixel_outside_alpha():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    patch = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    alpha = np.zeros((10, 12), np.float32)
    alpha[2:8, 3:9] = 0.5
    out = regions.composite(target, patch, alpha, 5, 7)
    inside = np.zeros((30, 40), bool)
    inside[7:13, 10:16] = True
    assert np.array_equal(out[~inside], target[~inside])
    expected = np.rint(0.5 * patch[2:8, 3:9].astype(np.float32) + 0.5 * target[7:13, 10:16])
    assert np.array_equal(out[inside].reshape(6, 6, 3), expected.astype(np.uint8))


def test_warped_patch_identity_is_exact():
    rng = np.random.default_rng(1)
    source = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    patch = regions.warped_patch(source, (30.5, 20.5), 10, 12, 0.0, 1.0)
    assert np.array_equal(patch, source[16:26, 25:37])


def test_held_out_makes_split_the_photos(photos):
    from pathlib import Path

    from forensic_viewer.ml.suite import HELD_OUT_MAKES, held_out_photos, training_photos

    kodak = Photo(Path("k.jpg"), "kodak", "X")
    sony = Photo(Path("s.jpg"), "sony", "Y")
    assert held_out_photos([kodak, sony]) == [kodak]
    assert training_photos([kodak, sony]) == [sony]
    assert HELD_OUT_MAKES == ("casio", "htc", "kodak", "nokia", "panasonic", "pentax")
    camera = Path(__file__).resolve().parents[2] / "shared/datasets/camera-originals"
    if (camera / "MANIFEST.tsv").is_file():  # the fixed split: 36 of the 104 photos
        everything = find_photos(camera)
        assert (len(everything), len(held_out_photos(everything))) == (104, 36)


def test_foreign_tables_an_editors_save(photos):
    from forensic_viewer.ml.suite import quality_bucket

    made = list(
        generate(
            photos[:3],
            5,
            per_photo=2,
            max_side=128,
            kinds=["splice_camera", "pair_authentic"],
            foreign_tables_share=1.0,
        )
    )
    assert len(made) == 12
    by_name = {p.path.name: p for p in photos}
    for g in made:
        assert g.settings.tables_from in by_name and g.settings.tables_from != g.photo.path.name
        assert g.settings.quality is None and not g.settings.own_tables
        assert quality_bucket(g.settings) == "foreign tables"
        with Image.open(by_name[g.settings.tables_from].path) as other:
            expected = [other.quantization[0], other.quantization[1]]
        with Image.open(io.BytesIO(g.jpeg)) as image:
            assert [image.quantization[0], image.quantization[1]] == expected
    pairs = defaultdict(list)
    for g in made:
        pairs[g.pair_id].append(g.settings)
    assert all(a == b for a, b in pairs.values())
    # Not asked for: the same bytes as before the option existed.
    plain = list(generate(photos[:3], 5, per_photo=2, max_side=128, kinds=["splice_camera"]))
    again = list(
        generate(
            photos[:3],
            5,
            per_photo=2,
            max_side=128,
            kinds=["splice_camera"],
            foreign_tables_share=0,
        )
    )
    assert [g.jpeg for g in plain] == [g.jpeg for g in again]
    assert all(g.settings.tables_from == "" for g in plain)

"""Dataset discovery, labels, groups, the split by source photo, the ELA cache and tile labels."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import CASIA, needs_casia
from PIL import Image

from forensic_viewer.core.images import load_image
from forensic_viewer.core.paths import user_cache_dir
from forensic_viewer.ml import data
from forensic_viewer.ml import tiles as tile_module
from forensic_viewer.ml.preprocess import (
    CLASSIC,
    RECIPES,
    TILES,
    Recipe,
    classic_input,
    ela_rendering,
)


def _image(path: Path, seed: int = 0, size=(48, 40), fmt: str | None = None) -> Path:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return path


def test_label_from_path_folders_aliases_nearest_and_names():
    assert data.label_from_path(Path("Real/x.jpg")) == data.AUTHENTIC
    assert data.label_from_path(Path("a/FORGED/b/x.png")) == data.TAMPERED
    # The nearest class folder wins over an outer one and over the name.
    assert data.label_from_path(Path("tampered/pristine/Tp_x.jpg")) == data.AUTHENTIC
    assert data.label_from_path(Path("Au_ani_0001.jpg")) == data.AUTHENTIC
    assert data.label_from_path(Path("misc/Sp_D_x.jpg")) == data.TAMPERED
    assert data.label_from_path(Path("tp_lower.JPG")) == data.TAMPERED
    assert data.label_from_path(Path("misc/photo.jpg")) is None


def test_casia_photo_ids():
    assert data.casia_photo_ids("Au_pla_0005.jpg") == ["pla0005"]
    assert data.casia_photo_ids("Sp_D_CND_A_pla0005_pla0023_0281.jpg") == ["pla0005", "pla0023"]
    # CASIA v2 style (5-digit ids) and the known typo 'ant' for 'nat'.
    assert data.casia_photo_ids("Tp_D_CRN_M_N_ani00010_ani10003_10125.jpg") == [
        "ani0010",
        "ani10003",
    ]
    assert data.casia_photo_ids("Sp_S_CND_A_ant0063_ant0063_0001.jpg") == ["nat0063", "nat0063"]
    assert data.casia_photo_ids("holiday.jpg") == []


def test_scan_folders_extensions_skips_and_masks(tmp_path):
    root = tmp_path / "set"
    _image(root / "pristine" / "a1.JPG", 1, fmt="JPEG")
    _image(root / "pristine" / "deeper" / "a2.jpeg", 2, fmt="JPEG")
    _image(root / "authentic" / "a3.png", 3, fmt="PNG")
    _image(root / "authentic" / "a4.TIF", 4, fmt="TIFF")
    _image(root / "Fake" / "t1.bmp", 5, fmt="BMP")
    _image(root / "tampered" / "t2.jpg", 6, fmt="JPEG")
    _image(root / "masks" / "t2.png", 7, fmt="PNG")
    _image(root / "unsorted" / "u.jpg", 8, fmt="JPEG")
    _image(root / "Fake" / "t1_gt.png", 10, fmt="PNG")  # a mask outside a mask folder
    (root / "tampered" / "notes.txt").write_text("hello")
    (root / "tampered" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "tampered" / "empty.jpg").write_bytes(b"")
    (root / ".hidden").mkdir()
    _image(root / ".hidden" / "authentic" / "h.jpg", 9, fmt="JPEG")

    dataset = data.scan_dataset(root)
    assert dataset.counts() == {"authentic": 4, "tampered": 2}
    by_name = {s.path.name: s for s in dataset.samples}
    assert by_name["t2.jpg"].mask == root / "masks" / "t2.png"
    assert by_name["t1.bmp"].mask == root / "Fake" / "t1_gt.png"
    assert by_name["a1.JPG"].mask is None
    reasons = {p.name: reason for p, reason in dataset.skipped}
    assert set(reasons) == {"notes.txt", "broken.jpg", "empty.jpg", "u.jpg"}
    assert "unsupported" in reasons["notes.txt"]
    assert reasons["empty.jpg"] == "empty file"
    assert "not a readable image" in reasons["broken.jpg"]
    assert "no class" in reasons["u.jpg"]
    assert dataset.group_source == "none"
    assert any("random by file" in w for w in dataset.warnings)
    assert any("Only 2 tampered" in w for w in dataset.warnings)
    assert any("4 files skipped" in w for w in dataset.warnings)


def test_scan_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        data.scan_dataset(tmp_path / "nope")


def test_casia_names_join_groups_by_union_find(tmp_path):
    for i, name in enumerate(
        [
            "Au_ani_0001.jpg",
            "Au_ani_0002.jpg",
            "Au_ani_0003.jpg",
            "Au_pla_0005.jpg",
            "Sp_D_CND_A_ani0001_ani0002_0001.jpg",
            "Sp_S_CND_A_ani0002_ani0003_0002.jpg",
            "Sp_S_CND_A_pla0005_pla0005_0003.jpg",
        ]
    ):
        _image(tmp_path / name, i, fmt="JPEG")
    dataset = data.scan_dataset(tmp_path)
    assert dataset.group_source == "casia-names"
    groups = {s.path.name: s.group for s in dataset.samples}
    chained = {groups[n] for n in groups if "ani" in n}
    assert len(chained) == 1  # ani0001 - ani0002 - ani0003 joined through two tampered images
    assert groups["Au_pla_0005.jpg"] == groups["Sp_S_CND_A_pla0005_pla0005_0003.jpg"]
    assert groups["Au_pla_0005.jpg"] not in chained
    split = data.split_dataset(dataset, 0.3, seed=1)
    assert {s.group for s in split.train}.isdisjoint({s.group for s in split.val})
    assert split.method == "by source photo from CASIA file names"


def test_manifest_group_ids_win_over_names(tmp_path):
    _image(tmp_path / "authentic" / "Au_ani_0001.jpg", 1, fmt="JPEG")
    _image(tmp_path / "authentic" / "Au_ani_0002.jpg", 2, fmt="JPEG")
    _image(tmp_path / "tampered" / "Sp_D_x_ani0001_ani0009_0001.jpg", 3, fmt="JPEG")
    (tmp_path / "MANIFEST.tsv").write_text(
        "file\tlabel\tcategory\tgroup_id\tsha256\n"
        "authentic/Au_ani_0001.jpg\tauthentic\tani\tG1\t-\n"
        "authentic/Au_ani_0002.jpg\tauthentic\tani\tG1\t-\n"
        "tampered/Sp_D_x_ani0001_ani0009_0001.jpg\ttampered\tani\tG2\t-\n"
    )
    dataset = data.scan_dataset(tmp_path)
    assert dataset.group_source == "manifest"
    assert [s.group for s in dataset.samples] == ["m:G1", "m:G1", "m:G2"]


def _flat_dataset(n_groups: int, per_group: int) -> data.Dataset:
    samples = [
        data.Sample(Path(f"/x/{g}_{k}.jpg"), (g + k) % 2, f"g{g}")
        for g in range(n_groups)
        for k in range(per_group)
    ]
    return data.Dataset(Path("/x"), samples, group_source="manifest")


def test_split_is_seeded_grouped_and_near_the_fraction():
    dataset = _flat_dataset(60, 3)
    first = data.split_dataset(dataset, 0.25, seed=7)
    again = data.split_dataset(dataset, 0.25, seed=7)
    other = data.split_dataset(dataset, 0.25, seed=8)
    assert [s.path for s in first.val] == [s.path for s in again.val]
    assert [s.path for s in first.val] != [s.path for s in other.val]
    assert {s.group for s in first.train}.isdisjoint({s.group for s in first.val})
    assert len(first.train) + len(first.val) == 180
    counts = Counter(s.label for s in first.val)
    assert abs(counts[0] - 0.25 * 90) <= 3 and abs(counts[1] - 0.25 * 90) <= 3
    with pytest.raises(ValueError):
        data.split_dataset(dataset, 1.0)


@needs_casia
def test_casia_manifest_split_never_shares_a_source_photo():
    dataset = data.scan_dataset(CASIA)
    assert dataset.counts() == {"authentic": 600, "tampered": 690}
    assert dataset.group_source == "manifest"
    assert sum(s.mask is not None for s in dataset.samples) == 689
    for seed in (0, 1, 2):
        split = data.split_dataset(dataset, 0.2, seed)
        assert {s.group for s in split.train}.isdisjoint({s.group for s in split.val})
        # Stronger: no photo id from the file names appears on both sides.
        ids = [
            {i for s in side for i in data.casia_photo_ids(s.path.name)}
            for side in (split.train, split.val)
        ]
        assert ids[0].isdisjoint(ids[1])
        assert 0.15 <= len(split.val) / len(dataset.samples) <= 0.3


def _two_samples(tmp_path) -> list[data.Sample]:
    a = _image(tmp_path / "authentic" / "a.jpg", 1, size=(40, 24), fmt="JPEG")
    t = _image(tmp_path / "tampered" / "t.png", 2, size=(20, 36), fmt="PNG")
    return [data.Sample(a, 0, "a"), data.Sample(t, 1, "t")]


def _drain(generator):
    events = []
    while True:
        try:
            events.append(next(generator))
        except StopIteration as stop:
            return events, stop.value


@pytest.mark.parametrize("recipe", [CLASSIC, TILES], ids=["classic", "tiles"])
def test_cache_computes_once_then_reuses_exact_inputs(tmp_path, recipe):
    samples = _two_samples(tmp_path)
    events, first = _drain(data.cache_inputs(samples, recipe, workers=2))
    assert events[0] == data.CachingProgress(0, 2, 0, 0)
    assert events[-1] == data.CachingProgress(2, 2, 0, 0)
    for sample, array, width in zip(first.samples, first.arrays, first.widths, strict=True):
        rgb = load_image(sample.path).pixels
        assert width == rgb.shape[1]
        if recipe is CLASSIC:
            assert array.shape == (3, 128, 128) and array.dtype == np.uint8
            assert np.array_equal(array.astype(np.float32) / 255, classic_input(rgb))
        else:
            assert np.array_equal(array, ela_rendering(rgb, recipe))
    stored = list((user_cache_dir() / "ela").rglob("*.np[yz]"))
    assert len(stored) == 2
    if recipe is TILES:  # native renderings come back memory-mapped, not copied into memory
        assert all(isinstance(a, np.memmap) for a in first.arrays)
    assert not list((user_cache_dir() / "ela").rglob("*.tmp"))
    events, second = _drain(data.cache_inputs(samples, recipe))
    assert events[-1] == data.CachingProgress(2, 2, 2, 0)
    for a, b in zip(first.arrays, second.arrays, strict=True):
        assert np.array_equal(a, b)


def test_cache_keys_separate_recipes():
    keys = {data.recipe_cache_key(r) for r in RECIPES.values()}
    assert len(keys) == len(RECIPES)
    assert data.recipe_cache_key(CLASSIC) != data.recipe_cache_key(Recipe(size=64))


def test_cache_reports_undecodable_files_and_honours_cancel(tmp_path):
    samples = _two_samples(tmp_path)
    good = samples[0].path.read_bytes()
    truncated = tmp_path / "authentic" / "cut.jpg"
    # the header still reads; the data stops before one whole row of pixels
    truncated.write_bytes(good[: good.index(b"\xff\xda") + 20])
    samples.append(data.Sample(truncated, 0, "cut"))
    _, result = _drain(data.cache_inputs(samples, CLASSIC))
    assert [s.path.name for s in result.samples] == ["a.jpg", "t.png"]
    assert [p.name for p, _ in result.failed] == ["cut.jpg"]
    assert "truncated or corrupt" in result.failed[0][1]
    _, cancelled = _drain(data.cache_inputs(samples, CLASSIC, cancel=lambda: True))
    assert cancelled is None


def test_grid_origins_and_mask_coverage():
    origins = tile_module.grid_origins(256, 384, 128)
    assert len(origins) == 17 * 33
    assert origins.min() == 0 and origins[:, 0].max() == 128 and origins[:, 1].max() == 256
    assert (origins % 8 == 0).all()
    assert tile_module.grid_origins(100, 60, 128).tolist() == [[0, 0]]
    rng = np.random.default_rng(3)
    mask = rng.random((150, 170)) < 0.3
    some = tile_module.grid_origins(150, 170, 64)
    coverage = tile_module.mask_coverage(mask, some, 64)
    brute = [mask[y : y + 64, x : x + 64].sum() / 64**2 for y, x in some]
    assert np.allclose(coverage, brute)


def test_tile_labels_from_mask_with_ambiguous_tiles(tmp_path):
    mask = np.zeros((256, 256), np.uint8)
    mask[0:64, 0:64] = 255  # a quarter of the tile at (0, 0)
    mask[200:202, 200:202] = 255  # 4 pixels: far below 10% of any tile
    mask_path = tmp_path / "m.png"
    Image.fromarray(mask).save(mask_path)
    sample = data.Sample(tmp_path / "t.jpg", data.TAMPERED, "g", mask_path)
    origins = np.array([[0, 0], [128, 128], [96, 96], [0, 128]])
    labels = tile_module.tile_labels(sample, (256, 256), origins, 128, 0.1)
    assert labels.tolist() == [1, -1, -1, 0]
    no_mask = data.Sample(tmp_path / "t.jpg", data.TAMPERED, "g")
    assert tile_module.tile_labels(no_mask, (256, 256), origins, 128, 0.1).tolist() == [1, 1, 1, 1]
    # A mask of another size is not trusted.
    assert tile_module.load_mask(mask_path, (100, 100)) is None


def test_tile_sampler_draws_tampered_tiles_and_flips_on_the_grid(tmp_path):
    rendering = np.random.default_rng(0).integers(0, 256, (256, 384, 3), dtype=np.uint8)
    mask = np.zeros((256, 384), np.uint8)
    mask[100:180, 200:300] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    samples = [data.Sample(tmp_path / "t.jpg", 1, "g", tmp_path / "m.png")]
    inputs = data.CachedInputs(samples, [rendering], [384], [])
    sampler = tile_module.TileSampler(inputs, 128, 0.1)
    rows = sampler.epoch(10, np.random.default_rng(0))
    assert len(rows) == 10
    assert (rows[:, 1:3] % 8 == 0).all()
    assert (rows[:, 3] == 1).sum() >= 5  # every other tile comes from the tampered region
    tiles = sampler.batch(rows[:2], np.array([False, True]))
    y, x = rows[1, 1:3]
    assert np.array_equal(tiles[1], rendering[y : y + 128, x : x + 128][:, ::-1])
    renderings = [rendering, rendering[:100, :100]]
    assert tile_module.count_tiles(renderings, TILES) == 15 + 1
    batches = list(tile_module.iter_tile_batches(renderings, TILES, batch_size=6))
    assert [len(owners) for _, owners in batches] == [6, 6, 4]
    val = np.concatenate([tiles for tiles, _ in batches])
    owners = np.concatenate([owners for _, owners in batches])
    assert owners.tolist() == [0] * 15 + [1]
    assert np.array_equal(val[1], rendering[0:128, 64:192])  # row-major over the stride grid
    assert np.array_equal(val[15, :100, :100], rendering[:100, :100])
    assert not val[15, 100:].any()

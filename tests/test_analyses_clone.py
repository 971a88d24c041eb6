"""Clone (copy-move) detection on made-up images with a known cloned square, and its CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from forensic_viewer.cli import main
from forensic_viewer.core.analyses import REGISTRY, AnalysisCancelled, run_analysis
from forensic_viewer.core.analyses.clone import canonical, consistent_clusters, g2nn_matches
from forensic_viewer.core.analyses.render import render_result
from forensic_viewer.core.images import load_image

OFFSET = (100, 60)  # (dx, dy) of the copy
SQUARE = 48


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour texture (features a few pixels wide), no repeats."""
    rng = np.random.default_rng(seed)
    base = rng.random((height // 4, width // 4, 3)).astype(np.float32)
    image = cv2.GaussianBlur(
        cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC), (0, 0), 1.0
    )
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def cloned(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean, with a cloned square, the true mask of source and destination)."""
    clean = textured(176, 224, seed)
    image = clean.copy()
    x, y = 30, 40
    dx, dy = OFFSET
    image[y + dy : y + dy + SQUARE, x + dx : x + dx + SQUARE] = clean[
        y : y + SQUARE, x : x + SQUARE
    ]
    truth = np.zeros(clean.shape[:2], bool)
    truth[y : y + SQUARE, x : x + SQUARE] = True
    truth[y + dy : y + dy + SQUARE, x + dx : x + dx + SQUARE] = True
    return clean, image, truth


def save_jpeg(tmp_path: Path, pixels: np.ndarray, name: str, quality: int = 92) -> Path:
    path = tmp_path / name
    Image.fromarray(pixels).save(path, quality=quality)
    return path


def f1(mask: np.ndarray, truth: np.ndarray) -> float:
    return 2 * (mask & truth).sum() / (mask.sum() + truth.sum())


@pytest.mark.parametrize("method", ["keypoints", "dense"])
def test_a_cloned_square_is_found_with_its_offset(tmp_path, method):
    _, image, truth = cloned()
    loaded = load_image(save_jpeg(tmp_path, image, "clone.jpg"))
    result = run_analysis(REGISTRY["clone"], loaded, {"method": method})
    clusters = result.data["clusters"]
    assert len(clusters) == 1
    found = clusters[0]
    # Either copy may be called the source: the move is the offset or its opposite.
    sign = 1 if found["dx"] > 0 else -1
    assert abs(sign * found["dx"] - OFFSET[0]) <= 1
    assert abs(sign * found["dy"] - OFFSET[1]) <= 1
    assert abs(found["rotation"]) < 1 and abs(found["scale"] - 1) < 0.02
    assert result.score == found["size"] >= (20 if method == "keypoints" else 500)
    assert f1(result.mask, truth) > 0.8
    assert result.image is loaded.pixels  # shown under the overlay, not copied
    assert [f.severity for f in result.findings] == ["warning"]
    for x1, y1, x2, y2 in result.lines:
        assert abs(abs(x2 - x1) - OFFSET[0]) <= 2 and abs(abs(y2 - y1) - OFFSET[1]) <= 2
    assert len(result.lines) > 0


@pytest.mark.parametrize("method", ["keypoints", "dense"])
def test_an_image_without_clones_scores_zero(tmp_path, method):
    clean, _, _ = cloned()
    loaded = load_image(save_jpeg(tmp_path, clean, "clean.jpg"))
    result = run_analysis(REGISTRY["clone"], loaded, {"method": method})
    assert result.score == 0
    assert result.data["clusters"] == []
    assert not result.mask.any()
    assert [f.severity for f in result.findings] == ["info"]


def test_a_rotated_copy_is_found_by_keypoints():
    clean = textured(240, 320, seed=4)
    image = clean.copy()
    patch = clean[20:100, 20:100]
    image[120:200, 200:280] = np.rot90(patch)  # rotated by 90 degrees
    result = REGISTRY["clone"].run(
        type("Loaded", (), {"pixels": image})(),
        {
            "method": "keypoints",
            "max_side": 0,
            "min_distance": 20,
            "ratio": 0.5,
            "min_matches": 6,
            "block": 16,
        },
        lambda _f: None,
        lambda: False,
    )
    found = result.data["clusters"][0]
    assert abs(abs(found["rotation"]) - 90) < 1
    assert abs(found["scale"] - 1) < 0.02


def test_g2nn_accepts_several_copies_and_min_distance_drops_near_pairs():
    # 0 and 1 are one pair; 2 has two copies (3, 4) before a big jump in distance.
    descriptors = np.array([[0, 0], [0, 0.1], [10, 0], [10, 0.1], [10, 0.25]], np.float32)
    descriptors = np.pad(descriptors, ((0, 0), (0, 126)))
    points = np.array([[0, 0], [50, 0], [0, 50], [5, 52], [100, 100]], np.float32)
    assert g2nn_matches(points, descriptors, 0.5, 0).tolist() == [[0, 1], [2, 3], [2, 4]]
    assert g2nn_matches(points, descriptors, 0.5, 10).tolist() == [[0, 1], [2, 4]]
    assert g2nn_matches(points, descriptors, 0.5, 60).tolist() == [[2, 4]]
    # A stricter ratio stops before 3 (0.1 / 0.25 = 0.4 is not under 0.3).
    assert g2nn_matches(points, descriptors, 0.3, 0).tolist() == [[0, 1]]


def test_clusters_orient_matches_and_need_enough_of_them():
    rng = np.random.default_rng(1)
    source = rng.uniform(0, 100, (12, 2)).astype(np.float32)
    target = source + np.float32([150, -30])
    flip = rng.random(12) < 0.5  # matches arrive in either direction
    a, b = np.where(flip[:, None], target, source), np.where(flip[:, None], source, target)
    clusters = consistent_clusters(a, b, min_matches=6, min_distance=20)
    assert len(clusters) == 1
    affine, from_points, to_points = clusters[0]
    np.testing.assert_allclose(affine, [[1, 0, 150], [0, 1, -30]], atol=1e-3)
    assert len(from_points) == 12
    assert consistent_clusters(a, b, min_matches=13, min_distance=20) == []
    assert consistent_clusters(a, b, min_matches=6, min_distance=200) == []
    left, right = canonical(np.float32([[5, 0], [0, 0]]), np.float32([[0, 0], [0, 5]]))
    assert left.tolist() == [[0, 0], [0, 0]] and right.tolist() == [[5, 0], [0, 5]]


@pytest.mark.parametrize("method", ["keypoints", "dense"])
def test_cancel_stops_clone_detection(tmp_path, method):
    _, image, _ = cloned()
    loaded = load_image(save_jpeg(tmp_path, image, "clone.jpg"))
    polls = []

    def cancel_late():
        polls.append(1)
        return len(polls) >= 3

    with pytest.raises(AnalysisCancelled):
        run_analysis(REGISTRY["clone"], loaded, {"method": method}, cancel=cancel_late)
    assert len(polls) == 3


def test_render_tints_the_mask_and_draws_lines():
    _, image, truth = cloned()
    result = REGISTRY["clone"].run(
        type("Loaded", (), {"pixels": image})(),
        {
            "method": "keypoints",
            "max_side": 0,
            "min_distance": 20,
            "ratio": 0.5,
            "min_matches": 6,
            "block": 16,
        },
        lambda _f: None,
        lambda: False,
    )
    picture = render_result(result, image)
    assert picture.shape == image.shape and picture.dtype == np.uint8
    outside = ~cv2.dilate(result.mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    lines = np.zeros(image.shape[:2], np.uint8)
    for x1, y1, x2, y2 in result.lines:
        cv2.line(lines, (round(x1), round(y1)), (round(x2), round(y2)), 1, 9)
    untouched = outside & (lines == 0)
    np.testing.assert_array_equal(picture[untouched], image[untouched])
    inside = cv2.erode(result.mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & (
        lines == 0
    )
    expected = (0.5 * image[inside] + 0.5 * np.float32([255, 40, 40])).astype(np.uint8)
    np.testing.assert_array_equal(picture[inside], expected)


def test_cli_writes_png_and_json_and_refuses_to_overwrite(tmp_path, capsys):
    _, image, _ = cloned()
    source = save_jpeg(tmp_path, image, "evidence.jpg")
    out, report = tmp_path / "out" / "clone.png", tmp_path / "clone.json"
    assert (
        main(["clone", str(source), "-o", str(out), "--json", str(report), "--min-matches", "8"])
        == 0
    )
    written = np.asarray(Image.open(out))
    assert written.shape == image.shape
    data = json.loads(report.read_text())
    assert data["analysis"] == "clone" and data["params"]["min_matches"] == 8
    assert data["params"]["method"] == "keypoints"
    assert data["score"] == data["data"]["clusters"][0]["size"] > 0
    assert data["findings"][0]["severity"] == "warning"
    assert data["sha256"] == load_image(source).facts.sha256
    assert capsys.readouterr().out.startswith(f"{out}: Clone detection score=")
    # Existing outputs are refused without --force; the input never.
    assert main(["clone", str(source), "-o", str(out)]) == 2
    assert "exists (use --force to replace it)" in capsys.readouterr().err
    assert main(["clone", str(source), "-o", str(out), "--force", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["analysis"] == "clone"
    before = source.read_bytes()
    assert main(["clone", str(source), "-o", str(source), "--force"]) == 2
    assert (
        main(
            ["clone", str(source), "-o", str(tmp_path / "x.png"), "--json", str(source), "--force"]
        )
        == 2
    )
    assert source.read_bytes() == before
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("forensic-viewer: error: ") for line in err)
    assert main(["clone", str(source), "-o", str(tmp_path / "y.png"), "--ratio", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "forensic-viewer: error: clone: ratio: must be at most 0.95, got 2.0"
    )
    assert main(["clone", str(source), "-o", str(tmp_path / "y.jpg")]) == 2
    assert "lossless" in capsys.readouterr().err
    assert not (tmp_path / "y.png").exists() and not (tmp_path / "y.jpg").exists()


def test_cli_grid_writes_extras(tmp_path, capsys):
    source = save_jpeg(tmp_path, textured(64, 80), "photo.jpg", quality=75)
    out = tmp_path / "grid.png"
    assert main(["grid", str(source), "-o", str(out), "--extras", "--grayscale"]) == 0
    names = sorted(p.name for p in tmp_path.glob("grid*.png"))
    assert names == ["grid.png"] + [f"grid.q{q}.png" for q in (100, 60, 70, 80, 90, 95)]
    from forensic_viewer.core.ela import ela

    pixels = load_image(source).pixels
    expected = ela(pixels, 70, grayscale=True).rendering
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "grid.q70.png"))[:, :, 0], expected
    )
    np.testing.assert_array_equal(
        np.asarray(Image.open(out))[:, :, 1], ela(pixels, 80, grayscale=True).rendering
    )


def test_small_clusters_are_a_notice_and_dense_ones_scale_with_the_image():
    from forensic_viewer.core.analyses.clone import finish

    pixels = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), bool)

    def severity(size: int, unit: str, positions: int = 0) -> str:
        cluster = {"size": size, "dx": 50.0, "dy": 0.0, "rotation": 0.0, "scale": 1.0}
        data = {"positions": positions}
        return finish(pixels, mask, [], [cluster], data, unit).findings[0].severity

    assert (severity(9, "keypoint matches"), severity(10, "keypoint matches")) == (
        "notice",
        "warning",
    )
    assert (severity(199, "blocks", 1000), severity(200, "blocks", 1000)) == ("notice", "warning")
    assert (severity(399, "blocks", 200_000), severity(400, "blocks", 200_000)) == (
        "notice",
        "warning",
    )

"""Opening images: drag-and-drop of files and folders, bad files, filmstrip, closing."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

from pathlib import Path

import numpy as np
from badinput import make_corpus
from uihelp import drop, images, jpeg_pixels, photo, wait_idle, window, write_jpeg  # noqa: F401

from forensic_viewer.core.images import IMAGE_SUFFIXES
from forensic_viewer.ui.viewer.document import printable


def test_drop_files_opens_them_in_order(qtbot, window, images):
    accepted_enter, accepted_drop = drop(window, images[:2])
    assert (accepted_enter, accepted_drop) == (True, True)
    wait_idle(qtbot, window)
    session = window.session
    assert [d.path for d in session.documents] == images[:2]
    assert window.filmstrip.count() == 2
    assert session.current is session.documents[0]
    assert window.filmstrip.currentItem().data(256) == session.documents[0].id
    np.testing.assert_array_equal(window.views.original.image.image, jpeg_pixels(images[0]))
    assert window.messages.messages == []


def test_drop_folder_is_recursive_and_skips_non_images(qtbot, window, tmp_path):
    folder = tmp_path / "case"
    a = write_jpeg(folder / "a.jpg", photo(seed=1))
    b = write_jpeg(folder / "sub" / "deeper" / "b.jpg", photo(seed=2))
    (folder / "sub" / "readme.txt").write_text("not an image")
    drop(window, [folder])
    wait_idle(qtbot, window)
    assert [d.path for d in window.session.documents] == [a, b]
    assert window.messages.messages == []


def test_folder_cap_opens_the_first_ones_and_says_so(qtbot, window, tmp_path):
    folder = tmp_path / "many"
    paths = [write_jpeg(folder / f"{i:02d}.jpg", photo(32, 24, seed=i)) for i in range(5)]
    window.session.folder_cap = 3
    drop(window, [folder])
    wait_idle(qtbot, window)
    assert [d.path for d in window.session.documents] == paths[:3]
    assert window.messages.messages == ["many: more than 3 images; only the first 3 were opened"]


def test_drop_of_text_is_refused(qtbot, window):
    from PySide6.QtCore import QMimeData, QPointF, Qt
    from PySide6.QtGui import QDragEnterEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setText("hello")
    enter = QDragEnterEvent(
        QPointF(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


def test_bad_files_among_good_ones_give_one_message_each(qtbot, window, tmp_path, images):
    empty = tmp_path / "bad" / "empty.jpg"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    text = tmp_path / "bad" / "notes.jpg"
    text.write_text("meeting notes\n" * 10)
    truncated = tmp_path / "bad" / "cut.jpg"
    truncated.write_bytes(images[0].read_bytes()[:700])
    drop(window, [images[0], empty, text, truncated, images[1]])
    wait_idle(qtbot, window)
    assert [d.path for d in window.session.documents] == [images[0], images[1]]
    messages = window.messages.messages
    assert messages[0] == "empty.jpg: the file is empty (zero bytes)"
    assert messages[1] == ("notes.jpg: not an image file, or a format Forensic Viewer cannot read")
    assert messages[2].startswith("cut.jpg: the image is truncated or corrupt")
    assert len(messages) == 3
    assert window.messages.isVisible()
    assert window.isVisible()  # alive, and no modal dialog was opened
    from PySide6.QtWidgets import QApplication

    assert QApplication.activeModalWidget() is None


def test_the_bad_input_corpus_never_breaks_the_window(qtbot, window, tmp_path):
    cases = make_corpus(tmp_path / "corpus")
    window.session.folder_cap = 1000
    drop(window, [tmp_path / "corpus"])
    wait_idle(qtbot, window, timeout=60_000)
    opened = {d.path for d in window.session.documents}
    files = [c for c in cases if not c.path.is_dir() and c.path.suffix.lower() in IMAGE_SUFFIXES]
    should_open = {c.path for c in files if not c.error}
    # the second half of the symlink loop is a file name in the folder too
    should_fail = sorted([c.path.name for c in files if c.error] + ["loop-b.jpg"])
    assert opened == should_open
    said = [m.split(": ")[0] for m in window.messages.messages if "truncated file, " not in m]
    assert sorted(said) == sorted(printable(n) for n in should_fail)
    # a cut-off file that opens is announced once, with how much of it is real
    cut_off = sorted(m for m in window.messages.messages if "truncated file, " in m)
    assert cut_off == sorted(
        f"{c.path.name}: truncated file, rows 0-{c.decoded_rows - 1} of 96 decoded "
        f"({100 * c.decoded_rows // 96}%); the missing part is hatched and ELA and verdict "
        "cover only the decoded rows"
        for c in files
        if c.decoded_rows is not None
    )
    # step through everything: each one shows with an ELA of its own size
    for doc in list(window.session.documents):
        window.session.set_current(doc)
        wait_idle(qtbot, window)
        frame = window.session.last_frame
        assert frame.doc_id == doc.id
        w, h = doc.display_size
        assert frame.rendering.shape[:2] == (h, w)


def test_closing_frees_pixels_and_selects_a_neighbour(qtbot, window, images):
    window.open_paths(images)
    wait_idle(qtbot, window)
    session = window.session
    first, second, third = session.documents
    session.set_current(second)
    wait_idle(qtbot, window)
    assert second.id in session.cache.image_ids()
    window.close_current()
    wait_idle(qtbot, window)
    assert second not in session.documents
    assert second.id not in session.cache.image_ids()
    assert window.filmstrip.doc_ids() == [first.id, third.id]
    assert session.current is third
    session.close_all()
    assert session.documents == [] and len(session.cache) == 0
    assert window.filmstrip.count() == 0
    assert window.views.original.image.image is None


def test_keyboard_steps_through_the_filmstrip(qtbot, window, images):
    from PySide6.QtCore import Qt

    window.open_paths(images)
    wait_idle(qtbot, window)
    ids = [d.id for d in window.session.documents]
    window.views.original.view.setFocus()
    qtbot.keyClick(window.views.original.view, Qt.Key.Key_PageDown)
    assert window.session.current.id == ids[1]
    qtbot.keyClick(window.views.original.view, Qt.Key.Key_Down)
    assert window.session.current.id == ids[2]
    qtbot.keyClick(window.views.original.view, Qt.Key.Key_Down)  # clamped at the end
    assert window.session.current.id == ids[2]
    qtbot.keyClick(window.views.original.view, Qt.Key.Key_PageUp)
    assert window.session.current.id == ids[1]
    assert window.filmstrip.currentItem().data(256) == ids[1]


def test_opening_the_same_file_twice_selects_it(qtbot, window, images):
    window.open_paths(images[:2])
    wait_idle(qtbot, window)
    window.open_paths([str(Path(images[0]))])
    wait_idle(qtbot, window)
    assert len(window.session.documents) == 2
    assert window.session.current.path == images[0]


def test_recent_files_are_remembered(qtbot, window, images):
    window.open_paths(images[:2])
    wait_idle(qtbot, window)
    assert window.app_settings.recent_files() == [str(images[1]), str(images[0])]


def test_the_same_file_by_another_name_or_twice_in_flight_opens_once(qtbot, window, images):
    link = images[0].parent.parent / "link.jpg"
    link.symlink_to(images[0])
    window.open_paths([images[0]])
    window.open_paths([images[0], link])  # before the first load has finished
    wait_idle(qtbot, window)
    window.open_paths([link])
    wait_idle(qtbot, window)
    assert [d.path for d in window.session.documents] == [images[0]]


def test_filmstrip_shows_verdicts_and_sorts_by_p_tampered(qtbot, window, images):
    from forensic_viewer.ui.viewer.document import Verdict
    from forensic_viewer.ui.viewer.filmstrip import STATE_COLOURS

    window.open_paths(images)
    wait_idle(qtbot, window)
    a, b, c = window.session.documents
    a.verdict = Verdict("no_trace", 0.10, "m", threshold=0.42, reason="below")
    c.verdict = Verdict("tampered", 0.474, "m", threshold=0.42, reason="reached")
    for doc in (a, c):
        window.filmstrip.set_verdict(doc)
    item_a, item_c = window.filmstrip.item_for(a.id), window.filmstrip.item_for(c.id)
    assert item_c.text().splitlines()[-1] == "● Tampered 0.47"
    assert item_a.text().splitlines()[-1] == "○ No trace 0.10"
    assert item_c.foreground().color().name() == STATE_COLOURS["tampered"]
    assert item_a.foreground().color().name() == STATE_COLOURS["no_trace"]
    assert item_a.toolTip().endswith("\nNo trace found (model m): below")
    window.filmstrip.sort_by_p_tampered()
    assert window.filmstrip.doc_ids() == [c.id, a.id, b.id]  # unknown verdict last
    assert window.session.current is a  # sorting keeps the selection
    assert window.filmstrip.currentItem().data(256) == a.id
    window.step(1)  # navigation follows the filmstrip's order
    assert window.session.current is b
    window.filmstrip.sort_by_opening_order()
    assert window.filmstrip.doc_ids() == [a.id, b.id, c.id]
    b.verdict = Verdict("inconclusive", None, "m", threshold=0.42, reason="not a JPEG (PNG): x")
    window.filmstrip.set_verdict(b)
    item_b = window.filmstrip.item_for(b.id)
    assert item_b.text().splitlines()[-1] == "? Inconclusive"
    assert item_b.foreground().color().name() == STATE_COLOURS["inconclusive"]
    assert item_b.toolTip().endswith("Inconclusive (model m): not a JPEG (PNG): x")
    window.filmstrip.sort_by_p_tampered()
    assert window.filmstrip.doc_ids() == [c.id, a.id, b.id]  # no P: last

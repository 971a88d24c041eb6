"""The whole bad-input corpus (tests/badinput.py) dropped on the window with a model active.

Every file that cannot be opened gives one message naming it; every file that opens is shown,
gets a verdict and a heatmap of its own (displayed) size; no dialog, no crash; the evidence
bytes stay the same and nothing is written beside them (reports go elsewhere).
"""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import json

from badinput import make_corpus, snapshot
from PySide6.QtWidgets import QApplication
from uihelp import drop, save_tiny_model, wait_idle, window  # noqa: F401

from forensic_viewer.ui.viewer.document import printable, verdict_text


def test_dropping_the_bad_input_corpus_with_a_model(qtbot, window, tmp_path):
    cases = make_corpus(tmp_path / "corpus")
    before = snapshot(tmp_path / "corpus")
    model = save_tiny_model(tmp_path / "models" / "tiny", seed=4)
    window.choose_model(model)
    window.set_heatmap(True)
    window.session.folder_cap = 1000

    accepted = drop(window, [c.path for c in cases])
    assert accepted == (True, True)
    wait_idle(qtbot, window, timeout=60_000)

    opened = {d.path for d in window.session.documents}
    assert opened == {c.path for c in cases if c.opens}
    refused = [c for c in cases if not c.opens]
    messages = window.messages.messages
    cut_off = [c for c in cases if c.decoded_rows is not None]
    # one each, and nothing about the ones that opened whole (cut-off ones say how much is real)
    assert len(messages) == len(refused) + len(cut_off) == len(refused) + 2
    for case in refused:
        name = printable(case.path.name)
        assert any(m.startswith(name + ":") for m in messages), case.id
    assert window.messages.isVisible()  # non-modal: shown in the bar above the views
    assert window.isVisible() and not any(
        w.isModal() and w.isVisible() for w in QApplication.topLevelWidgets()
    )
    # every image that opened has a verdict from the model; none failed
    assert window.verdicts.failures == {}
    states = set()
    for doc in window.session.documents:
        assert doc.verdict is not None and doc.verdict.model_name == "tiny", doc.name
        states.add(doc.verdict.state)
        window.session.set_current(doc)
        wait_idle(qtbot, window)
        assert window.badge.state == "result"
        assert window.badge.text.text() == verdict_text(doc.verdict)
        if doc.verdict.state == "inconclusive":  # not a JPEG, tiny...: no number, no heatmap
            assert doc.verdict.p_tampered is None and doc.verdict.reason, doc.name
            assert window.heat_layer.overlay is None, doc.name
            assert window.network.heat_info.text().startswith("no heatmap"), doc.name
            continue
        assert 0.0 <= doc.verdict.p_tampered <= 1.0
        w, h = doc.display_size
        overlay = window.heat_layer.overlay
        assert overlay.doc_id == doc.id and overlay.size == (w, h), doc.name
        assert overlay.rgba.shape[:2] == (-(-h // overlay.step), -(-w // overlay.step))
    assert "inconclusive" in states and states - {"inconclusive"}, states

    # a report for every image, including the one whose name is not valid UTF-8
    for doc in window.session.documents:
        window.session.set_current(doc)
        wait_idle(qtbot, window)
        out = window.actions.export("report", tmp_path / "reports" / f"{doc.id}.json")
        report = json.loads(out.read_text(encoding="utf-8"))
        assert report["file"]["path"] == str(doc.path), doc.name
        assert report["verdict"]["p_tampered"] == doc.verdict.p_tampered
    assert window.isVisible() and QApplication.activeModalWidget() is None
    assert snapshot(tmp_path / "corpus") == before  # bytes unchanged, nothing added beside

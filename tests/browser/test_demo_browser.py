"""The demo in a real browser (Playwright + Debian's Chromium): messages that stay, the box tool, honest Run and
Stop, a run, downloads.

Needs ``apt-get install -y chromium`` and ``pip install playwright`` (never ``playwright install``: the system
Chromium is used). Screenshots of each step go to ``$RGMP_SCREENSHOTS`` (or the test's temporary folder). The
tests share one server and run in file order: the first leaves an error on a page of its own, which the last
checks again at least 20 s later.
"""

from __future__ import annotations

import os
import re
import socket
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent: apt-get install -y chromium", allow_module_level=True)

from playwright import sync_api  # noqa: E402 (pip install playwright; a missing driver fails, it does not skip)

from demo import run_controller  # noqa: E402
from demo.app import build_demo, launch_demo  # noqa: E402
from demo.example_clips import EXAMPLES_DIR  # noqa: E402
from demo.limits import Limits  # noqa: E402
from demo.models import random_model_loader  # noqa: E402
from train.online import OnlineLearning  # noqa: E402

ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 60_000
ERROR_STAYS_S = 20
VIEWPORT = {"width": 1400, "height": 1000}
BARE_BADGES = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.children.length === 0 && e.textContent.trim() === 'Error' && e.getClientRects().length > 0)
    .filter(e => !e.closest('[class*=toast]'))
    .map(e => (e.closest('[id]') || document.body).id || e.className)"""
"""Where visible elements that say only "Error" are: Gradio's badge on the outputs of an event that raised. (A toast
titled "Error" comes with its message: the video player's own "Video not playable" for a file that is no video,
which closes by itself, while the demo's message stays under the video box.)"""


class SlowModel(torch.nn.Module):
    """A random lite network that takes at least ``delay`` seconds per frame, so that Stop lands mid-clip; what
    adapting to a clip reaches (encoder, decoder, step) is the network's own."""

    def __init__(self, model: torch.nn.Module, delay: float):
        super().__init__()
        self.inner, self.delay, self.config = model, delay, model.config

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)

    def encode_reference(self, frame, mask):
        return self.inner.encode_reference(frame, mask)

    def forward(self, frame, mask, reference):
        time.sleep(self.delay)
        return self.inner(frame, mask, reference)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core CPU: OpenMP spinning would make tiny inputs 30× slower
    loader = random_model_loader()
    work = tmp_path_factory.mktemp("work")
    patch = pytest.MonkeyPatch()  # adapting to the clip, ticked by default, in 2 steps instead of 20
    tiny = OnlineLearning(steps=2, lr=1e-4, batch_size=1, decoder_only=True)
    patch.setattr(run_controller, "adapt_schedule", lambda device: tiny)
    demo = build_demo(
        model_loader=lambda key: SlowModel(loader(key), 0.3),
        limits=Limits(),
        device="cpu",
        work_root=work,
        default_size=96,
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, url, _ = launch_demo(demo, port=port, work_root=work, block=False, quiet=True)
    yield url
    demo.close()
    patch.undo()
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def browser(server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("#video-input")
    return page


@pytest.fixture(scope="module")
def page(browser, server):
    return open_page(browser, server)


@pytest.fixture(scope="module")
def error_page(browser, server, tmp_path_factory):
    """A page of its own where a text file renamed .mp4 was uploaded; yields (page, when the message appeared)."""
    page = open_page(browser, server)
    bad = tmp_path_factory.mktemp("bad") / "notes.mp4"
    bad.write_text("these are notes, not a video\n" * 40)
    page.locator("#video-input input[type=file]").set_input_files(str(bad))
    wait_for_text(page, "#clip-info", "⚠")
    return page, time.monotonic()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("RGMP_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for_text(page, selector: str, text: str) -> str:
    try:
        page.wait_for_function(
            "([selector, text]) => (document.querySelector(selector)?.innerText || '').includes(text)",
            arg=[selector, text],
        )
    except sync_api.TimeoutError:
        shown = page.locator(selector).inner_text() if page.locator(selector).count() else "(absent)"
        raise AssertionError(f"{selector} never showed {text!r}; it shows {shown!r}") from None
    return page.locator(selector).inner_text()


def frame_to_screen(page, size: tuple[int, int]):
    """A function (x, y) in frame pixels → page coordinates of the editor's canvas (the frame is centred in it,
    drawn at the zoom the editor shows), once the editor has stopped resizing to the new frame."""
    zoom_text = page.locator("#annotator").get_by_text(re.compile(r"^\d+%$")).first
    seen, deadline = None, time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        now = (page.locator("#annotator canvas").first.bounding_box(), zoom_text.inner_text())
        if now == seen:
            break
        seen = now
        time.sleep(1.0)
    canvas, zoom = seen[0], float(seen[1][:-1]) / 100
    cx, cy = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    return lambda x, y: (cx + (x - size[0] / 2) * zoom, cy + (y - size[1] / 2) * zoom)


def read_zip(page, locator: str, folder: Path) -> dict[str, np.ndarray]:
    with page.expect_download() as download:
        page.locator(locator).first.click()
    saved = folder / download.value.suggested_filename
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        return {name: np.array(Image.open(archive.open(name))) for name in archive.namelist()}


def test_a_bad_upload_is_explained_under_the_video_box_without_a_server_path(error_page, shots) -> None:
    page, _ = error_page
    message = page.locator("#clip-info").inner_text()
    assert message.startswith("⚠ notes.mp4 is not a readable video") and "/" not in message
    assert page.evaluate(BARE_BADGES) == []
    assert page.locator("#run").is_disabled() and page.locator("#stop").is_disabled()
    page.screenshot(path=shots / "01-bad-upload.png")


def test_the_box_tool_gives_a_mask_from_a_drag_and_a_run_from_it(page, shots, tmp_path) -> None:
    assert page.locator("#stop").is_disabled()  # idle: nothing to stop
    page.locator("#video-input input[type=file]").set_input_files(str(EXAMPLES_DIR / "rollerblade.mp4"))
    assert "854×480 · 24 fps · 35 frames" in wait_for_text(page, "#clip-info", "854×480")
    wait_for_text(page, "#objects", "0 objects")
    assert page.locator("#stop").is_disabled()

    truth = np.array(Image.open(EXAMPLES_DIR / "rollerblade.png")) == 1
    rows, cols = np.nonzero(truth)
    to_screen = frame_to_screen(page, (854, 480))
    page.locator("#annotator button[aria-label='Brush']").first.click()
    (x0, y0), (x1, y1) = to_screen(cols.min(), rows.min()), to_screen(cols.max(), rows.max())
    page.mouse.move(x0, y0)
    page.mouse.down()
    for step in range(1, 21):  # one drag from corner to corner: the Box tool (the default) cuts the object inside
        page.mouse.move(x0 + (x1 - x0) * step / 20, y0 + (y1 - y0) * step / 20)
    page.mouse.up()
    objects = wait_for_text(page, "#objects", "cut in")
    assert "1 object" in objects
    page.screenshot(path=shots / "02-box.png")

    page.locator("#run").click()
    page.wait_for_function("() => document.querySelector('#run').innerText.includes('Running')")
    assert page.locator("#run").is_disabled() and page.locator("#stop").is_enabled()
    page.screenshot(path=shots / "03-running.png")
    status = wait_for_text(page, "#status", "Done")
    assert "35 frames segmented" in status and "frames 0–34" in status
    page.wait_for_function("() => document.querySelector('#run').innerText === 'Run from frame 0'")
    assert page.locator("#run").is_enabled() and page.locator("#stop").is_disabled()
    page.wait_for_function(
        "() => { const v = document.querySelector('#overlay-video video'); return v && v.readyState >= 2; }"
    )
    page.screenshot(path=shots / "04-done.png")

    masks = read_zip(page, "#masks-zip a", tmp_path)
    assert sorted(masks) == [f"{i:05d}.png" for i in range(35)]
    cut = masks["00000.png"] == 1
    assert (cut & truth).sum() / (cut | truth).sum() > 0.6  # the box's mask is the annotated frame's result
    assert set(np.unique(masks["00000.png"]).tolist()) == {0, 1}


def test_an_example_then_stop_ends_the_run_early_and_the_next_run_completes(page, shots) -> None:
    page.get_by_text("bike · 2 objects").click()
    wait_for_text(page, "#status", "mask is loaded")
    assert "2 objects" in page.locator("#objects").inner_text()
    run_box = page.locator("#run").bounding_box()
    assert run_box["y"] + run_box["height"] <= VIEWPORT["height"]  # Run is in view after picking an example
    page.get_by_text("rollerblade · 35 frames").click()
    wait_for_text(page, "#objects", "1 object")

    page.locator("#run").click()
    # The run is on (Stop is live; an earlier run's preview may still be on the page), and frames are coming.
    page.wait_for_function("() => !document.querySelector('#stop').disabled")
    page.wait_for_selector("#preview img")
    during = page.locator("#status").inner_text()
    assert "mask is loaded" not in during and during.count("frames/s") <= 1  # one progress line, no faded old one
    page.locator("#stop").click()
    status = wait_for_text(page, "#status", "Stopped")
    last = int(re.search(r"frames 0–(\d+)", status).group(1))
    assert last < 34, status  # 35 frames at ≥ 0.3 s each: Stop ended the run before its last frame
    page.wait_for_function("() => !document.querySelector('#run').disabled")  # the run ended: Run is back
    assert page.locator("#stop").is_disabled() and page.locator("#stop").inner_text() == "Stop"

    page.locator("#run").click()
    status = wait_for_text(page, "#status", "Done")
    assert "35 frames segmented" in status and "frames 0–34" in status
    page.screenshot(path=shots / "05-example-done.png", full_page=True)


def test_a_wrong_mask_is_explained_under_the_editor(page, tmp_path) -> None:
    small = tmp_path / "small.png"
    Image.fromarray(np.ones((48, 64), np.uint8) * 255).save(small)
    with page.expect_file_chooser() as chooser:  # one click on the button, one file: for the frame in the editor
        page.locator("#mask-upload").click()
    chooser.value.set_files(str(small))
    message = wait_for_text(page, "#objects", "⚠")
    assert "the mask small.png is 64×48 but the video frames are 854×480" in message and "/" not in message
    assert page.evaluate(BARE_BADGES) == []


def test_the_first_error_is_still_readable_20_s_later_with_no_bare_badge(error_page, shots) -> None:
    page, shown = error_page
    time.sleep(max(0.0, ERROR_STAYS_S - (time.monotonic() - shown)))
    assert page.locator("#clip-info").inner_text().startswith("⚠ notes.mp4 is not a readable video")
    assert page.evaluate(BARE_BADGES) == []
    page.screenshot(path=shots / "06-error-20s-later.png")

"""The demo in a real browser (Playwright + Debian's Chromium): upload, paint, run, watch, download, Stop.

Needs ``apt-get install -y chromium`` and ``pip install playwright`` (never ``playwright install``: the system
Chromium is used). Screenshots of each step go to ``$RGMP_SCREENSHOTS`` (or the test's temporary folder).
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

from demo.app import build_demo, launch_demo  # noqa: E402
from demo.example_clips import EXAMPLES_DIR  # noqa: E402
from demo.limits import Limits  # noqa: E402
from demo.models import random_model_loader  # noqa: E402

ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 60_000


class SlowModel(torch.nn.Module):
    """A random lite network that takes at least ``delay`` seconds per frame, so that Stop lands mid-clip."""

    def __init__(self, model: torch.nn.Module, delay: float):
        super().__init__()
        self.inner, self.delay, self.config = model, delay, model.config

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
    demo = build_demo(
        model_loader=lambda key: SlowModel(loader(key), 0.15),
        limits=Limits(),
        device="cpu",
        work_root=tmp_path_factory.mktemp("work"),
        default_size=96,
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, url, _ = launch_demo(demo, port=port, block=False, quiet=True)
    yield url
    demo.close()
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server)
        page.wait_for_selector("#video-input")
        yield page
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("RGMP_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for_text(page, selector: str, text: str) -> str:
    page.wait_for_function(
        "([selector, text]) => (document.querySelector(selector)?.innerText || '').includes(text)", arg=[selector, text]
    )
    return page.locator(selector).inner_text()


def test_upload_paint_run_watch_download(page, shots, tmp_path) -> None:
    page.screenshot(path=shots / "01-page.png", full_page=True)

    page.locator("#video-input input[type=file]").set_input_files(str(EXAMPLES_DIR / "bike.mp4"))
    assert "854×480 · 24 fps · 4 frames" in wait_for_text(page, "#clip-info", "854×480")
    wait_for_text(page, "#objects", "0 objects")
    page.screenshot(path=shots / "02-uploaded.png", full_page=True)

    canvas = page.locator("#annotator canvas").first
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 200
    page.locator("#annotator button[aria-label='Brush']").first.click()
    x, y = box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45  # on the rider
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 15):
        page.mouse.move(x + step * 4, y + step * 6)
    page.mouse.up()
    assert "1 object" in wait_for_text(page, "#objects", "1 object")
    page.screenshot(path=shots / "03-painted.png", full_page=True)

    page.locator("#run").click()
    page.wait_for_function(
        "() => { const v = document.querySelector('#overlay-video video'); return v && v.readyState >= 2; }"
    )
    status = wait_for_text(page, "#status", "Done")
    assert "4 frames segmented" in status and "frames 0–3" in status
    page.wait_for_selector("#cutout-video video")
    page.screenshot(path=shots / "04-result.png", full_page=True)

    with page.expect_download() as download:
        page.locator("#masks-zip a").first.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "bike_masks.zip"
    with zipfile.ZipFile(saved) as archive:
        assert archive.namelist() == [f"{i:05d}.png" for i in range(4)]
        first = Image.open(archive.open("00000.png"))
        assert first.mode == "P" and first.size == (854, 480)
        assert set(np.unique(np.array(first)).tolist()) == {0, 1}  # the painted stroke is object 1


def test_example_then_stop_ends_the_run_early_and_the_next_run_completes(page, shots) -> None:
    page.get_by_text("rollerblade · 35 frames").click()
    wait_for_text(page, "#status", "mask is loaded")
    assert "1 object" in page.locator("#objects").inner_text()
    page.screenshot(path=shots / "05-example.png", full_page=True)

    page.locator("#run").click()
    wait_for_text(page, "#status", "frames/s")
    page.screenshot(path=shots / "06-running.png", full_page=True)
    page.locator("#stop").click()
    status = wait_for_text(page, "#status", "Stopped")
    page.screenshot(path=shots / "07-stopped.png", full_page=True)
    last = int(re.search(r"frames 0–(\d+)", status).group(1))
    assert last < 20, status  # 35 frames at ≥ 0.15 s each: Stop landed within a frame or two

    page.locator("#run").click()
    status = wait_for_text(page, "#status", "Done")
    assert "35 frames segmented" in status and "frames 0–34" in status
    page.wait_for_function(
        "() => { const v = document.querySelector('#overlay-video video'); return v && v.readyState >= 2; }"
    )
    page.screenshot(path=shots / "08-done.png", full_page=True)

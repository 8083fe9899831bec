"""The demo served in-process on a free loopback port and driven with gradio_client (random model)."""

from __future__ import annotations

import socket
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from demo.app import build_demo, launch_demo  # noqa: E402
from demo.example_clips import EXAMPLES_DIR  # noqa: E402
from demo.limits import Limits  # noqa: E402
from demo.models import random_model_loader  # noqa: E402
from rgmp.io.masks import write_mask  # noqa: E402
from rgmp.io.video import probe_video  # noqa: E402

BIKE, BIKE_MASK = EXAMPLES_DIR / "bike.mp4", EXAMPLES_DIR / "bike.png"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The app with a random lite network, 96 px processing, a 1 MB upload limit; yields its URL."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core CPU: OpenMP spinning would make tiny inputs 30× slower
    limits = Limits(max_upload_mb=1)
    demo = build_demo(
        model_loader=random_model_loader(),
        limits=limits,
        device="cpu",
        work_root=tmp_path_factory.mktemp("work"),
        default_size=96,
    )
    _, url, _ = launch_demo(demo, port=free_port(), limits=limits, block=False, quiet=True)
    yield url
    demo.close()
    torch.set_num_threads(previous)


def segment(url: str, video: Path, mask: Path) -> tuple[str, str]:
    return Client(url, verbose=False).predict(
        handle_file(str(video)), handle_file(str(mask)), api_name="/segment_video"
    )


def check_bike_result(overlay: str, masks: str) -> None:
    info = probe_video(overlay)
    assert (info.num_frames, info.width, info.height, info.fps) == (4, 854, 480, 24)
    with zipfile.ZipFile(masks) as archive:
        names = archive.namelist()
        images = [Image.open(archive.open(name)) for name in names]
    assert names == [f"{i:05d}.png" for i in range(4)]
    assert all(image.mode == "P" and image.size == (854, 480) for image in images)
    ids = set().union(*(np.unique(np.array(image)).tolist() for image in images))
    assert {1, 2} <= ids <= {0, 1, 2}


def test_segment_video_on_the_two_object_bike_clip(server) -> None:
    check_bike_result(*segment(server, BIKE, BIKE_MASK))


def test_the_api_is_documented_and_the_page_callbacks_are_not(server) -> None:
    api = Client(server, verbose=False).view_api(print_info=False, return_format="dict")
    assert list(api["named_endpoints"]) == ["/segment_video"]
    params = api["named_endpoints"]["/segment_video"]["parameters"]
    assert [p["label"] for p in params] == ["video", "mask"]


def test_bad_inputs_return_errors_and_the_server_keeps_serving(server, tmp_path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(BIKE.read_bytes()[:2000])
    empty_mask, small_mask = tmp_path / "empty.png", tmp_path / "small.png"
    write_mask(empty_mask, np.zeros((480, 854), np.uint8))
    write_mask(small_mask, np.ones((240, 427), np.uint8))
    cases = [
        (BIKE_MASK, BIKE_MASK, "still image, not a video"),
        (corrupt, BIKE_MASK, "corrupt"),
        (BIKE, empty_mask, "the mask is empty"),
        (BIKE, small_mask, "the mask is 427×240 but the video frames are 854×480"),
        (BIKE, BIKE, "cannot read mask"),
    ]
    for video, mask, message in cases:
        with pytest.raises(AppError, match=message):
            segment(server, video, mask)
    check_bike_result(*segment(server, BIKE, BIKE_MASK))


def test_uploads_over_the_size_limit_are_refused(server, tmp_path) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(BIKE.read_bytes() * 30)  # 1.3 MB > 1 MB
    with pytest.raises(ValueError, match="exceeds the maximum file size of 1048576 bytes"):
        segment(server, big, BIKE_MASK)  # the client reads the limit from the server's config
    response = httpx.post(f"{server}gradio_api/upload", files={"files": ("big.mp4", big.read_bytes())})
    assert response.status_code == 413  # and the server enforces it for any other client


def test_two_concurrent_clients_both_finish(server) -> None:
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: segment(server, BIKE, BIKE_MASK), range(2)))
    assert len(results) == 2
    for overlay, masks in results:
        check_bike_result(overlay, masks)

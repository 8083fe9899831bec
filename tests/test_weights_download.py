"""``python -m rgmp weights download paper`` against a loopback HTTP server: a file in the authors' format is
installed where ``load_model`` and the demo look; a truncated, a wrong or a missing one is refused and leaves
nothing behind. ``weights list``, and the demo starting with the paper model on a GPU (device mocked)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import torch

from demo.app import build_demo
from demo.models import OFFICIAL, STARTER, default_model, random_model_loader
from rgmp.cli import main
from rgmp.download import LICENCE
from rgmp.weights import default_weights, load_model


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, keys_tsv) -> Path:
    """The server's folder: ``weights.pth`` (random float32 tensors with the names and shapes of the authors' file,
    in PyTorch's legacy format, as theirs), ``wrong.pth`` (a state dict of something else) and ``page.html``."""
    folder = tmp_path_factory.mktemp("served")
    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=generator) if shape else torch.tensor(0) for key, shape in keys_tsv}
    torch.save(state, folder / "weights.pth", _use_new_zipfile_serialization=False)
    torch.save({"fc.weight": torch.zeros(2, 3)}, folder / "wrong.pth")
    (folder / "page.html").write_text("<html>Dropbox: this page is what ?dl=0 sends</html>")
    return folder


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; ``/cut/<file>`` announces the whole file and sends half of it (a dropped connection)."""

    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if not self.path.startswith("/cut/"):
            return super().do_GET()
        data = (Path(self.directory) / self.path.removeprefix("/cut/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server(served: Path) -> Iterator[tuple[str, list[str]]]:
    """(base URL on 127.0.0.1, the paths requested so far)."""
    requests: list[str] = []
    handler = type("Recording", (Handler,), {"requests": requests})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


def test_download_installs_the_authors_file_where_load_model_and_the_demo_look(
    server, served, tmp_path, monkeypatch, capsys
):
    url, requests = server
    monkeypatch.delenv("RGMP_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_model(torch.device("cuda")) == STARTER  # nothing installed yet
    assert main(["weights", "download", "paper", "--url", f"{url}/weights.pth"]) == 0
    installed = tmp_path / "cache" / "rgmp" / "weights.pth"
    assert installed.read_bytes() == (served / "weights.pth").read_bytes()
    assert sorted(p.name for p in installed.parent.iterdir()) == ["weights.pth"]
    err = capsys.readouterr().err
    assert err.index(LICENCE) < err.index("downloading") < err.index("installed")
    assert "non-commercial research" in LICENCE

    assert default_weights("paper") == installed
    model, metadata = load_model(default_weights("paper"))
    assert model.config.name == "paper" and metadata["source"] == "official"
    assert default_model(torch.device("cuda")) == OFFICIAL and default_model(torch.device("cpu")) == STARTER

    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert f"paper: {installed}" in listing and "lite: " in listing
    assert f"weights.pth  {installed.stat().st_size / 2**20:.1f} MiB" in listing

    before = len(requests)
    assert main(["weights", "download", "paper", "--url", f"{url}/weights.pth"]) == 0
    assert len(requests) == before and "already installed" in capsys.readouterr().err  # no second download


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/cut/weights.pth", "refused the file"),  # the connection drops half-way
        ("/wrong.pth", "refused the file"),
        ("/page.html", "refused the file"),
        ("/missing.pth", "HTTP 404"),
    ],
)
def test_truncated_wrong_or_missing_files_are_refused_and_nothing_is_left(
    server, tmp_path, monkeypatch, capsys, path, message
):
    url, _ = server
    folder = tmp_path / "weights"
    monkeypatch.setenv("RGMP_WEIGHTS_DIR", str(folder))
    assert main(["weights", "download", "paper", "--url", f"{url}{path}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1] and "Traceback" not in "\n".join(err)
    assert list(folder.iterdir()) == []  # no weights.pth, no hidden staging folder


def test_an_unreachable_server_is_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RGMP_WEIGHTS_DIR", str(tmp_path / "weights"))
    with http.server.HTTPServer(("127.0.0.1", 0), Handler) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    assert main(["weights", "download", "paper", "--url", f"http://127.0.0.1:{port}/weights.pth"]) == 2
    assert "error: cannot download" in capsys.readouterr().err
    assert list((tmp_path / "weights").iterdir()) == []


def dropdown_value(page, label: str):
    """The value of the one component whose label ends with ``label`` (the page numbers steps: "3 · Run · Model")."""
    props = [c.get("props", {}) for c in page.config["components"]]
    [value] = [p["value"] for p in props if (p.get("label") or "").endswith(label)]
    return value


def test_the_demo_starts_with_the_paper_model_on_a_gpu_when_its_weights_are_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("RGMP_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA Mock")
    page = partial(build_demo, model_loader=random_model_loader(), work_root=tmp_path / "work")
    assert dropdown_value(page(), "Model") == STARTER  # a GPU, but no paper weights
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "weights.pth").touch()  # what `default_weights` finds (loaded only when a run starts)
    assert dropdown_value(page(), "Model") == OFFICIAL  # device picked: the (mocked) GPU
    assert dropdown_value(page(device="cpu"), "Model") == STARTER

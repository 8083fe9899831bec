"""The streaming session: laziness, one result per frame, object ids, options and errors."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from conftest import TINY, seeded_model

from rgmp.config import ModelConfig
from rgmp.inference import PreparedNetwork, Session, SessionError, SessionOptions
from rgmp.inference.session import zoom_window
from train.online import OnlineLearning


@pytest.fixture(scope="module")
def model():
    return seeded_model(TINY, seed=0)


def clip(num_frames=5, height=48, width=80, seed=0):
    """Moving bright square on noise; the first-frame mask has objects 3 and 7 (non-contiguous ids)."""
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(num_frames):
        frame = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
        frame[10:30, 10 + 3 * t : 30 + 3 * t] = 230
        frames.append(frame)
    mask = np.zeros((height, width), np.uint8)
    mask[10:30, 10:20] = 3
    mask[10:30, 20:30] = 7
    return frames, mask


def test_one_result_per_frame_lazily_and_reference_encoded_once(model):
    frames, mask = clip(6)
    pulled = []

    def source():
        for i, frame in enumerate(frames):
            pulled.append(i)
            yield frame

    session = Session(model, "cpu", SessionOptions(scales=(0.5, 1.0)))
    results = session.propagate(source(), mask)
    first = next(results)
    assert first.index == 0 and pulled == [0]  # nothing read ahead
    np.testing.assert_array_equal(first.labels, mask)
    second = next(results)
    assert second.index == 1 and pulled == [0, 1]
    rest = list(results)
    assert [r.index for r in rest] == [2, 3, 4, 5]
    assert session.reference_encodings == 2  # once per scale for the whole clip, all objects batched


def test_results_keep_object_ids_and_are_distributions(model):
    frames, mask = clip()
    for merge in ("soft", "soft-product", "naive", "wta"):
        results = list(Session(model, "cpu", SessionOptions(merge=merge)).propagate(frames, mask))
        for result in results:
            assert result.object_ids == [3, 7]
            assert result.probs.shape == (3, 48, 80) and result.probs.dtype == np.float32
            np.testing.assert_allclose(result.probs.sum(0), 1, atol=1e-5)
            assert set(np.unique(result.labels)) <= {0, 3, 7}
            ids = np.array([0, 3, 7])[result.probs.argmax(0)]
            np.testing.assert_array_equal(result.labels, ids)


def test_start_frame_skips_earlier_frames(model):
    frames, mask = clip(5)
    results = list(Session(model, "cpu").propagate(frames, mask, start=2))
    assert [r.index for r in results] == [2, 3, 4]
    with pytest.raises(SessionError, match="no frame 9"):
        list(Session(model, "cpu").propagate(frames, mask, start=9))


def test_void_label_is_ignored_and_labels_round_trip(model):
    frames, mask = clip(2)
    mask[0:5, 0:5] = 255
    first = next(Session(model, "cpu").propagate(frames, mask))
    assert first.object_ids == [3, 7] and (first.labels[0:5, 0:5] == 0).all()


def test_processing_size_returns_source_size(model):
    frames, mask = clip(3, height=96, width=160)
    results = list(Session(model, "cpu", SessionOptions(size=48)).propagate(frames, mask))
    assert all(r.labels.shape == (96, 160) and r.probs.shape == (3, 96, 160) for r in results)
    # Never upscaled: a size above the clip's short side runs it at its own size, as no size does.
    native = list(Session(model, "cpu").propagate(frames, mask))[-1].probs
    larger = list(Session(model, "cpu", SessionOptions(size=720)).propagate(frames, mask))[-1].probs
    np.testing.assert_array_equal(native, larger)


def test_ablations_cut_their_input(model):
    frames, mask = clip(3)
    other = [frames[0], np.flipud(frames[1]).copy(), frames[2]]
    # -Prev: frame 2 no longer depends on what happened at frame 1.
    no_prev = SessionOptions(no_previous=True)
    a = list(Session(model, "cpu", no_prev).propagate(frames, mask))[2].probs
    b = list(Session(model, "cpu", no_prev).propagate(other, mask))[2].probs
    np.testing.assert_allclose(a, b, atol=1e-6)
    # -Ref: the reference frame's pixels no longer matter.
    no_ref = SessionOptions(no_reference=True)
    noisy = [np.zeros_like(frames[0]), *frames[1:]]
    a = list(Session(model, "cpu", no_ref).propagate(frames, mask))[1].probs
    b = list(Session(model, "cpu", no_ref).propagate(noisy, mask))[1].probs
    np.testing.assert_allclose(a, b, atol=1e-6)
    c = list(Session(model, "cpu").propagate(noisy, mask))[1].probs
    assert np.abs(a - c).max() > 1e-4  # ...whereas normally they do


def test_bfloat16_autocast_agrees_with_float32(model):
    frames, mask = clip(3)
    full = list(Session(model, "cpu").propagate(frames, mask))
    half = list(Session(model, "cpu", dtype=torch.bfloat16).propagate(frames, mask))
    for a, b in zip(full, half, strict=True):
        assert (a.labels == b.labels).mean() > 0.95


def test_folded_network_gives_the_unfolded_result(model):
    frames, mask = clip(3)
    session = Session(model, "cpu")
    folded = list(session.propagate(frames, mask))
    plain = list(Session(PreparedNetwork.build(model, "cpu", fold_batchnorm=False)).propagate(frames, mask))
    assert session.network is not session.model
    for a, b in zip(folded, plain, strict=True):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-4)
        assert (a.labels == b.labels).mean() > 0.999


@pytest.mark.parametrize("memory", [False, True], ids=["plain", "visual-memory"])
def test_passes_one_at_a_time_equal_one_batch(memory):
    network = seeded_model(ModelConfig(**{**TINY.__dict__, "memory": memory}), seed=1)
    frames, mask = clip(4)  # two objects and the background pass: 3 passes per frame
    runs = [
        [r.probs for r in Session(network, "cpu", SessionOptions(pass_batch=n)).propagate(frames, mask)]
        for n in (1, 2, 8)
    ]
    assert Session(network, "cpu").pass_batch == 1  # the CPU default
    for one, two, all_ in zip(*runs, strict=True):  # oneDNN blocks a batch differently: float32 rounding only
        np.testing.assert_allclose(two, one, atol=1e-4)  # (up to 1.03e-5 on an AMD Zen 5 CPU)
        np.testing.assert_allclose(all_, one, atol=1e-4)
    with pytest.raises(SessionError, match="pass_batch"):
        SessionOptions(pass_batch=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["fp32", "bf16"])
def test_cuda_graphs_replay_what_the_eager_passes_compute(model, dtype):
    frames, mask = clip(6)  # two objects and the background pass
    options = SessionOptions(scales=(0.5, 1.0), pass_batch=2)  # two chunks per scale: four graphs
    graphed = Session(model, "cuda", options, dtype=dtype)
    eager = Session(model, "cuda", dataclasses.replace(options, cuda_graphs=False), dtype=dtype)
    assert graphed.uses_graphs and not eager.uses_graphs
    for a, b in zip(graphed.propagate(frames, mask), eager.propagate(frames, mask), strict=True):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-3 if dtype else 1e-5)
        assert (a.labels == b.labels).mean() > 0.99
    assert not Session(model, "cpu").uses_graphs


def test_bad_input_is_reported(model):
    frames, mask = clip(3)
    session = Session(model, "cpu")
    with pytest.raises(SessionError, match="empty"):
        list(session.propagate(frames, np.zeros_like(mask)))
    with pytest.raises(SessionError, match="80x48"):
        list(session.propagate(frames, mask[:, :40]))
    with pytest.raises(SessionError, match="at most 254"):
        list(session.propagate(frames, np.arange(48 * 80).reshape(48, 80) % 300))
    with pytest.raises(SessionError, match="frame 1"):
        list(session.propagate([frames[0], frames[1][:, :40]], mask))
    with pytest.raises(SessionError, match="uint8"):
        list(session.propagate([frames[0].astype(np.float32)], mask))
    with pytest.raises(SessionError, match="2-D"):
        list(session.propagate(frames, mask[None]))
    with pytest.raises(SessionError, match="no frame 0"):
        list(session.propagate([], mask))
    with pytest.raises(SessionError, match="merge"):
        SessionOptions(merge="max")
    with pytest.raises(SessionError, match="scales"):
        SessionOptions(scales=(0.0,))


def test_online_learning_adapts_a_copy_for_the_clip(model):
    frames, mask = clip(3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = list(Session(model, "cpu").propagate(frames, mask))[2].probs
    options = SessionOptions(adapt=OnlineLearning(steps=2, lr=1e-3))
    adapted = list(Session(model, "cpu", options).propagate(frames, mask))[2].probs
    assert np.abs(plain - adapted).max() > 1e-4
    for key, value in model.state_dict().items():  # the session's own network is untouched
        assert torch.equal(value, before[key])
    with pytest.raises(ValueError, match="online learning needs steps >= 1"):
        OnlineLearning(steps=-1)


def test_a_bf16_session_adapts_in_bf16_without_a_stale_weight_cache(model):
    frames, mask = clip(3)
    seen = []

    def hook(network, frame, labels):
        seen.append(
            (torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu"), torch.is_autocast_cache_enabled())
        )
        return OnlineLearning(steps=2, lr=1e-3)(network, frame, labels)

    plain = list(Session(model, "cpu", dtype=torch.bfloat16).propagate(frames, mask))[2].probs
    adapted = list(Session(model, "cpu", SessionOptions(adapt=hook), dtype=torch.bfloat16).propagate(frames, mask))
    list(Session(model, "cpu", SessionOptions(adapt=hook)).propagate(frames, mask))
    assert seen == [(torch.bfloat16, False), (False, True)]  # a cached bf16 weight would miss each Adam step
    assert np.isfinite(adapted[2].probs).all() and np.abs(plain - adapted[2].probs).max() > 1e-4


def test_the_adapt_hook_sees_the_annotated_frame_at_the_processing_size(model):
    frames, mask = clip(2, height=64, width=96)
    seen = []

    def hook(network, frame, labels):
        seen.append((frame.shape, labels.shape, labels.dtype, sorted(np.unique(labels))))
        return network

    padded = seeded_model(dataclasses.replace(TINY, pad_mode="minimal"), seed=0)
    list(Session(padded, "cpu", SessionOptions(adapt=hook, size=32)).propagate(frames, mask))
    list(Session(padded, "cpu", SessionOptions(adapt=hook)).propagate(frames, mask))
    list(Session(model, "cpu", SessionOptions(adapt=hook, size=32)).propagate(frames, mask))
    assert seen[0][:3] == ((32, 48, 3), (32, 48), np.uint8)
    assert seen[1][:2] == ((64, 96, 3), (64, 96))  # the model's default size (240) is larger: never enlarged
    assert seen[2][:2] == ((32, 48, 3), (32, 48))  # "stretch" too: not stretched to the canvas
    assert seen[0][3] == seen[1][3] == seen[2][3] == sorted(np.unique(mask))


def test_a_stretch_model_sees_the_whole_frame_resized_and_no_zero_border():
    frames, mask = clip(2, height=40, width=70)
    frames = [np.maximum(frame, 1) for frame in frames]  # no black pixel of its own
    seen = {}
    for mode in ("minimal", "stretch"):

        def keep_first_frame(_, args, mode=mode) -> None:
            seen.setdefault(mode, args[0])

        session = Session(seeded_model(dataclasses.replace(TINY, pad_mode=mode), seed=0), "cpu")
        session.network.encoder.register_forward_pre_hook(keep_first_frame)
        result = list(session.propagate(frames, mask))[-1]
        assert result.labels.shape == (40, 70) and result.probs.shape == (3, 40, 70)
    assert seen["minimal"].shape[-2:] == seen["stretch"].shape[-2:] == (64, 96)
    assert (seen["minimal"][..., 0, :] == 0).all()  # 12 rows of zeros on top
    assert (seen["stretch"] > 0).all()


def test_the_model_config_gives_the_default_processing_size():
    small = seeded_model(ModelConfig(**{**TINY.__dict__, "default_size": 32, "pad_mode": "minimal"}), seed=1)
    frames, mask = clip(2, height=64, width=96)
    sizes = []

    def hook(network, frame, labels):
        sizes.append(frame.shape[:2])
        return network

    for size in (None, 0, 48):
        result = list(Session(small, "cpu", SessionOptions(adapt=hook, size=size)).propagate(frames, mask))[-1]
        assert result.labels.shape == (64, 96)  # outputs come back at the frames' size
    assert sizes == [(32, 48), (64, 96), (48, 72)]
    with pytest.raises(SessionError, match="0 .the frames' own. or at least 32"):
        SessionOptions(size=16)


def test_flip_averaging_is_mirror_symmetric(model):
    """With the mirrored view averaged in, segmenting the mirrored clip gives the mirrored result (64×96 frames
    need no padding, so mirroring commutes with the canvas); without it the network alone is not symmetric."""
    frames, mask = clip(4, height=64, width=96)
    mirrored = [np.ascontiguousarray(f[:, ::-1]) for f in frames]
    mirrored_mask = np.ascontiguousarray(mask[:, ::-1])
    for flip in (True, False):
        session = Session(model, "cpu", SessionOptions(flip=flip))
        a = list(session.propagate(frames, mask))[-1].probs
        b = list(session.propagate(mirrored, mirrored_mask))[-1].probs
        gap = np.abs(a - b[..., ::-1]).max()
        assert (gap < 1e-5) if flip else (gap > 1e-3), (flip, gap)
    assert session.reference_encodings == 2
    assert Session(model, "cpu", SessionOptions(flip=True, scales=(0.5, 1.0))).views == [
        (0.5, False), (0.5, True), (1.0, False), (1.0, True)
    ]  # fmt: skip


def test_results_carry_their_frames(model):
    frames, mask = clip(4)
    for result in Session(model, "cpu").propagate(frames, mask):
        assert np.array_equal(result.frame, frames[result.index])


def test_backward_and_both_directions_from_a_later_frame(model):
    """Backward from frame 3 is the forward pass over the reversed clip; "both" adds the forward pass after it,
    and yields the annotated frame once."""
    frames, _ = clip(7)
    mask = np.zeros(frames[0].shape[:2], np.uint8)
    mask[10:30, 19:39] = 1  # the square where it is at frame 3
    session = Session(model, "cpu")
    backward = list(session.propagate(frames, mask, start=3, direction="backward"))
    assert [r.index for r in backward] == [3, 2, 1, 0]
    reversed_clip = [frames[3], *(_jpeg(frames[i]) for i in (2, 1, 0))]
    expected = list(session.propagate(reversed_clip, mask))
    for got, want in zip(backward, expected, strict=True):
        np.testing.assert_allclose(got.probs, want.probs, atol=1e-5)
        assert np.array_equal(got.frame, want.frame)
    both = list(session.propagate(iter(frames), mask, start=3, direction="both"))
    assert [r.index for r in both] == [3, 2, 1, 0, 4, 5, 6]
    forward = list(session.propagate(frames, mask, start=3))
    for got, want in zip(both[4:], forward[1:], strict=True):
        np.testing.assert_allclose(got.probs, want.probs, atol=1e-5)
    with pytest.raises(SessionError, match="no frame 9"):
        list(session.propagate(frames, mask, start=9, direction="backward"))
    with pytest.raises(SessionError, match="direction"):
        list(session.propagate(frames, mask, direction="sideways"))


def _jpeg(frame: np.ndarray) -> np.ndarray:
    """What the backward pass keeps of a frame before the annotated one."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=95)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_the_zoom_window_grows_the_objects_box_and_stays_inside_the_frame():
    masks = torch.zeros(2, 100, 200)
    assert zoom_window(masks, (100, 200)) == (0, 0, 100, 200)  # no object left: the whole frame
    masks[1, 45:55, 95:105] = 1
    # 10×10 box: 2× is 20 px, below half the frame's height (50); the frame's aspect ratio makes it 100 wide
    assert zoom_window(masks, (100, 200)) == (25, 50, 75, 150)
    masks[0, 0:4, 190:200] = 0.9  # another pass's object in the corner: the box of the union, moved inside
    top, left, bottom, right = zoom_window(masks, (100, 200))
    assert (top, right) == (0, 200) and bottom - top == 100 * (right - left) // 200 and bottom - top > 55
    masks[1, 10:90, 10:190] = 1  # a large object: the whole frame
    assert zoom_window(masks, (100, 200)) == (0, 0, 100, 200)


def test_a_zoomed_session_looks_at_the_window_around_the_objects(model):
    frames, _ = clip(4, height=96, width=160)
    mask = np.zeros((96, 160), np.uint8)
    mask[40:52, 70:82] = 5
    session = Session(model, "cpu")
    assert session.zoom  # on by default for a light model
    seen = []
    session.network.encoder.register_forward_pre_hook(lambda _, args: seen.append(args[0].clone()) and None)
    results = list(session.propagate(frames, mask))
    # The reference is the window around the annotated object, resized to the canvas (the frame's size: 2× zoom).
    top, left, bottom, right = zoom_window(torch.from_numpy(mask[None] == 5).float(), (96, 160))
    assert (bottom - top, right - left) == (48, 80)
    window = torch.from_numpy(frames[0][top:bottom, left:right]).permute(2, 0, 1)[None].float() / 255
    expected = torch.nn.functional.interpolate(window, size=(96, 160), mode="bilinear", antialias=True)
    torch.testing.assert_close(seen[0], expected)
    for previous, result in itertools.pairwise(results):
        assert result.probs.shape == (2, 96, 160)
        np.testing.assert_allclose(result.probs.sum(0), 1, atol=1e-5)
        top, left, bottom, right = zoom_window(torch.from_numpy(previous.probs[1:]), (96, 160))
        outside = np.ones((96, 160), bool)
        outside[top:bottom, left:right] = False
        assert (result.probs[1][outside] == 0).all()  # nothing seen there, nothing found
        assert outside.any() or previous.index > 0  # the untrained network may spread over the whole frame later


def test_zoom_is_off_for_the_paper_model_and_the_visual_memory_unless_asked():
    paper = seeded_model(dataclasses.replace(TINY, encoder="resnet50", pad_mode="released"), seed=0)
    assert not Session(paper, "cpu").zoom
    assert Session(paper, "cpu", SessionOptions(zoom=True)).zoom
    assert not Session(seeded_model(TINY, seed=0), "cpu", SessionOptions(zoom=False)).zoom
    assert not Session(seeded_model(dataclasses.replace(TINY, memory=True), seed=0), "cpu").zoom

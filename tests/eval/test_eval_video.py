"""Temporal warp error (vidgan.render.temporal.warp_error) and `vidgan eval-video`."""

import numpy as np
from conftest import assert_clean_failure

from vidgan.render.temporal import warp_error


def scene(size=64, seed=0):
    """A smooth random texture twice the frame's size, to pan over."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    import cv2

    return cv2.resize(small, (size * 2, size * 2), interpolation=cv2.INTER_CUBIC)


def panning(n_frames=12, size=64, speed=1):
    big = scene(size)
    return [big[10 : 10 + size, 4 + speed * t : 4 + speed * t + size].copy() for t in range(n_frames)]


def test_warp_error_is_zero_when_static_small_when_panning_and_large_when_shuffled():
    static = [scene()[:64, :64]] * 8
    assert warp_error(static, static) < 1e-6
    frames = panning()
    smooth = warp_error(frames, frames)
    shuffled = [frames[i] for i in np.random.default_rng(1).permutation(len(frames))]
    jumbled = warp_error(shuffled, frames)
    assert smooth < 0.005
    assert jumbled > 5 * smooth and jumbled > 0.005


def test_eval_video_cli_reports_output_beside_source_and_checks_lengths(make_clip, run_cli):
    frames = panning(n_frames=10, size=64)
    order = np.random.default_rng(2).permutation(10)
    source = make_clip("source.mp4", n_frames=10, width=64, height=64, draw=lambda i: frames[i])
    same = make_clip("same.mp4", n_frames=10, width=64, height=64, draw=lambda i: frames[i])
    shuffled = make_clip("shuffled.mp4", n_frames=10, width=64, height=64, draw=lambda i: frames[order[i]])
    short = make_clip("short.mp4", n_frames=6, width=64, height=64, draw=lambda i: frames[i])

    def ratio(output):
        done = run_cli("eval-video", output, "--source", source, "-q")
        assert done.code == 0, done.stderr
        assert "warp error over 10 frames: output" in done.stderr
        return float(done.stderr.replace("\n", "").split("x the source")[0].rsplit(", ", 1)[1])  # however it wraps

    assert ratio(same) < 1.5
    assert ratio(shuffled) > 3
    assert_clean_failure(run_cli("eval-video", short, "--source", source, "-q"), "short.mp4", "fewer frames")
    assert_clean_failure(run_cli("eval-video", source.with_name("missing.mp4"), "--source", source))

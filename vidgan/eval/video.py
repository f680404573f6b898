"""`vidgan eval-video`: the temporal warp error (flicker, vidgan.render.temporal) of a rendered clip beside its
source's own."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest

from vidgan.core.errors import VidganError
from vidgan.core.progress import make_progress
from vidgan.eval.options import VideoEvalOptions
from vidgan.io.sequences import open_clip
from vidgan.render.temporal import MotionTracker, WarpErrorMeter


@dataclass
class VideoWarpResult:
    output_error: float | None  # warp error of the output under the source's motion (vidgan.render.temporal)
    source_error: float | None  # the source clip's own: its natural change, the baseline
    frames: int


def evaluate_video(options: VideoEvalOptions) -> VideoWarpResult:
    """Temporal warp error of a rendered clip (video or image sequence) beside its source's, in one streaming pass;
    VidganError when one clip has fewer frames than the other."""
    output_clip, source_clip = open_clip(options.output), open_clip(options.source)
    tracker = MotionTracker()
    meters = {"output": WarpErrorMeter(), "source": WarpErrorMeter()}
    frames = 0
    with make_progress(quiet=options.quiet) as progress:
        bar = progress.add_task("warp error", total=source_clip.frame_count, info=source_clip.path.name)
        for output_frame, source_frame in zip_longest(output_clip.frames(), source_clip.frames()):
            if output_frame is None or source_frame is None:
                shorter = output_clip if output_frame is None else source_clip
                raise VidganError(f"{shorter.path}: has fewer frames ({frames}) than the clip it is compared with")
            motion = tracker(source_frame.rgb)
            meters["output"].add(output_frame.rgb, motion)
            meters["source"].add(source_frame.rgb, motion)
            frames += 1
            progress.advance(bar)
    return VideoWarpResult(meters["output"].value, meters["source"].value, frames)

"""The naive loop as a whole process, for timing beside `vidgan render` as one (imports, model load, every frame):

    PYTHONPATH=. python bench/naive_loop.py CLIP CHECKPOINT OUT SCALE

cv2 reads each frame, resizes it so its short side is SCALE px (sides a multiple of the generator's stride), runs
it through the torch generator alone (batch 1), resizes back and writes mp4v with cv2: what a first script does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from render import naive_loop

from vidgan.core.directions import A2B
from vidgan.render.framing import working_size
from vidgan.runs.generators import load_generator


def main() -> None:
    clip, checkpoint, out, scale = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    generator = load_generator(checkpoint, A2B)
    import cv2

    capture = cv2.VideoCapture(str(clip))
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    size = working_size(width, height, scale, generator.stride)
    frames = naive_loop(clip, out, generator, size, torch.device("cpu"))
    print(frames)


if __name__ == "__main__":
    main()

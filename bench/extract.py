"""Extract throughput with --every 15 vs PyAV decoding the same clip and converting nothing.

    PYTHONPATH=. python bench/extract.py [--frames 300] [--rounds 3]
The last line is the headline: extract's decoded frames/s over decode-only frames/s.
"""

from __future__ import annotations

from pathlib import Path

import av
from benchlib import best_rate, clip_bench_setup, print_table

from vidgan.io.extract import extract_frames

WIDTH, HEIGHT, EVERY = 1280, 720, 15


def decode_only(clip: Path) -> int:
    """Every frame decoded with frame threading, none converted to RGB: the floor for any frame extractor."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def main() -> None:
    args, folder, clip = clip_bench_setup(__doc__, "extract", (WIDTH, HEIGHT), frames=300, rounds=3)

    def extract() -> int:
        extract_frames({"a": [clip]}, folder / "data", every=EVERY, size=128, overwrite=True, quiet=True)
        return args.frames  # every frame is decoded; one in EVERY is converted, resized and written

    rates = best_rate(
        {"PyAV decode only (frame threads)": lambda: decode_only(clip), f"vidgan extract --every {EVERY}": extract}, args.rounds
    )
    print_table(f"extract: {WIDTH}x{HEIGHT} H.264, {args.frames} frames", "frames/s", rates, next(iter(rates)))
    decode, extracted = rates.values()
    print(f"extract / decode only: {extracted / decode:.2f}x (target 0.9)")


if __name__ == "__main__":
    main()

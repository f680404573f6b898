"""Frame ranges (`render --frames`, `--start/--end`, `extract --frames`), a shot rendered as separate farm tasks
(`render --segment K/N --parts DIR`, `vidgan join`) and the OpenJD job bundle (`vidgan farm openjd`), through the
command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import yaml
from conftest import NTSC, REPO_ROOT, assert_clean_failure
from PIL import Image

from vidgan.render.translator import FrameTranslator

FRAMES = 24
AAC_PACKET = 1024 / 44100  # seconds: the audio is cut to whole packets


@pytest.fixture
def shot(make_clip) -> Path:
    """24 frames of H.264 at 29.97 fps (pts 0, 1001, … in 1/30000) with AAC audio as long."""
    return make_clip("shot.mp4", n_frames=FRAMES, audio=True)


@pytest.fixture
def plates(tmp_path: Path) -> Path:
    """An image sequence numbered 1001-1012."""
    folder = tmp_path / "plates"
    folder.mkdir()
    for i in range(12):
        pixels = np.random.default_rng(i).integers(0, 256, (32, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"shot.{1001 + i}.png")
    return folder


def video_pts(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [frame.pts for frame in container.decode(video=0)]


def decoded(path: Path) -> list[tuple[object, np.ndarray]]:
    """(pts, pixels) of each frame of a video, (name, pixels) of each frame of an image-sequence folder."""
    if path.is_dir():
        return [(p.name, np.asarray(Image.open(p))) for p in sorted(path.glob("*.png"))]
    with av.open(str(path)) as container:
        return [(frame.pts, frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]


def assert_same(one: Path, other: Path) -> None:
    first, second = decoded(one), decoded(other)
    assert [key for key, _ in first] == [key for key, _ in second]
    for (key, a), (_, b) in zip(first, second):
        assert np.array_equal(a, b), key


def audio_span(path: Path) -> tuple[float, float]:
    """(start, duration) in seconds of the first audio track's decoded samples."""
    with av.open(str(path)) as container:
        frames = list(container.decode(audio=0))
    return float(frames[0].pts * frames[0].time_base), sum(f.samples for f in frames) / frames[0].sample_rate


def test_a_frame_range_of_a_video_keeps_its_timestamps_and_its_stretch_of_audio(run_cli, shot, tiny_run, tmp_path):
    source = video_pts(shot)
    result = run_cli("render", shot, "--run", tiny_run, "--out", "range.mp4", "--frames", "5-14", "-q")
    assert result.code == 0, result.stderr
    assert video_pts(tmp_path / "range.mp4") == source[5:15]  # 5005 … 14014 in 1/30000: exact, not rounded to ms
    start, duration = audio_span(tmp_path / "range.mp4")
    assert abs(start - float(source[5] / 30000)) <= AAC_PACKET
    assert abs(duration - 10 / float(NTSC)) <= 2 * AAC_PACKET

    result = run_cli("render", shot, "--run", tiny_run, "--out", "times.mp4", "--start", "0.2", "--end", "0.4", "-q")
    assert result.code == 0, result.stderr
    assert video_pts(tmp_path / "times.mp4") == [pts for pts in source if 0.2 <= pts / 30000 < 0.4]


def test_a_frame_range_of_a_sequence_keeps_its_file_numbers_and_pixels(run_cli, plates, tiny_run, tmp_path):
    assert run_cli("render", plates, "--run", tiny_run, "--out", "all", "-q").code == 0
    result = run_cli("render", plates, "--run", tiny_run, "--out", "some", "--frames", "1003-1007", "-q")
    assert result.code == 0, result.stderr
    some = decoded(tmp_path / "some")
    assert [name for name, _ in some] == [f"shot.{n}.png" for n in range(1003, 1008)]
    whole = dict(decoded(tmp_path / "all"))
    for name, pixels in some:
        assert np.array_equal(pixels, whole[name]), name


def test_a_frame_range_meets_the_generator_in_whole_batches_of_the_clip(run_cli, shot, tiny_run, tmp_path, monkeypatch):
    """Frames 5-14 with batches of 4: frames 4 (warm-up) … 15 (filling) go to the generator as the one pass's batches
    4-7, 8-11 and 12-15; a shorter last batch could give other results (batch-dependent one-thread kernels)."""
    batches = []
    translate = FrameTranslator.__call__

    def spy(self, frames):
        batches.append([frame.index for frame in frames])
        return translate(self, frames)

    monkeypatch.setattr(FrameTranslator, "__call__", spy)
    result = run_cli("render", shot, "--run", tiny_run, "--out", "range.mp4", "--frames", "5-14", "--batch-size", "4", "-q")
    assert result.code == 0, result.stderr
    assert batches == [[4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    assert video_pts(tmp_path / "range.mp4") == video_pts(shot)[5:15]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--frames", "20-30"), ("--frames 20-30", "has frames 0-23")),
        (("--frames", "9-3"), ("--frames",)),
        (("--frames", "5-9", "--start", "1"), ("--frames or --start/--end",)),
        (("--start", "0.5", "--end", "0.2"), ("--start",)),
    ],
)
def test_a_range_outside_the_clip_or_contradicting_itself_is_refused(run_cli, shot, tiny_run, args, fragments):
    assert_clean_failure(run_cli("render", shot, "--run", tiny_run, "--out", "x.mp4", *args), *fragments)


def test_extract_takes_a_frame_range_of_videos_and_sequences(run_cli, shot, plates, tmp_path):
    result = run_cli("extract", "--out", "data", "--a", shot, "--b", plates, "--every", "1", "--frames", "0-1010", "--size", "32")
    assert result.code == 0, result.stderr
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    by_domain = {d: [i for i in manifest["images"] if i["domain"] == d] for d in ("a", "b")}
    assert len(by_domain["a"]) == FRAMES  # every frame of the video (0-1010 covers them)
    assert len(by_domain["b"]) == 10  # files 1001 … 1010 of the sequence


def render_part(run_cli, source: Path, run: Path, out: str, part: str, *more: object, isolated: bool = False):
    return run_cli("render", source, "--run", run, "--out", out, "--segment", part, "--parts", "parts", "-q", *more, isolated=isolated)


@pytest.mark.slow
def test_parts_rendered_in_reverse_by_separate_processes_join_into_the_one_pass(run_cli, shot, tiny_run, tmp_path):
    # Image sequences are joined by name: test_an_openjd_bundle_run_by_openjd_gives_the_one_pass_output covers them.
    for part in ("2/2", "1/2"):
        result = render_part(run_cli, shot, tiny_run, "out.mkv", part, "--batch-size", "4", "--frames", "2-21", isolated=True)
        assert result.code == 0, result.stderr
    assert not (tmp_path / "out.mkv").exists()  # parts write into their folder only
    result = run_cli("join", "parts")
    assert result.code == 0, result.stderr
    assert run_cli("render", shot, "--run", tiny_run, "--out", "one.mkv", "--frames", "2-21", "-q").code == 0
    assert_same(tmp_path / "out.mkv", tmp_path / "one.mkv")
    assert audio_span(tmp_path / "out.mkv") == audio_span(tmp_path / "one.mkv")  # the range's stretch of audio


def test_a_join_refuses_a_missing_or_doubled_part_and_a_rerun_skips_a_finished_one(run_cli, plates, tiny_run, tmp_path):
    for part in ("2/2", "1/2"):
        assert render_part(run_cli, plates, tiny_run, "out", part, "--batch-size", "2").code == 0
    record = tmp_path / "parts" / "part1of2.json"
    stamp = record.stat().st_mtime_ns
    again = render_part(run_cli, plates, tiny_run, "out", "1/2", "--batch-size", "2")
    assert again.code == 0 and "part 1 of 2 is already rendered; skipped" in again.stderr
    assert record.stat().st_mtime_ns == stamp

    record.rename(tmp_path / "parts" / "kept.json")
    assert_clean_failure(run_cli("join", "parts"), "part 1 of 2 missing", "--segment 1/2")
    (tmp_path / "parts" / "kept.json").rename(record)
    (tmp_path / "parts" / "part1of2 (copy).json").write_text(record.read_text())
    assert_clean_failure(run_cli("join", "parts"), "part 1 of 2 is there twice", "part1of2 (copy).json")
    (tmp_path / "parts" / "part1of2 (copy).json").unlink()

    assert run_cli("join", "parts", "--out", "joined").code == 0
    assert [p.name for p in sorted((tmp_path / "joined").iterdir())] == [f"shot.{n}.png" for n in range(1001, 1013)]
    assert_clean_failure(run_cli("join", "parts", "--out", "joined"), "already exists")


def test_parts_of_another_plan_are_refused_before_any_work(run_cli, plates, tiny_run):
    assert render_part(run_cli, plates, tiny_run, "out", "2/2", "--batch-size", "2").code == 0
    result = render_part(run_cli, plates, tiny_run, "out", "1/3", "--batch-size", "2")
    assert_clean_failure(result, "planned by another render", "tasks")
    assert_clean_failure(render_part(run_cli, plates, tiny_run, "out", "3/2"), "--segment must be K/N")


def write_bundle(run_cli, tasks: int, *render_args: object):
    result = run_cli("farm", "openjd", "bundle", "--tasks", tasks, "--command", VIDGAN, "--", *render_args)
    assert result.code == 0, result.stderr
    return result


def test_the_openjd_template_is_valid_and_runs_render_tasks_then_the_join(run_cli, shot, tiny_run, tmp_path):
    from openjd.model import DocumentType, decode_job_template, document_string_to_object

    write_bundle(run_cli, 3, shot, "--run", tiny_run, "--out", "out.mkv", "--codec", "ffv1", "--overwrite")
    text = (tmp_path / "bundle" / "template.yaml").read_text()
    template = decode_job_template(template=document_string_to_object(document=text, document_type=DocumentType.YAML))
    render, join = template.steps
    assert render.parameterSpace.taskParameterDefinitions[0].range == "1-3"
    assert join.dependencies[0].dependsOn == render.name
    assert "--overwrite" in join.script.actions.onRun.args  # the join replaces what the render would
    kinds = {p.name: (p.type.value, p.dataFlow.value) for p in template.parameterDefinitions if p.type.value == "PATH"}
    assert kinds == {"Input": ("PATH", "IN"), "Run": ("PATH", "IN"), "Output": ("PATH", "OUT"), "Parts": ("PATH", "OUT")}
    values = yaml.safe_load((tmp_path / "bundle" / "parameter_values.yaml").read_text())["parameterValues"]
    assert {v["name"]: v["value"] for v in values}["Output"] == str(tmp_path / "out.mkv")

    refused = run_cli("farm", "openjd", "bundle", "--", shot, "--run", tiny_run, "--out", "o.mkv", "--segments", "2")
    assert_clean_failure(refused, "--segments")
    assert_clean_failure(run_cli("farm", "openjd", "bundle", "--", shot, "--run", tiny_run), "--out")


def test_farm_openjd_takes_its_options_from_a_config_file_and_the_line_wins(run_cli, shot, tiny_run, tmp_path):
    (tmp_path / "job.toml").write_text('tasks = 3\nparts = "shot.parts"\n')
    result = run_cli("farm", "openjd", "job", "--config", "job.toml", "--tasks", 2, "--", shot, "--run", tiny_run, "--out", "out.mkv")
    assert result.code == 0, result.stderr
    text = (tmp_path / "job" / "template.yaml").read_text()
    assert "range: 1-2" in text  # --tasks on the line won over the file's 3
    values = yaml.safe_load((tmp_path / "job" / "parameter_values.yaml").read_text())["parameterValues"]
    assert {v["name"]: v["value"] for v in values}["Parts"] == str(tmp_path / "shot.parts")
    (tmp_path / "bad.toml").write_text("task = 3\n")
    assert_clean_failure(run_cli("farm", "openjd", "b", "--config", "bad.toml", "--", shot), "unknown option 'task'", code=2)


# The vidgan that openjd's tasks run: this interpreter's, with this checkout first on its path.
VIDGAN = Path(sys.executable).with_name("vidgan")


def openjd_run(bundle: Path) -> subprocess.CompletedProcess:
    values = yaml.safe_load((bundle / "parameter_values.yaml").read_text())["parameterValues"]
    params = [arg for v in values for arg in ("-p", f"{v['name']}={v['value']}")]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "openjd", "run", bundle / "template.yaml", *params]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize(("tasks", "name", "codec"), [(2, "out.mkv", "ffv1"), (3, "frames", "png"), (2, "out.mp4", "h264")])
def test_an_openjd_bundle_run_by_openjd_gives_the_one_pass_output(run_cli, shot, tiny_run, tmp_path, tasks, name, codec):
    one = f"one{Path(name).suffix}"
    assert run_cli("render", shot, "--run", tiny_run, "--out", one, "--codec", codec, "-q").code == 0
    write_bundle(run_cli, tasks, shot, "--run", tiny_run, "--out", name, "--codec", codec, "-q")
    done = openjd_run(tmp_path / "bundle")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert len(list((tmp_path / f"{name}.parts").glob("part*.json"))) == tasks
    if codec == "h264":  # lossy, encoded in parts: the timestamps and the audio are the one pass's
        assert video_pts(tmp_path / name) == video_pts(tmp_path / one) == video_pts(shot)
        assert audio_span(tmp_path / name) == audio_span(tmp_path / one)
    else:
        assert_same(tmp_path / name, tmp_path / one)

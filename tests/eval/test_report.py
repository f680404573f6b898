"""vidgan report: one self-contained, valid HTML file with its images embedded."""

import json
from html.parser import HTMLParser

from vidgan.eval.report import write_report
from vidgan.runs.options import RunFolderOptions

VOID = {"meta", "img", "br", "hr", "link", "input"}


class Checker(HTMLParser):
    """Collects tags, checks that every element is closed in order, and gathers image sources."""

    def __init__(self):
        super().__init__()
        self.stack, self.problems, self.images, self.tags = [], [], [], []
        self.doctype = None

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"unexpected </{tag}>")


def test_report_is_valid_self_contained_html(tiny_run, tmp_path):
    run = tmp_path / "run"
    import shutil

    shutil.copytree(tiny_run, run)
    assert "Not evaluated yet" in write_report(RunFolderOptions(run)).read_text()
    directions = {d: {"translation_score": 0.9, "real_target_score": 1.0, "untranslated_score": 0.0, "c2st": 0.8,
                      "cycle_l1": 0.1, "cycle_psnr": 20.0, "identity_l1": 0.2, "colour_distance": 3.0,
                      "untranslated_colour_distance": 12.0, "ssim_grey": 0.7} for d in ("a2b", "b2a")}
    (run / "eval.json").write_text(json.dumps({
        "run": str(run), "step": 2, "images": {"set": "held-out", "a": 4, "b": 4},
        "classifier": {"balanced_accuracy": 1.0, "reliable": True}, "directions": directions,
    }))

    html = write_report(RunFolderOptions(run)).read_text()

    checker = Checker()
    checker.feed(html)
    checker.close()
    assert checker.doctype == "DOCTYPE html"
    assert not checker.problems and not checker.stack, (checker.problems, checker.stack)
    assert checker.tags[:4] == ["html", "head", "meta", "title"]
    assert len(checker.images) == 3  # loss curves, progress GIF and latest grid
    assert all(src.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for src in checker.images)
    assert "http://" not in html and "https://" not in html
    assert "90.0%" in html and "C2ST" in html and "held out" in html

"""Every number in the report comes from the data: one more transcript changes the report.

Copies the small study after its `qualcode run` (see small_study.py), adds one transcript and its
participants.csv row, runs the pipeline again there (incrementally), and compares the report with
the small study's: the participant count in the narrative, the manifest and the figures all change.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
import pytest
from small_study import Study

NEW_ID = "interview_11"
NEW_NAME = "Morgan Whitfield"
INTERVIEWER = "Jordan Avery"
NEW_ROW = (
    f"{NEW_ID},P11,{NEW_NAME},{INTERVIEWER},Chemistry,PhD,full_time_freelance,4,energy,referrals"
)
NEW_TRANSCRIPT = f"""\
{INTERVIEWER}: Thanks for joining, {NEW_NAME.split()[0]}. Past, present and future, as usual. \
How did you get into data science?

{NEW_NAME}: I trained as a chemist. My PhD was in battery chemistry, and I spent most of it \
writing Python to clean measurement data, so data science found me more than I found it.

{INTERVIEWER}: How did you start freelancing?

{NEW_NAME}: I took many small projects on Upwork at first, cheap ones, to build reviews. \
Those first twenty small jobs gave me a track record and a lot of five-star reviews.

{INTERVIEWER}: How do you operate now?

{NEW_NAME}: I freelance full-time now. I keep three clients at a time, and each client gets \
about ten hours a week from me.

{INTERVIEWER}: How do you get new clients?

{NEW_NAME}: Mostly referrals. Clients recommend me to their friends because I do good work, \
and that reputation means I can choose my clients. I also post on LinkedIn every week about \
battery analytics, and that personal brand brings inbound leads.

{INTERVIEWER}: Where is this going?

{NEW_NAME}: I want to build a product, a small software tool for battery labs, and earn passive \
income from it. My niche is energy storage, and I partner with a web developer who builds the \
front end while I do the models.
"""


def transcript_count(raw: Path) -> int:
    return sum(
        1 for p in raw.iterdir() if p.is_file() and p.name not in ("participants.csv", "README.md")
    )


def snapshot(reports: Path) -> dict[str, object]:
    """What the report says: notebook Markdown, figures, the manifest and the HTML pages."""
    found: dict[str, object] = {"manifest": json.loads((reports / "manifest.json").read_text())}
    for path in sorted(reports.glob("0*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        markdown, figures = [], []
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "text/markdown" in data:
                    markdown.append(data["text/markdown"])
                if "image/png" in data:
                    figures.append(hashlib.sha256(data["image/png"].encode()).hexdigest())
        found[path.stem] = {"markdown": markdown, "figures": figures}
    found["html"] = {p.name: p.read_text() for p in reports.glob("*.html")}
    return found


@pytest.mark.slow
def test_adding_a_transcript_changes_the_report(small_study: Study, tmp_path):
    n = transcript_count(small_study.raw)
    before = snapshot(small_study.reports)

    study = small_study.copy(tmp_path / "study")
    raw = study.raw
    (raw / f"{NEW_ID}.txt").write_text(NEW_TRANSCRIPT, encoding="utf-8")
    participants = (raw / "participants.csv").read_text(encoding="utf-8").rstrip("\n")
    (raw / "participants.csv").write_text(participants + "\n" + NEW_ROW + "\n", encoding="utf-8")
    study.run()
    after = snapshot(study.reports)

    # The participant count in the narrative follows the data.
    intro = "{k} transcripts from {k} participants came in"
    assert before["01_clean_transcripts"]["markdown"][0].startswith(intro.format(k=n))
    assert after["01_clean_transcripts"]["markdown"][0].startswith(intro.format(k=n + 1))
    ranked = "ranked by how many of the {k} participants voiced them"
    assert ranked.format(k=n) in before["04_key_takeaways"]["markdown"][1]
    assert ranked.format(k=n + 1) in after["04_key_takeaways"]["markdown"][1]
    assert f"of {n + 1} participants" in after["04_key_takeaways"]["markdown"][1]

    # The manifest lists the new transcript with its hash.
    listed = {t["transcript_id"]: t["sha256"] for t in after["manifest"]["transcripts"]}
    assert len(before["manifest"]["transcripts"]) == n
    assert len(listed) == n + 1
    expected = hashlib.sha256((raw / f"{NEW_ID}.txt").read_bytes()).hexdigest()
    assert listed[NEW_ID] == expected

    # The figures change: every notebook's charts are drawn from the new tables.
    for name in ("01_clean_transcripts", "03_analyze_themes", "04_key_takeaways"):
        old, new = before[name]["figures"], after[name]["figures"]
        assert old and new
        assert old[0] != new[0], f"{name}: the first figure did not change"
    assert before["03_analyze_themes"]["figures"] != after["03_analyze_themes"]["figures"]

    # The new participant shows up by pseudonym, never by name.
    assert "P11" in after["html"]["01_clean_transcripts.html"]
    for page, text in after["html"].items():
        assert NEW_NAME not in text, page
        assert NEW_NAME.split()[1] not in text, page

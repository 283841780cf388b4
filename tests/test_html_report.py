"""The HTML report: markdown pages rendered, figures inlined (the standalone page) or read from
beside it (the page kept in git), rows of figures kept."""
from __future__ import annotations

import base64

from pipeline.reporting import html_report

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def test_pages_become_one_self_contained_page(tmp_path):
    (tmp_path / "figures" / "gen").mkdir(parents=True)
    for name in ("comparison-ring8.png", "curves-ring8-gan.png", "curves-ring8-pm.png"):
        (tmp_path / "figures" / "gen" / name).write_bytes(PNG)
    (tmp_path / "index.md").write_text("# pm2gan report\n\n| study | verdict |\n|---|---|\n| [gen](gen.md) | holds |\n")
    (tmp_path / "gen.md").write_text(
        "# Study `gen`\n\n**Claim.** c\n\n**Verdict.** **holds** — because\n\n"
        "### ring8: samples\n\n![comparison-ring8](figures/gen/comparison-ring8.png)\n\n"
        "### ring8: curves\n\n![curves-ring8-gan](figures/gen/curves-ring8-gan.png)\n"
        "![curves-ring8-pm](figures/gen/curves-ring8-pm.png)\n\n"
        "![gone](figures/gen/missing.png)\n")
    out = html_report.write(tmp_path, {"summary": tmp_path / "index.md", "gen": tmp_path / "gen.md"},
                            tmp_path / "report.html")
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 3  # every figure that exists travels inside the page
    assert 'src="figures/gen/missing.png"' in page  # a missing one stays a (broken) link: the browser test sees it
    assert '<section id="gen">' in page and '<a href="#gen">gen</a>' in page  # links between pages are anchors
    assert '<p class="verdict"><strong>Verdict.</strong>' in page and "<table>" in page
    assert 'class="wide"' in page and "<details><summary>" in page  # the comparison spans the row; curves fold
    assert not list(tmp_path.glob("*.tmp"))
    linked = html_report.write(tmp_path, {"summary": tmp_path / "index.md", "gen": tmp_path / "gen.md"},
                               tmp_path / "linked.html", inline=False)
    text = linked.read_text()  # the page kept in git: the figures read from beside it
    assert "data:image" not in text and 'src="figures/gen/comparison-ring8.png"' in text
    assert text.replace('src="figures/gen/', "").count("<img") == page.count("<img")  # the same figures
    assert len(text) < len(page)

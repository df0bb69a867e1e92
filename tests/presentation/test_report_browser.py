"""The report renders in a real browser: headless Chromium opens report.html, takes a screenshot, and logs
no console message (the page has no script, so any message is an error: a blocked load, a CSP violation).

Skipped when no Chromium binary is installed; CI installs Debian's ``chromium`` (see .ci/run).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

import sim
from sim.analysis.verdict import Threshold
from sim.presentation import report as rp

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install -y chromium)")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--enable-logging=stderr",
    "--v=0",
    "--hide-scrollbars",
    "--window-size=1200,2400",
]
CONSOLE = re.compile(r":CONSOLE[^\]]*\]\s*(.*)")


def chromium(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on the page with a profile of its own (no shared state, no HOME needed)."""
    assert CHROMIUM is not None
    profile = page.parent / f".chromium-profile-{page.stem}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def console_messages(stderr: str) -> list[str]:
    """The page's console messages as Chromium logs them (``INFO:CONSOLE(line)] "text", source: ...``)."""
    return [m.group(1) for m in (CONSOLE.search(line) for line in stderr.splitlines()) if m]


def screenshot(page: Path, png: Path) -> list[str]:
    """Screenshot the page into ``png``; returns the console messages."""
    run = chromium(page, f"--screenshot={png}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert png.is_file(), run.stderr[-2000:]
    return console_messages(run.stderr)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "report"
    sc = sim.load_scenario(ROOT / "scenarios" / "three-manager-failover.yaml")
    rp.generate_report(
        sc,
        out,
        source="scenarios/three-manager-failover.yaml",
        threshold=Threshold(max_orphans=0),
        replications=3,
        max_replications=3,
        clients=400,
        workers=1,
        progress=False,
    )
    return out / "report.html"


def test_report_page_renders_with_content_and_no_console_errors(report_page: Path, tmp_path: Path) -> None:
    png = tmp_path / "shot.png"
    messages = screenshot(report_page, png)
    assert messages == []
    img = mpimg.imread(png)
    assert img.shape[0] == 2400 and img.shape[1] == 1200
    grey = img[..., :3].mean(axis=2)
    assert grey.std() > 0.05  # not a blank page: text, tables and figures
    assert (grey < 0.3).mean() > 0.005  # dark pixels: the text
    assert len(np.unique((img[..., :3] * 255).astype(int).reshape(-1, 3), axis=0)) > 50  # figures' colours
    dom = chromium(report_page, "--dump-dom")
    assert dom.returncode == 0
    assert "Certificate rotation risk report: three-manager-failover" in dom.stdout
    assert dom.stdout.count("<h2>") == 9
    assert dom.stdout.count('<img src="data:image/png;base64,') == 5
    assert 'class="badge NO-GO"' in dom.stdout


def test_the_console_check_does_catch_errors(tmp_path: Path) -> None:
    """The check above is only worth something if it sees errors: a page whose script fails must show them."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><body><p>x</p><script>console.error("boom"); notDefined();</script></body></html>'
    )
    messages = screenshot(page, tmp_path / "bad.png")
    assert any("boom" in m for m in messages)
    assert any("notDefined" in m for m in messages)


# A measuring script for a copy of the page (the report itself carries no script and a CSP that forbids one):
# it writes what overflows into the DOM, which --dump-dom returns. Overflow is: the page wider than the
# window, a figure wider than its column, a table wider than its scrolling wrapper (a reader would have to
# scroll it sideways), or two figure/table boxes overlapping.
MEASURE = """<script>
window.addEventListener('load', () => {
  const bad = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) bad.push('page ' + root.scrollWidth + '>' + root.clientWidth);
  const main = document.querySelector('main');
  document.querySelectorAll('figure img').forEach((img, i) => {
    if (img.getBoundingClientRect().right > main.getBoundingClientRect().right + 1) bad.push('figure ' + i);
  });
  document.querySelectorAll('.table-wrap').forEach((w, i) => {
    if (w.scrollWidth > w.clientWidth + 1) bad.push('table ' + i + ' ' + w.scrollWidth + '>' + w.clientWidth
      + ' ' + (w.querySelector('caption') || {}).textContent);
  });
  const boxes = [...document.querySelectorAll('figure, .table-wrap')].map(e => e.getBoundingClientRect());
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b, j) => {
    if (a.bottom > b.top + 1 && b.bottom > a.top + 1 && a.right > b.left + 1 && b.right > a.left + 1)
      bad.push('overlap ' + i + ' ' + (i + j + 1));
  }));
  const out = document.createElement('pre');
  out.id = 'overflow';
  out.textContent = 'OVERFLOW[' + bad.join('; ') + ']';
  document.body.appendChild(out);
});
</script>"""


def measured(page: Path, tmp: Path, width: int) -> str:
    """What the measuring script finds on ``page`` at ``width`` pixels: '' when nothing overflows."""
    text = page.read_text()
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    probe = tmp / f"measure-{width}.html"
    probe.write_text(text.replace("</body>", MEASURE + "</body>"))
    run = chromium(probe, f"--window-size={width},1000", "--virtual-time-budget=5000", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="overflow">OVERFLOW\[(.*?)\]</pre>', run.stdout, re.S)
    assert found is not None, "the measuring script did not run"
    return found.group(1)


@pytest.mark.parametrize("width", [800, 1400])
def test_report_fits_the_window_at_two_widths(report_page: Path, tmp_path: Path, width: int) -> None:
    assert measured(report_page, tmp_path, width) == ""


def test_the_overflow_check_does_catch_overflow(tmp_path: Path) -> None:
    page = tmp_path / "wide.html"
    page.write_text(
        '<!DOCTYPE html><html><body><main><div class="table-wrap" style="overflow-x:auto">'
        '<table><tr><td style="white-space:nowrap">' + "x" * 400 + "</td></tr></table></div></main></body></html>"
    )
    assert "table 0" in measured(page, tmp_path, 800)

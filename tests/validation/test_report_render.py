"""The report as a person sees it: headless Chromium renders report.html with every image
loaded, no network request and no console message.  Skips where Debian's chromium is
absent (``.ci/run`` installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]
# added to a copy of the page: records, once loaded, how many images decoded and how many
# resources were fetched (a self-contained page fetches none)
CHECKER = (
    "<script>window.addEventListener('load',()=>{const i=[...document.images];"
    "document.body.setAttribute('data-images',"
    "i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length);"
    "document.body.setAttribute('data-resources',"
    "performance.getEntriesByType('resource').length);});</script>"
)

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="chromium is not installed (apt-get install chromium)"
)


def _chromium(tmp_path, *args):
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_report_renders_with_images_and_no_console_errors(full_report, tmp_path):
    html = full_report.html_path.read_text()
    n_images = len(full_report.data["plots"])
    page = tmp_path / "page.html"
    page.write_text(html.replace("</body>", CHECKER + "</body>"))
    run = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert f'data-images="{n_images}/{n_images}"' in dom, re.findall(r"data-images=\S+", dom)
    assert 'data-resources="0"' in dom
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert "Validation of" in dom and "Timing" in dom


def test_report_screenshot(full_report, tmp_path):
    shot = tmp_path / "report.png"
    run = _chromium(
        tmp_path, "--window-size=1280,2400", f"--screenshot={shot}", full_report.html_path.as_uri()
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 50_000

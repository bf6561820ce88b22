"""HTML/Markdown escaping of hostile strings, self-containment, and a look in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from iobus_verify.model.spec import resolve
from iobus_verify.reports.check import Phase, check
from iobus_verify.reports.index import report_all
from iobus_verify.reports.records import Finding, Result

HOSTILE = "<script>alert(1)</script>"
PLUGIN = (
    "from iobus_verify.model.linear_bus import LinearBus\n"
    "def make(capacity):\n"
    "    '''A bus with \"quotes\" & <tags> in its summary.'''\n"
    "    return LinearBus(capacity)\n"
    "make.bus_name = 'my \"quoted\" bus\\' <b>'\n"
)


def _hostile_phase():
    def run(ctx):
        scen = {
            "schema": "iobus-scenario/1",
            "ops": [
                {"op": "probe", "action": "register", "id": HOSTILE, "bus": "mmio", "addr": 0x10, "len": 4, "accepts": "range"},
                {"op": "write", "bus": "mmio", "addr": 0x11, "len": 1, "data": "00"},
            ],
        }
        ce = ({"addr": 0x10, "len": 4, "label": HOSTILE}, {"addr": 0x11, "len": 1, "role": "access"})
        return [
            Result("differential.MISSED", "property", "fail", 0.0, Finding("MISSED", f"device {HOSTILE} missed", scen), detail=HOSTILE),
            Result(f"proof.{HOSTILE}", "proof", "fail", 0.0, Finding(f"refuted{HOSTILE}", "x", None, ce)),
        ]

    return Phase("properties", "property", run)


@pytest.fixture
def hostile_report(tmp_path):
    plugin = tmp_path / "evil.py"
    plugin.write_text(PLUGIN)
    return check(resolve(f"{plugin}:make"), out_root=tmp_path / "out", phases=(_hostile_phase(),), stream=open(os.devnull, "w"))


def _no_live_markup(text: str) -> None:
    assert "<script" not in text.lower()
    assert "<b>" not in text  # the bus name's tag is printed, not obeyed


def test_report_html_escapes_everything(hostile_report):
    html = (hostile_report.bus_dir / "report.html").read_text()
    _no_live_markup(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "my &quot;quoted&quot; bus&#x27; &lt;b&gt;" in html
    # self-contained: no external reference of any kind
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<link" not in html and "@import" not in html


def test_report_md_escapes_everything(hostile_report):
    md = (hostile_report.bus_dir / "report.md").read_text()
    assert "<script>" not in md and "\\<script\\>" in md


def test_bus_folder_name_is_safe(hostile_report):
    assert hostile_report.bus_dir.name == "my_quoted_bus_b"


def test_index_escapes_and_links(tmp_path, fake):
    outcomes, code = report_all(
        tmp_path, buses=["seed-2011", "fixed"], phases=(fake.properties(), fake.proofs()), stream=open(os.devnull, "w"), with_cost=False
    )
    # the fake phases' findings are not what the committed baselines hold: both regress
    assert code == 1 and [o.report.gate.verdict for o in outcomes] == ["regressed", "regressed"]
    assert [o.report.bus.name for o in outcomes] == ["seed-2011", "fixed"]
    index = (tmp_path / "index.html").read_text()
    # every finding link of the matrix points at an anchor that exists
    for bus, anchor in re.findall(r'href="([\w.-]+)/report\.html#([\w-]+)"', index):
        assert f'id="{anchor}"' in (tmp_path / bus / "report.html").read_text()
    assert index.count("<svg") >= 2  # the counterexample diagrams, inlined
    assert (tmp_path / "index.md").read_text().count("](svg/") >= 2
    assert "since the previous report" not in index
    report_all(tmp_path, buses=["seed-2011", "fixed"], phases=(fake.properties(findings=()), fake.proofs()), stream=open(os.devnull, "w"), with_cost=False)
    index = (tmp_path / "index.html").read_text()
    assert "seed-2011: since the previous report in this folder" in index
    assert re.search(r"lost</td><td><code>differential\.MISSED", index)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_index_in_headless_chromium(tmp_path, fake, hostile_report):
    browser = _chromium()
    if browser is None:
        pytest.skip("no headless browser: install Debian's `chromium` package to check the HTML in a browser")
    report_all(tmp_path, buses=["seed-2011"], phases=(fake.properties(), fake.proofs()), stream=open(os.devnull, "w"), with_cost=False)
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ]  # fmt: skip
    for page in (tmp_path / "index.html", hostile_report.bus_dir / "report.html"):
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run(
                [browser, *flags, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert "<table>" in dom.stdout and "<svg" in dom.stdout
        assert "<script" not in dom.stdout.lower()  # the parsed DOM holds no script element
    shot = tmp_path / "index.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, *flags, f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1280,2000", (tmp_path / "index.html").as_uri()],
            capture_output=True, timeout=60,
        )  # fmt: skip
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a rendered page, not a blank one

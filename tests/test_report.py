"""The HTML report: a self-contained, escaped page, checked as text and in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genzoo.report import write_report

EVIL = '<script>alert("x")</script>'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _png(path: Path, seed: int) -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path.name


def _rows(out: Path) -> list[dict]:
    """Two data sets, three models, repeats and floors, a None-heavy row, a failed run."""
    _png(out / "real_moons.png", 0)
    _png(out / "real_digits.png", 1)
    base = {"support": "continuous", "likelihood_kind": "exact", "seeds": 3, "fid_floor": 1.1}
    moons = [
        {"model": "gmm", "family": "mixture", "fid": 12.3456, "fid_std": 0.5, "bits_per_dim": 1.8},
        {"model": "flow", "family": "flow", "fid": 4.2, "bits_per_dim": 1.5, "mmd": 0.01},
        {"model": "vae", "family": "autoencoder", "fid": 30.0, "bits_per_dim": 2.1},
        {"model": "gan", "family": "adversarial", "fid": None, "likelihood_kind": None},
    ]
    rows = []
    for i, row in enumerate(moons):
        picture = _png(out / f"{row['model']}.png", 10 + i)
        rows.append({**base, "dataset": "moons", "status": "ok", "picture": picture, **row})
    digits = {"dataset": "digits", "support": "discrete (17 levels)", "status": "ok"}
    rows += [
        {**digits, "model": "gmm", "family": "mixture", "log_likelihood": -40.5, "mmd": 0.2},
        {**digits, "model": "rbm", "family": "boltzmann", "log_likelihood": -35.25, "mmd": 0.05},
        {**digits, "model": "pcfg", "family": "grammar", "status": f"ValueError: {EVIL}"},
    ]
    rows[-2].update(likelihood_kind="estimate", picture=_png(out / "rbm_digits.png", 20))
    rows[-1]["picture"] = "never_written.png"
    return rows


class _Tables(HTMLParser):
    """Count the body rows of each table and collect the tags and their attributes."""

    def __init__(self):
        super().__init__()
        self.body_rows: list[int] = []
        self.tags: list[tuple[str, dict]] = []
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tbody":
            self._in_body = True
            self.body_rows.append(0)
        elif tag == "tr" and self._in_body:
            self.body_rows[-1] += 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False


def _parse(text: str) -> _Tables:
    parser = _Tables()
    parser.feed(text)
    return parser


@pytest.fixture
def report(tmp_path) -> tuple[Path, list[dict]]:
    rows = _rows(tmp_path)
    return write_report(rows, tmp_path, title="zoo <test>"), rows


# --- the page as text


def test_report_is_written_in_place_without_temporaries(report, tmp_path):
    path, _ = report
    assert path == tmp_path / "report.html"
    assert not list(tmp_path.glob(".*.tmp*"))
    assert "<title>zoo &lt;test&gt;</title>" in path.read_text(encoding="utf-8")


def test_report_is_self_contained(report):
    text = report[0].read_text(encoding="utf-8")
    tags = _parse(text).tags
    for tag, attrs in tags:
        for name in ("src", "href"):
            assert not re.match(r"\s*(https?:)?//", attrs.get(name) or ""), (tag, attrs)
    assert [attrs for tag, attrs in tags if tag == "script"] == [{}]  # one inline script
    assert not [attrs for tag, attrs in tags if tag == "link" and attrs.get("rel") != "icon"]
    images = [attrs["src"] for tag, attrs in tags if tag == "img"]
    assert len(images) == 2 + 4 + 1  # real data of both sets, every picture that exists
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_one_table_row_per_run_and_a_table_per_data_set(report):
    path, rows = report
    text = path.read_text(encoding="utf-8")
    assert _parse(text).body_rows == [4, 3]
    assert "moons <small>continuous</small>" in text
    assert "digits <small>discrete (17 levels)</small>" in text


def test_user_strings_are_escaped(tmp_path):
    rows = [
        {"model": EVIL, "family": "<b>", "dataset": "<i>", "status": f"RuntimeError: {EVIL}"},
        {"model": "a&b", "family": "f", "dataset": "<i>", "status": "ok", "note": EVIL},
    ]
    text = write_report(rows, tmp_path, title=EVIL).read_text(encoding="utf-8")
    assert EVIL not in text
    assert "<b>&lt;b&gt;" not in text and "&lt;b&gt;" in text
    assert text.count("<script>") == 1
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    assert text.count(escaped) >= 4  # title, heading, model, cell, failure
    assert f"RuntimeError: {escaped}</code>" in text  # in the list of failures
    assert "a&amp;b" in text


def test_numbers_have_four_significant_digits_with_std_and_floor(report):
    text = report[0].read_text(encoding="utf-8")
    cell = re.search(r'<td class="num" data-sort="12.3456">(.*?)</td>', text)
    assert cell is not None
    assert re.sub(r"<[^>]+>", "", cell[1]) == "12.35 ± 0.5 (floor 1.1)"


def test_only_columns_with_a_value_are_shown(report):
    tags = _parse(report[0].read_text(encoding="utf-8")).tags
    keys = [attrs["data-key"] for tag, attrs in tags if tag == "th"]
    moons, digits = keys[: keys.index("status") + 1], keys[keys.index("status") + 1 :]
    assert moons[:2] == ["model", "family"] and moons[-1] == "status"
    assert {"fid", "bits_per_dim", "mmd", "seeds", "likelihood_kind"} <= set(moons)
    assert "log_likelihood" not in moons and "fid" not in digits
    assert not [k for k in keys if k.endswith(("_std", "_floor")) or k in ("picture", "dataset")]
    numeric = [a["data-key"] for t, a in tags if t == "th" and a.get("data-type") == "number"]
    assert "fid" in numeric and "model" not in numeric


def test_rows_of_none_and_missing_pictures(tmp_path):
    keys = ["support", "likelihood_kind", "log_likelihood", "fid", "seeds", "picture"]
    rows = [
        {"model": None, "family": None, "dataset": None, "status": None, **dict.fromkeys(keys)},
        {"model": "m", "family": "f", "dataset": "d", "status": "ok", "picture": "missing.png"},
        {"model": "n", "family": "f", "dataset": "d", "status": "ok", "picture": "../outside.png"},
        {"model": "o", "family": "f", "dataset": "d", "status": "ok", "fid": float("nan")},
    ]
    _png(tmp_path.parent / "outside.png", 0)  # a picture outside `out` is never read
    text = write_report(rows, tmp_path).read_text(encoding="utf-8")
    assert _parse(text).body_rows == [1, 3]
    assert "<img" not in text and text.count("picture missing") == 2
    assert "no status recorded" in text
    assert 'data-key="fid"' not in text  # NaN counts as no value


def test_failed_runs_are_listed_with_their_reason(report):
    text = report[0].read_text(encoding="utf-8")
    failures = text[text.index('id="failures"') :]
    assert "<b>pcfg</b> on digits: <code>ValueError: &lt;script&gt;" in failures
    assert "gmm" not in failures


def test_scatter_needs_two_models_with_both_values(report, tmp_path):
    text = report[0].read_text(encoding="utf-8")
    assert text.count('<svg class="scatter"') == 2  # moons: bits/dim and FID; digits: log-lik, MMD
    assert 'aria-label="bits_per_dim against fid"' in text
    assert 'aria-label="log_likelihood against mmd"' in text
    one = [{"model": "m", "family": "f", "dataset": "d", "status": "ok", "fid": 1.0, "mmd": 2.0}]
    assert "<svg" not in write_report(one, tmp_path / "one").read_text(encoding="utf-8")


# --- the page in a headless browser


def _driver(tmp_path: Path):
    """Headless Debian Chromium through its own chromedriver; Selenium Manager stays off."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.add_argument("--window-size=1400,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def _column(driver, table, key: str) -> list[float | None]:
    """The numbers in column `key` of `table`, top to bottom (None for an empty cell)."""
    script = """
        const [table, key] = arguments;
        const heads = Array.from(table.tHead.rows[0].cells);
        const col = heads.findIndex(th => th.dataset.key === key);
        return Array.from(table.tBodies[0].rows, row => row.cells[col].textContent.trim());
    """
    cells = driver.execute_script(script, table, key)
    return [None if cell == "—" else float(cell.split()[0]) for cell in cells]


@pytest.mark.timeout(120)
@pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver)",
)
def test_report_in_headless_chromium(tmp_path, monkeypatch):
    monkeypatch.setenv("SE_OFFLINE", "true")
    out = tmp_path / "zoo"
    out.mkdir()
    (out / "leaderboard.json").write_text(json.dumps(_rows(out)), encoding="utf-8")
    rows = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))
    path = write_report(rows, out)

    driver = _driver(tmp_path)
    try:
        driver.get(path.as_uri())
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
        assert len(driver.find_elements("css selector", "table.board tbody tr")) == len(rows)

        table = driver.find_elements("css selector", "table.board")[0]
        header = table.find_element("css selector", 'th[data-key="fid"]')
        header.click()
        assert header.get_attribute("aria-sort") == "ascending"
        assert _column(driver, table, "fid") == [4.2, 12.35, 30.0, None]
        header.click()
        assert header.get_attribute("aria-sort") == "descending"
        assert _column(driver, table, "fid") == [30.0, 12.35, 4.2, None]

        decoded = driver.execute_script(
            "return Array.from(document.images, i => i.complete && i.naturalWidth > 0);"
        )
        assert decoded == [True] * 7
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(os.fspath(shot))
        assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and shot.stat().st_size > 1000
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()

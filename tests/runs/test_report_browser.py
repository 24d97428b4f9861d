"""The report's interactive code map in a real headless Chromium (Debian's
``chromium`` and ``chromium-driver``; ``.ci/run`` installs them with ``.ci/browser``).

Driven by Selenium with the system chromedriver rather than raw DevTools Protocol
messages: Selenium gives real pointer events (a click dispatched as the browser's own
input, hit-testing the SVG circle), the browser's console log at level SEVERE, and
JavaScript on/off per session, with no websocket plumbing in the test. The driver's
path is given, so Selenium Manager never looks for one on the network.

Without Chromium, its driver or Selenium these tests skip, saying why; with
``AEKIT_REQUIRE_BROWSER=1`` (``.ci/run`` sets it once it has them) they fail instead,
so CI cannot pass without running them.
"""

from __future__ import annotations

import os
import re
import shutil
import time

import numpy as np
import pytest
import torch

from aekit.cli.main import main
from aekit.runs.folder import open_run

try:
    from selenium import webdriver
except ImportError:
    webdriver = None

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
REQUIRED = os.environ.get("AEKIT_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module", autouse=True)
def _browser_present():
    """Skip (or with ``AEKIT_REQUIRE_BROWSER=1`` fail) before anything is trained
    when Selenium, Chromium or its driver is missing."""
    missing = [name for name, there in (("selenium", webdriver), ("chromium", BROWSER),
               ("chromedriver", DRIVER)) if there is None]  # fmt: skip
    if missing:
        why = (f"no {' or '.join(missing)} (pip install selenium; "
               "apt-get install chromium chromium-driver)")  # fmt: skip
        if REQUIRED:
            pytest.fail(f"AEKIT_REQUIRE_BROWSER=1 but {why}", pytrace=False)
        pytest.skip(why)


def browser(scripts: bool = True):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1200,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if not scripts:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    return webdriver.Chrome(options=options, service=Service(DRIVER))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A small digits autoencoder's run and its report page."""
    run = tmp_path_factory.mktemp("browser") / "ae"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        args = ["--epochs", "2", "--hidden", "32", "--latent-dim", "4", "--quiet"]
        assert main(["train", "ae", "--out", str(run), *args]) == 0
        assert main(["report", str(run)]) == 0
    finally:
        torch.set_num_threads(threads)
    return run, run / "report.html"


def uncovered(driver, start: int) -> int:
    """The first point from the ``start``-th whose centre no later point covers (so a
    real click there lands on it)."""
    return driver.execute_script(
        """const pts = document.querySelectorAll("#aekit-map circle.pt");
        pts[0].closest("svg").scrollIntoView();
        for (let i = arguments[0]; i < pts.length + arguments[0]; i++) {
            const p = pts[i % pts.length], r = p.getBoundingClientRect();
            if (document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === p)
                return i % pts.length;
        }
        return -1;""",
        start,
    )


def canvas_pixels(driver, key: str) -> np.ndarray:
    """The grey level at the centre of each data pixel of the shown example's canvas."""
    values = driver.execute_script(
        """const c = document.querySelector(`#aekit-map-detail canvas[data-key="${arguments[0]}"]`);
        const data = JSON.parse(document.getElementById("aekit-map-data").textContent);
        const ex = data.examples, s = ex.scale, px = c.getContext("2d").getImageData(
            0, 0, c.width, c.height).data, out = [];
        for (let r = 0; r < ex.h; r++) for (let k = 0; k < ex.w; k++)
            out.push(px[4 * ((r * s + (s >> 1)) * c.width + k * s + (s >> 1))]);
        return out;""",
        key,
    )
    return np.asarray(values, dtype=np.float64)


def test_the_code_map_draws_every_point_and_a_click_shows_that_example(report):
    run, page = report
    started = time.perf_counter()
    driver = browser()
    try:
        driver.get(page.as_uri())
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []  # no script error, nothing refused or missing
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        points = driver.find_elements(By.CSS_SELECTOR, "#aekit-map svg circle.pt")
        text = driver.find_element(By.TAG_NAME, "body").text
        said = re.search(r"(\d+) of the (\d+) test examples", text)
        assert said, "the page does not say how many examples it drew"
        _, spec, model = open_run(run)
        test = spec.load().test
        assert len(points) == int(said.group(1)) == int(said.group(2)) == len(test.X)

        chosen = points[uncovered(driver, len(points) // 3)]
        index = int(chosen.get_attribute("data-index"))
        chosen.click()
        WebDriverWait(driver, 5).until(
            lambda d: all(
                c.get_attribute("data-drawn") == str(index)
                for c in d.find_elements(By.CSS_SELECTOR, "#aekit-map-detail canvas")
            )
        )
        detail = driver.find_element(By.ID, "aekit-map-detail")
        assert f"test example #{index}" in detail.text
        assert detail.find_element(By.CLASS_NAME, "label").text == str(test.y[index])
        x = test.X[index]
        np.testing.assert_allclose(canvas_pixels(driver, "original"), np.rint(x[0] * 255).ravel())
        recon = model.inverse_transform(model.transform(x[None]))[0, 0]
        shown = canvas_pixels(driver, "reconstruction")
        np.testing.assert_allclose(shown, np.rint(np.clip(recon, 0, 1) * 255).ravel(), atol=1)

        # hovering over another point shows it; leaving the map brings back the clicked one
        other = points[uncovered(driver, 0)]
        webdriver.ActionChains(driver).move_to_element(other).perform()
        assert f"#{other.get_attribute('data-index')}" in detail.text
        heading = driver.find_element(By.TAG_NAME, "h1")
        webdriver.ActionChains(driver).move_to_element(heading).perform()
        assert f"test example #{index}" in detail.text
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()
    assert time.perf_counter() - started < 60


def test_with_scripts_off_the_static_map_is_shown(report):
    from selenium.webdriver.common.by import By

    _, page = report
    driver = browser(scripts=False)
    try:
        driver.get(page.as_uri())
        interactive = driver.find_element(By.ID, "aekit-map")  # there, but left empty:
        assert interactive.find_elements(By.TAG_NAME, "svg") == []  # no script ran
        static = driver.find_element(By.CSS_SELECTOR, 'img[alt="Code map"]')
        assert static.size["width"] > 300 and static.is_displayed()
    finally:
        driver.quit()


def test_a_mixed_table_row_is_shown_in_the_users_terms(tmp_path, people_csv):
    # a table run's map: a click shows the row's cells and its reconstruction's, as
    # level strings and numbers in their units, with no script error
    from selenium.webdriver.common.by import By

    run = tmp_path / "run"
    args = ["--latent-dim", "2", "--hidden", "16", "--epochs", "5", "--quiet"]
    data = people_csv(200)
    assert main(["train", "ae", "--data", data, "--out", str(run), *args]) == 0
    assert main(["report", str(run)]) == 0
    _, spec, model = open_run(run)
    driver = browser()
    try:
        driver.get((run / "report.html").as_uri())
        points = driver.find_elements(By.CSS_SELECTOR, "#aekit-map svg circle.pt")
        chosen = points[uncovered(driver, len(points) // 2)]
        index = int(chosen.get_attribute("data-index"))
        chosen.click()
        rows = driver.find_elements(By.CSS_SELECTOR, "#aekit-map-detail .aekit-map-values tr")
        cells = {r.find_element(By.TAG_NAME, "th").text: [d.text for d in
                 r.find_elements(By.TAG_NAME, "td")] for r in rows[1:]}  # fmt: skip
        row = spec.load().test.X.iloc[[index]]
        recon = model.reconstruct(row).iloc[0]
        assert cells["city"] == [row["city"].iloc[0], recon["city"]]
        assert cells["smoker"] == [row["smoker"].iloc[0], recon["smoker"]]
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()

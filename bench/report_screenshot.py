"""A screenshot of a report's interactive code map, as headless Chromium draws it
after a click on one point: how docs/report-code-map.png was made.

    aekit train vae --data mnist --epochs 3 --latent-dim 8 --out runs/mnist-vae
    aekit report runs/mnist-vae
    python bench/report_screenshot.py runs/mnist-vae/report.html docs/report-code-map.png

Needs Debian's ``chromium`` and ``chromium-driver`` and ``pip install selenium``.
"""

from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path


def screenshot(page: str | Path, out: str | Path, *, point: int = 0, width: int = 1200) -> Path:
    """Open ``page`` headless, click the centre of the ``point``-th point of its code map
    (or of the point drawn over it) and save the map's section (heading to caption) as
    a PNG of at most 256 colours at ``out``."""
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--hide-scrollbars")
    options.add_argument(f"--window-size={width},1000")
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(Path(page).resolve().as_uri())
        points = driver.find_elements(By.CSS_SELECTOR, "#aekit-map circle.pt")
        driver.execute_script("arguments[0].scrollIntoView()", points[point])
        webdriver.ActionChains(driver).move_to_element(points[point]).click().perform()
        figure = driver.find_element(By.ID, "aekit-map").find_element(By.XPATH, "./..")
        heading = figure.find_element(By.XPATH, "preceding-sibling::h2[1]")
        driver.execute_script("arguments[0].scrollIntoView()", heading)
        top, bottom = driver.execute_script(
            "return [arguments[0].getBoundingClientRect().top,"
            " arguments[1].getBoundingClientRect().bottom]",
            heading,
            figure,
        )
        shot = Image.open(io.BytesIO(driver.get_screenshot_as_png()))
    finally:
        driver.quit()
    shot = shot.crop((0, max(0, int(top) - 8), shot.width, min(shot.height, int(bottom) + 8)))
    out = Path(out)
    shot.convert("RGB").quantize(256).save(out, optimize=True)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page")
    parser.add_argument("out")
    parser.add_argument("--point", type=int, default=0)
    args = parser.parse_args()
    print(screenshot(args.page, args.out, point=args.point))

"""The review station in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven by
Selenium against the built `karyocount watch` daemon. A cytologist opens the patient list, opens a cell, removes
two boxes, draws one, accepts, and the new count is in the API and in patient.json.

KARYOCOUNT (default .build/debug/karyocount) names the binary; SCREENSHOTS names a folder for the three pages'
screenshots (default: the test's temp folder)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from daemon_harness import free_port, get_json, wait_until_counted, write_config
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("KARYOCOUNT", REPO / ".build/debug/karyocount"))
SAMPLE = REPO / "Samples/drop/18-Y2087/18-Y2087.145.O.png"
SYNTHETIC = REPO / "Samples/drop/SYN-0001/SYN-0001.001.A.png"
CRAFTED = '<img src=x onerror="document.title=1">.001.A.png'


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    """A running daemon with two counted cells (a real spread, and a crafted name), its address and folders."""
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is not built: run `swift build` first")
    root = tmp_path_factory.mktemp("station")
    drop = root / "drop"
    (drop / "18-Y2087").mkdir(parents=True)
    shutil.copy(SAMPLE, drop / "18-Y2087" / SAMPLE.name)
    shutil.copy(SYNTHETIC, drop / CRAFTED)
    port = free_port()
    config = write_config(root, drop, port, model=str(REPO / "Models/default"), stability_seconds=0.0)
    base = f"http://127.0.0.1:{port}"
    with open(root / "daemon.log", "w") as log:
        daemon = subprocess.Popen([str(BINARY), "watch", "--config", str(config)], stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            if not wait_until_counted(daemon, base, 2, timeout=300):
                pytest.fail("the daemon did not count both images in 300 s:\n" + (root / "daemon.log").read_text())
            yield base, root
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    yield driver
    driver.quit()


def screenshot(driver, root: Path, name: str):
    folder = Path(os.environ.get("SCREENSHOTS", root / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(folder / f"{name}.png"))


def test_review_a_cell_in_the_browser(station, browser):
    base, root = station
    wait = WebDriverWait(browser, 30)

    browser.get(base + "/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#patients tr[data-patient]")
    assert {r.get_attribute("data-patient") for r in rows} >= {"18-Y2087"}
    assert browser.title.endswith("KaryoCount review"), "the crafted name must not run script"
    screenshot(browser, root, "patient-list")

    browser.find_element(By.LINK_TEXT, "18-Y2087").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#cells a.tile")))
    screenshot(browser, root, "patient")
    browser.find_element(By.CSS_SELECTOR, "#cells a.tile").click()

    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#boxes g.box")))
    cell_id = browser.current_url.rstrip("/").split("/")[-1]
    before = get_json(f"{base}/api/cells/{cell_id}")
    detected = before["detector_count"]
    assert int(browser.find_element(By.ID, "count").text) == detected

    for _ in range(2):  # a click where a box is drawn removes the box on top there
        box = browser.find_element(By.CSS_SELECTOR, "#boxes g.box rect")
        ActionChains(browser).move_to_element(box).click().perform()
    wait.until(lambda d: int(d.find_element(By.ID, "count").text) == detected - 2)

    # Draw a box in the empty lower-left corner of the spread.
    view = browser.find_element(By.ID, "view")
    image = browser.find_element(By.CSS_SELECTOR, "#view image")
    rect = image.rect
    start_x = rect["x"] + rect["width"] * 0.05 - view.rect["x"] - view.rect["width"] / 2
    start_y = rect["y"] + rect["height"] * 0.85 - view.rect["y"] - view.rect["height"] / 2
    (ActionChains(browser).move_to_element_with_offset(view, int(start_x), int(start_y)).click_and_hold()
     .move_by_offset(40, 30).release().perform())
    wait.until(lambda d: int(d.find_element(By.ID, "count").text) == detected - 1)

    body = browser.find_element(By.TAG_NAME, "body")
    full = view.get_dom_attribute("viewBox")
    body.send_keys("+")
    zoomed = [float(v) for v in view.get_dom_attribute("viewBox").split()]
    assert zoomed[2] < float(full.split()[2]), "+ zooms in"
    body.send_keys("0")
    assert view.get_dom_attribute("viewBox") == full, "0 fits the whole image again"

    browser.find_element(By.ID, "reviewer").send_keys("Dr. Browser")
    screenshot(browser, root, "cell")
    browser.find_element(By.ID, "accept").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "saved"))

    after = get_json(f"{base}/api/cells/{cell_id}")
    assert after["count"] == detected - 1
    assert after["reviewed"] and after["reviews"][-1]["reviewer"] == "Dr. Browser"
    assert after["reviews"][-1]["changes"] == f"count {detected} -> {detected - 1}; 2 boxes removed; 1 box drawn"
    drawn = after["boxes"][-1]
    assert drawn[2] - drawn[0] > 10 and drawn[3] - drawn[1] > 10

    patient = json.loads((root / "out/results/18-Y2087/patient.json").read_text())
    assert patient["images_reviewed"] == 1
    assert [c["count"] for c in patient["cells"]] == [detected - 1]
    assert patient["cells"][0]["detector_count"] == detected

    browser.get(base + "/patients/18-Y2087")
    assert "1 of 1 counts reviewed" in browser.find_element(By.TAG_NAME, "main").text

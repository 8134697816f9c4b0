"""The released walk-through in a real browser: JupyterLab on loopback, headless Chromium, Selenium.

The learners' notebook (exercises/walkthrough.ipynb) with the answers filled in is opened in JupyterLab,
every cell is run from the Run menu, and the page must show what a learner expects: the plots, the
printed accuracies, no error output. Then nbgrader's Validate button in the notebook toolbar must report
success. On failure a screenshot is saved and its path given in the message.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium chromium-driver``);
without them the test fails and says so.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from autograder.course.nbgrader_cli import nbgrader_environment
from autograder.course.solved import solved_copy
from autograder.manifest import EXERCISES_DIR, SOLUTIONS_DIR

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
SERVER_START_SECONDS = 90
RUN_ALL_SECONDS = 240
VALIDATE_SECONDS = 240

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def require_chromium() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(
            f"the browser test needs Debian's chromium and chromium-driver; missing: {', '.join(missing)}. "
            "Install them with `apt-get update && apt-get install -y chromium chromium-driver`.",
            pytrace=False,
        )


@contextmanager
def jupyterlab(root_dir: Path, scratch: Path):
    """JupyterLab serving ``root_dir`` on 127.0.0.1 with a fresh token; yields ``(base_url, token)``."""
    port, token = free_port(), secrets.token_hex(16)
    settings_dir = scratch / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings_dir.mkdir(parents=True)
    # Every cell stays in the page (no virtual scrolling), so the whole notebook's outputs can be read.
    (settings_dir / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    apputils_dir = scratch / "lab-settings" / "@jupyterlab" / "apputils-extension"
    apputils_dir.mkdir(parents=True)
    (apputils_dir / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = nbgrader_environment({"JUPYTER_RUNTIME_DIR": str(scratch / "runtime"), "PYTHONUNBUFFERED": "1"})
    log_path = scratch / "jupyterlab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--allow-root",
                "--no-browser",
                "--ServerApp.open_browser=False",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root_dir}",
                f"--LabApp.user_settings_dir={scratch / 'lab-settings'}",
                f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
            ],
            cwd=root_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start; its log ends with:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base_url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def chromium(scratch: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={scratch / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


PROMPTS_JS = """
return Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt'))
    .map(prompt => prompt.textContent.trim());
"""
OUTPUTS_JS = """
const area = document.querySelector('.jp-Notebook');
return {
    text: Array.from(area.querySelectorAll('.jp-OutputArea-output')).map(o => o.innerText).join('\\n'),
    images: area.querySelectorAll('.jp-OutputArea-output img').length,
    errors: Array.from(area.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
    )).map(o => o.innerText.slice(0, 400)),
};
"""


def wait_until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def notebook_kernel_idle(base_url: str, token: str) -> bool:
    """Whether the server says the page's kernel is up and idle (the JupyterLab installed here, 4.6.6,
    writes no kernel state in the status bar: the notebook's toolbar shows it as an icon only)."""
    try:
        with urllib.request.urlopen(f"{base_url}/api/sessions?token={token}", timeout=5) as response:
            sessions = json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return any(
        (session.get("kernel") or {}).get("execution_state") == "idle"
        for session in sessions
        if str(session.get("path", "")).endswith("walkthrough.ipynb")
    )


def click_menu(driver, menu_label: str, item_label: str) -> None:
    """Open ``menu_label`` in the menu bar and click its item ``item_label``, as a learner would."""
    from selenium.webdriver.common.by import By

    menu_xpath = f"//li[contains(@class, 'lm-MenuBar-item')][.//*[text()='{menu_label}']]"
    driver.find_element(By.XPATH, menu_xpath).click()
    item_xpath = f"//li[contains(@class, 'lm-Menu-item')][.//*[text()='{item_label}']]"
    items = wait_until(
        lambda: [item for item in driver.find_elements(By.XPATH, item_xpath) if item.is_displayed()],
        10,
        f"the menu item {menu_label} > {item_label}",
    )
    items[0].click()


def all_cells_ran(driver) -> bool:
    prompts = driver.execute_script(PROMPTS_JS)
    return bool(prompts) and all(p.startswith("[") and p[1:-2].strip().isdigit() for p in prompts)


def dialog_texts(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [dialog.text for dialog in driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog")]


@pytest.fixture
def solved_notebook_dir(tmp_path) -> Path:
    released = nbformat.read(EXERCISES_DIR / "walkthrough.ipynb", as_version=4)
    source = nbformat.read(SOLUTIONS_DIR / "walkthrough.ipynb", as_version=4)
    work = tmp_path / "learner"
    work.mkdir()
    nbformat.write(solved_copy(released, source), work / "walkthrough.ipynb")
    return work


def test_released_notebook_runs_in_jupyterlab_and_validates(solved_notebook_dir, tmp_path):
    require_chromium()
    from selenium.webdriver.common.by import By

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    screenshot = tmp_path / "failure.png"
    with jupyterlab(solved_notebook_dir, scratch) as (base_url, token), chromium(scratch) as driver:
        try:
            driver.set_page_load_timeout(120)
            driver.get(f"{base_url}/lab/tree/walkthrough.ipynb?token={token}")
            wait_until(
                lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"),
                120,
                "the notebook to open",
            )
            wait_until(
                lambda: (
                    "| Idle" in driver.find_element(By.TAG_NAME, "body").text
                    or notebook_kernel_idle(base_url, token)
                ),
                120,
                "the notebook's kernel to start (Idle in the status bar or in the server's sessions)",
            )
            click_menu(driver, "Run", "Run All Cells")
            wait_until(lambda: all_cells_ran(driver), RUN_ALL_SECONDS, "every code cell to run")
            outputs = driver.execute_script(OUTPUTS_JS)
            assert not outputs["errors"], f"error output in the notebook: {outputs['errors']}"
            assert outputs["images"] >= 2, f"{outputs['images']} plots shown; expected the notebook's plots"
            for expected in ("soft-target student's test accuracy:", "mean entropy", "checks passed"):
                assert expected in outputs["text"], f"{expected!r} not among the outputs"

            validate_xpath = "//*[contains(@class, 'jp-Toolbar')]//*[normalize-space(text())='Validate']"
            validate = wait_until(
                lambda: [b for b in driver.find_elements(By.XPATH, validate_xpath) if b.is_displayed()],
                30,
                "nbgrader's Validate button in the notebook toolbar",
            )
            validate[0].click()
            verdict = wait_until(
                lambda: [text for text in dialog_texts(driver) if "Validat" in text or "Success" in text],
                VALIDATE_SECONDS,
                "the Validate dialog",
            )
            assert "Success! Your notebook passes all the tests." in verdict[0], verdict[0][:1500]
        except Exception:
            driver.save_screenshot(str(screenshot))
            kept = Path(os.environ.get("TMPDIR", "/tmp")) / f"test_browser_failure_{int(time.time())}.png"
            shutil.copyfile(screenshot, kept)
            print(f"screenshot of the page at failure: {kept}")
            raise

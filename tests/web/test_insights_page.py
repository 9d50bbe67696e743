"""The job and comparison pages show the confusion matrix, cost and device fit."""

import re
from pathlib import Path

import httpx
import pytest

from tests.service.stack import ServiceStack, embedded_env, wait_for_job

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
# No improvement can exceed a min_delta of 10, so the run stops after epoch 2 and
# keeps epoch 1.
EARLY_STOPPED = {
    "dataset": "iris",
    "model": "mlp",
    "epochs": 6,
    "learning_rate": 0.05,
    "early_stopping": {"patience": 1, "min_delta": 10},
}
PLAIN = {"dataset": "iris", "model": "linear", "epochs": 3}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs /usr/bin/chromium: apt-get install -y chromium",
    ),
]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Start API and worker, finish two jobs; return the stack and the jobs."""
    folder = tmp_path_factory.mktemp("insights-page")
    env = embedded_env(folder / "var")
    env["VELOTRAIN_MEASURE_DEVICE_FIT"] = "true"
    env["VELOTRAIN_EXPORT_TFLITE"] = "true"
    stack = ServiceStack(env=env, log_dir=folder)
    try:
        stack.start_api()
        stack.start_worker()
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            ids = [
                client.post("/jobs", json=body).json()["id"]
                for body in (EARLY_STOPPED, PLAIN)
            ]
            jobs = [wait_for_job(client, job_id, timeout=300) for job_id in ids]
            comparison = client.post("/comparisons", json={"job_ids": ids}).json()
        yield stack, jobs, comparison
    finally:
        stack.stop()


@pytest.fixture
def page(finished):
    from playwright.sync_api import sync_playwright

    stack = finished[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        page = browser.new_page(base_url=stack.base_url)
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def test_job_page_shows_insights(page, finished):
    _, jobs, _ = finished
    page.goto(f"/#/jobs/{jobs[0]['id']}")
    page.locator("#confusion-matrix").wait_for()
    assert page.locator("#confusion-matrix tbody tr").count() == 3
    assert page.locator("#class-scores tbody tr").count() == 3
    assert page.locator("#cost-table tbody tr").count() == 5
    assert "measured on" in page.locator("#device-fit").inner_text()


def test_job_page_explains_early_stop(page, finished):
    _, jobs, _ = finished
    page.goto(f"/#/jobs/{jobs[0]['id']}")
    note = page.locator("#early-stopping").inner_text()
    assert "Stopped early after epoch 2" in note
    assert "kept the weights of epoch 1" in note


def test_job_page_without_early_stopping(page, finished):
    _, jobs, _ = finished
    page.goto(f"/#/jobs/{jobs[1]['id']}")
    page.locator("#cost-table").wait_for()
    assert page.locator("#early-stopping").count() == 0
    assert "null" not in page.locator(".details").inner_text()


def test_comparison_page_shows_cost_table(page, finished):
    _, _, comparison = finished
    page.goto(f"/#/comparisons/{comparison['id']}")
    rows = page.locator("#cost-comparison tbody tr")
    rows.first.wait_for()
    assert rows.count() == 2
    assert re.search(r"\d+(\.\d+)? %", rows.first.inner_text())

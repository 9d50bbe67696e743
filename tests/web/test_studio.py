"""The studio page in headless Chromium against a real API and worker on loopback."""

import json
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from db import jobs as job_store
from db.engine import make_engine, make_session_factory
from db.models import Job
from tests.service.stack import ServiceStack, embedded_env
from velotrain.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SWEEP_LABELS = ["velo", "adam_0.0001", "adam_0.001", "adam_0.01", "adam_0.05"]
TERMINAL = re.compile("succeeded|failed|cancelled")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs /usr/bin/chromium: apt-get install -y chromium",
    ),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio")
    stack = ServiceStack(env=embedded_env(folder / "var"), log_dir=folder)
    try:
        stack.start_api()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(
        base_url=stack.base_url, viewport={"width": 1366, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


PAGE_KEY = "page-key-for-the-stream"


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def fill_tiny_task(page) -> None:
    page.get_by_label("Dataset").select_option("iris")
    page.get_by_label("Epochs").fill("4")


def test_velo_switch_disables_learning_rate(page):
    page.goto("/")
    learning_rate = page.get_by_label("Adam learning rate")
    assert learning_rate.is_enabled()
    switch = page.get_by_role("switch", name="Learned optimizer (VeLO)")
    switch.focus()
    page.keyboard.press("Space")
    assert switch.is_checked()
    assert learning_rate.is_disabled()
    assert page.locator("#lr-reason").is_visible()
    assert "sets its own step sizes" in page.locator("#lr-reason").inner_text()
    assert "costs more compute per step" in page.locator("#velo-note").inner_text()
    assert re.search(
        r"\d+(\.\d+)? [KMG]?B", page.locator("#memory-estimate").inner_text()
    )
    screenshot(page, "form-velo-on")


def test_form_error_shows_next_to_field(page):
    page.goto("/")
    page.get_by_label("Epochs").fill("0")
    page.get_by_role("button", name="Start training").click()
    error = page.locator("#error-epochs")
    error.wait_for(state="visible")
    assert "between 1 and" in error.inner_text()
    screenshot(page, "form-error")


def reject_with_device_error(route, bodies: list) -> None:
    """Record the POST body and return a 422 response whose error names `device`."""
    bodies.append(route.request.post_data_json)
    detail = [{"loc": ["body", "device"], "msg": "no gpu here", "type": "value_error"}]
    route.fulfill(
        status=422, content_type="application/json", body=json.dumps({"detail": detail})
    )


def test_device_select_queues_gpu_job(page, stack):
    page.goto("/")
    device = page.get_by_label("Device", exact=True)
    assert device.input_value() == "cpu"
    assert device.locator("option").all_inner_texts() == ["CPU", "GPU"]
    device.focus()
    page.keyboard.press("ArrowDown")
    assert device.input_value() == "gpu"
    bodies = []
    page.route("**/comparisons", lambda route: reject_with_device_error(route, bodies))
    page.get_by_role("button", name="Compare with Adam").click()
    page.locator("#error-device").filter(has_text="no gpu here").wait_for()
    assert bodies[0]["device"] == "gpu"
    page.unroute("**/comparisons")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"#/jobs/\d+$"))
    job_id = int(page.url.rsplit("/", 1)[1])
    config = page.locator("dl.config")
    config.locator("xpath=dt[.='device']/following-sibling::dd[1]").filter(
        has_text="gpu"
    ).wait_for()
    with httpx.Client(base_url=stack.base_url) as client:
        job = client.get(f"/jobs/{job_id}").json()
    assert job["device"] == "gpu"
    assert job["status"] == "queued"
    page.get_by_role("button", name="Cancel").click()
    page.locator(".job-summary .badge").filter(has_text="cancelled").wait_for()
    page.goto("/")
    row = page.locator(f"#jobs-table tbody tr[data-job-id='{job_id}']")
    assert row.locator("td").nth(4).inner_text() == "gpu"


def test_adam_job_draws_curve_and_succeeds(page):
    # The stack runs with authentication off, which ignores the key; the test
    # checks that the event stream carries it like every other request.
    page.add_init_script(f"sessionStorage.setItem('velotrain.apiKey', '{PAGE_KEY}')")
    paths, stream_keys = [], []

    def record(request):
        path = request.url.split("?")[0]
        paths.append(path)
        if path.endswith("/events"):
            stream_keys.append(request.headers.get("x-api-key"))

    page.on("request", record)
    page.goto("/")
    fill_tiny_task(page)
    page.get_by_label("Adam learning rate").fill("0.05")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"#/jobs/\d+$"))
    page.locator("#job-charts path").first.wait_for(timeout=120_000)
    summary = page.locator(".job-summary .badge")
    summary.filter(has_text="succeeded").wait_for(timeout=120_000)
    page.locator("#final-metrics").wait_for()
    assert page.locator("#job-charts path").count() >= 4
    assert page.locator("#cancel-button").is_disabled()
    assert stream_keys
    assert set(stream_keys) == {PAGE_KEY}
    assert not any(path.endswith("/history") for path in paths)
    screenshot(page, "job-succeeded")
    page.goto("/")
    row = page.locator("#jobs-table tbody tr").first
    row.get_by_text("succeeded").wait_for()
    screenshot(page, "job-list")


def test_comparison_lists_every_run(page):
    page.goto("/")
    fill_tiny_task(page)
    page.get_by_role("button", name="Compare with Adam").click()
    page.wait_for_url(re.compile(r"#/comparisons/\d+$"))
    rows = page.locator("#final-table tbody tr")
    rows.first.wait_for()
    assert [rows.nth(i).get_attribute("data-label") for i in range(5)] == SWEEP_LABELS
    page.locator("#verdict").filter(has_text=re.compile("VeLO|Adam run")).wait_for(
        timeout=300_000
    )
    statuses = page.locator("#runs-table .badge").all_inner_texts()
    assert len(statuses) == 5
    assert all(TERMINAL.fullmatch(status) for status in statuses)
    assert statuses[1:] == ["succeeded"] * 4
    if statuses[0] == "failed":
        assert (
            page.locator("#runs-table tbody tr").first.locator(".reason").inner_text()
        )
    assert page.locator("#comparison-chart path").count() >= 8
    screenshot(page, "comparison")
    page.goto("/#/comparisons")
    page.locator("#comparisons-table tbody tr").first.wait_for()
    assert page.locator("#comparisons-table .run-chip").count() == 5
    screenshot(page, "comparison-list")


def add_cancelled_jobs(stack, count: int) -> None:
    """Store `count` cancelled jobs straight in the stack's database.

    They never reach the broker, so the worker and the submit rate limit stay free.
    """
    data_dir = Path(stack.env["VELOTRAIN_DATA_DIR"])
    settings = Settings(data_dir=data_dir, database_url=None, broker_url=None)
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    with sessions() as session:
        config = session.scalars(select(Job.config).limit(1)).one()
        for _ in range(count):
            job = job_store.create_job(session, config, "page filler")
            job_store.request_cancel(session, job.id)


def test_job_list_pages_by_keyboard(page, stack):
    with httpx.Client(base_url=stack.base_url) as client:
        seed = client.post("/jobs", json={"dataset": "iris", "epochs": 1}).json()
        client.post(f"/jobs/{seed['id']}/cancel")
        total = client.get("/jobs").json()["total"]
    add_cancelled_jobs(stack, 55 - total)
    page.goto("/")
    job_range = page.locator("#jobs-range")
    job_range.filter(has_text="1-50 of 55").wait_for()
    page.locator("#jobs-older").focus()
    page.keyboard.press("Enter")
    job_range.filter(has_text="51-55 of 55").wait_for()
    assert page.locator("#jobs-table tbody tr").count() == 5
    assert page.locator("#jobs-older").is_disabled()
    assert page.evaluate("document.activeElement.id") == "jobs-newer"
    add_cancelled_jobs(stack, 1)
    job_range.filter(has_text="51-56 of 56").wait_for()
    page.keyboard.press("Enter")
    job_range.filter(has_text="1-50 of 56").wait_for()
    assert page.locator("#jobs-newer").is_disabled()
    screenshot(page, "job-list-pages")

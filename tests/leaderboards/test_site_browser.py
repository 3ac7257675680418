"""The static site in a real headless browser (Debian chromium driven by playwright), opened from file://.

It loads with no console error (a wrong CSP hash would show up as one) and no request other than file://;
sorting, filtering and the model pages work; a model named with HTML and script renders as text.

Chromium must be present: without it these tests fail with a message saying how to install it. Only
EVALSUITE_SKIP_BROWSER=1 (for local runs on machines without a browser) skips them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from lb_records import (EVIL_MODEL, entry, explain_record, fairness_record, mc_samples, privacy_record, record_spec,
                        write_run)

from evalsuite.cli import main

CHROMIUM = os.environ.get("EVALSUITE_CHROMIUM", "/usr/bin/chromium")

if os.environ.get("EVALSUITE_SKIP_BROWSER") == "1":
    pytest.skip("EVALSUITE_SKIP_BROWSER=1: browser tests skipped on request", allow_module_level=True)


def _capability(acc, n=40):
    right = int(round(acc * n))
    return record_spec({"acc": entry(right / n, "higher", (max(0, right / n - 0.12), min(1, right / n + 0.12)), n)},
                       samples=mc_samples([1] * right + [0] * (n - right)), wall=1.0, tokens=2000)


@pytest.fixture(scope="module")
def site(demo_results, tmp_path_factory):
    results = tmp_path_factory.mktemp("site_results")
    shutil.copytree(demo_results[0], results, dirs_exist_ok=True)
    write_run(results, "alpha", {"evalsuite/demo_facts_mc": _capability(0.7), "fair": fairness_record()})
    write_run(results, "beta", {"evalsuite/demo_facts_mc": _capability(0.4), "dp": privacy_record(2.0)})
    write_run(results, "gamma-small", {"evalsuite/demo_facts_mc": _capability(0.3), "xai": explain_record()})
    write_run(results, EVIL_MODEL, {"evalsuite/demo_facts_mc": _capability(0.55), "fair": fairness_record(),
                                    "dp": privacy_record(4.0)},
              files={"fair": {"groups.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>"}})
    out = results / "site"
    assert main(["leaderboard", "build", "--results", str(results), "--out", str(out)]) == 0
    return out, json.loads((out / "leaderboard.json").read_text())


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install 'evalsuite[browser]'", pytrace=False)
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no chromium at {CHROMIUM}: apt-get install chromium (or set EVALSUITE_CHROMIUM; "
                    "EVALSUITE_SKIP_BROWSER=1 skips these tests locally)", pytrace=False)
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    """A page that records console errors and every request, and aborts any request that is not file://."""
    context = browser.new_context()
    tab = context.new_page()
    tab.problems, tab.requests = [], []
    tab.on("console", lambda m: m.type in ("error", "warning") and tab.problems.append(f"{m.type}: {m.text}"))
    tab.on("pageerror", lambda e: tab.problems.append(f"pageerror: {e}"))
    tab.on("request", lambda r: tab.requests.append(r.url))

    def block(route):
        tab.problems.append(f"network request: {route.request.url}")
        route.abort()

    context.route("http*://**/*", block)
    yield tab
    context.close()


def visible_models(tab):
    return tab.eval_on_selector_all("#leaderboard tbody tr:not([hidden]) td.model",
                                    "cells => cells.map(c => c.textContent)")


def expected_order(board, key, descending=True):
    def score(m):
        cell = m["overall"] if key == "overall" else m["categories"].get(key)
        return None if cell is None else cell["score"]

    present = sorted((m for m in board["models"] if score(m) is not None), key=score, reverse=descending)
    return [m["model"] for m in present] + [m["model"] for m in board["models"] if score(m) is None]


def test_index_loads_offline_sorts_and_filters(site, page):
    out, board = site
    page.goto((out / "index.html").as_uri())
    assert visible_models(page) == [m["model"] for m in board["models"]]  # default: the ranking
    ranked = [m for m in board["models"] if not m["partial"]]
    assert [m["model"] for m in ranked] == [EVIL_MODEL]  # the only model scored on all three categories
    rank_cells = page.eval_on_selector_all("#leaderboard tbody tr td.rank", "cells => cells.map(c => c.textContent)")
    assert rank_cells == ["1"] + ["\u2014"] * (len(board["models"]) - 1)
    marks = page.eval_on_selector_all("#leaderboard tbody tr.partial td.partial-mark",
                                      "cells => cells.map(c => c.textContent)")
    assert len(marks) == len(board["models"]) - 1 and all(m.startswith("partial: ") for m in marks)
    # sorting by Overall keeps the ranked row first, though partial rows may score higher
    page.click("th[data-key=overall]")
    partial_order = [m["model"] for m in sorted((m for m in board["models"] if m["partial"]),
                                                 key=lambda m: m["overall"]["score"], reverse=True)]
    assert visible_models(page) == [EVIL_MODEL] + partial_order
    page.click("th[data-key=capability]")
    assert visible_models(page) == expected_order(board, "capability")
    assert page.get_attribute("th[data-key=capability]", "aria-sort") == "descending"
    page.click("th[data-key=capability]")
    assert visible_models(page) == expected_order(board, "capability", descending=False)
    page.click("th[data-key=model]")
    assert visible_models(page) == sorted(m["model"] for m in board["models"])

    page.fill("#filter", "GAMMA")
    assert visible_models(page) == ["gamma-small"]
    assert page.text_content("#row-count") == f"1 of {len(board['models'])} models"
    page.fill("#filter", "")
    assert len(visible_models(page)) == len(board["models"]) == 5
    assert page.problems == []
    assert all(url.startswith("file://") for url in page.requests), page.requests


def test_model_page_shows_results_and_plots(site, page):
    out, board = site
    page.goto((out / "index.html").as_uri())
    page.click("#leaderboard a:text-is('beta')")
    assert page.url.endswith(".html") and "/models/" in page.url
    assert page.text_content("#model-name") == "beta"
    text = page.text_content("main")
    assert "evalsuite/demo_facts_mc" in text and "Privacy-utility curve" in text and "accountant:prv" in text
    assert page.locator("svg.chart").count() == 2  # category scores + privacy-utility curve
    page.click("text=evalsuite leaderboard")  # back link
    assert page.url.endswith("index.html")
    assert page.problems == [] and all(url.startswith("file://") for url in page.requests)


def test_model_named_with_html_and_script_renders_as_text(site, page):
    out, board = site
    page.goto((out / "index.html").as_uri())
    assert EVIL_MODEL in visible_models(page)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#leaderboard b").count() == 0  # the <b> stayed text
    page.click("#leaderboard a:text-is('<script>window.__pwned=1</script><b>x</b>')")
    assert page.text_content("#model-name") == EVIL_MODEL
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("h1 b, main script").count() == 0
    assert "Per-group fairness rates" in page.text_content("main")
    page.click("text=groups_plot")  # the audit's artifact was copied next to the page
    assert page.url.endswith("groups.svg")
    assert page.problems == [] and all(url.startswith("file://") for url in page.requests)

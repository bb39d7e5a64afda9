"""The memory inspector in headless Chromium (Debian's, through Playwright's executable_path): open /ui, click an
episode and a step, and check the evidence panel against `memory show --json`. Saves a screenshot."""
import json
import os
import shutil
import subprocess

import pytest
from playwright.sync_api import sync_playwright


def chromium_path():
    path = os.environ.get("WORLDGPT_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("no chromium: `apt-get install --no-install-recommends chromium` (make setup installs it)")
    return path


def test_evidence_panel_shows_what_memory_show_reports(server_url, token, worldgpt, store, tmp_path):
    episodes = json.loads(subprocess.run([worldgpt, "memory", "ls", "--db", store, "--json"], check=True, capture_output=True, text=True).stdout)
    episode = episodes[0]["name"]
    step = 3
    shown = json.loads(subprocess.run([worldgpt, "memory", "show", f"{episode}:{step}", "--db", store, "--json"],
                                      check=True, capture_output=True, text=True).stdout)[0]["record"]
    expected = {kind: sorted(a["item"] for a in shown["annotations"] if a["kind"] == kind)
                for kind in ("recalled", "reflector.kept", "reflector.dropped")}
    assert expected["recalled"] and expected["reflector.kept"], "the rollout should have recalled and kept items at step 3"
    screenshot = os.environ.get("WORLDGPT_SCREENSHOT") or str(tmp_path / "inspector.png")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--headless=new"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{server_url}/ui?access_token={token}", timeout=30_000)
            page.locator(f'#episodes li[data-episode="{episode}"]').click(timeout=30_000)
            page.locator(f'#steps li[data-step="{step}"]').click(timeout=30_000)
            page.wait_for_selector("#evidence-title", timeout=30_000)
            assert f"{episode}:{step}" in page.inner_text("#evidence-title")
            got = {kind: sorted(page.locator(f'.evidence-group[data-kind="{group}"] tr.item').evaluate_all("rows => rows.map(r => r.dataset.item)"))
                   for kind, group in (("recalled", "recalled"), ("reflector.kept", "kept"), ("reflector.dropped", "dropped"))}
            # The timeline drew one cosine curve per modality with a truth.
            curves = page.locator("#cosine-chart polyline").count()
            # The ablation chart (the report `eval --ablation` wrote beside the store): one line per variant.
            page.wait_for_selector("#ablation:not([hidden]) #ablation-chart polyline", timeout=30_000)
            charted = page.locator("#ablation-chart polyline").evaluate_all(
                "lines => lines.map(l => [l.dataset.variant, l.dataset.mean, l.getAttribute('points').split(' ').length])")
            legend = page.locator("#ablation-chart text.ablation-variant").evaluate_all("texts => texts.map(t => t.textContent)")
            page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()
    assert got == expected
    stats = json.loads(subprocess.run([worldgpt, "memory", "stats", "--db", store, "--json"], check=True, capture_output=True, text=True).stdout)
    with_truth = {c.split("_", 1)[1] for c in stats["embeddings"] if c.startswith("observed_")}
    predicted = {c.split("_", 1)[1] for c in stats["embeddings"] if c.startswith("predicted_")}
    assert curves == len(with_truth & predicted)
    assert os.path.getsize(screenshot) > 10_000
    # Each variant's line is the mean over modalities of every step in ablation.csv, in the report's order.
    means = {}
    with open(os.environ["WORLDGPT_ABLATION_CSV"]) as f:
        assert f.readline().strip() == "variant,step,modality,cosine"
        for line in f:
            variant, step, modality, cosine = line.strip().split(",")
            if modality == "mean":
                means.setdefault(variant, []).append((int(step), float(cosine)))
    assert len(means) >= 2
    assert [c[0] for c in charted] == list(means) == legend
    for variant, values, points in charted:
        expected = [v for _, v in sorted(means[variant])]
        assert [float(v) for v in values.split(",")] == pytest.approx(expected, abs=1e-4)
        assert points == len(expected)

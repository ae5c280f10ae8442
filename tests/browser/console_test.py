#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The console page in a real browser (make test's "browser" stage).

Starts the real service twice on real SQLite databases under BUILD/browser/
(ports 42200-42299), and drives Debian's headless Chromium through
chromium-driver and Selenium:

  instance A (no token): the last run's status and the runs table are shown,
  the runs filtered by status, trigger and a range of days (and "Clear"), an old
  run dated with its year,
  a run's detail opens with its steps and result JSON, "Dry run" makes a new
  run appear, the page fits a phone's width, and the browser reports no
  Content-Security-Policy violation; a screenshot is saved. A run's detail
  lists its change records a page at a time, a dry run's says what it would
  record, and the search box finds every change record of one row. A refused reload
  shows a banner until a good file is taken; #/runs/ID opens that run.

  instance B (http.token_env, one slow step): the page itself loads without
  a token and asks for one; a wrong token is refused; the right one is kept
  in the tab's session storage, never in the URL; "Run now" then "Dry run"
  while the first runs shows the 409 plainly.

Usage: console_test.py --build BUILD --screenshot FILE.png
Exit status 0 when every check passed, 1 on a failed check (it says which).
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException,
                                        StaleElementReferenceException, TimeoutException)
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PORTS = range(42200, 42300)
WAIT_S = 15  # generous: the machine is shared


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def free_port(taken):
    """A port of our range that nothing listens on (tried from a random start)."""
    start = random.randrange(len(PORTS))
    for i in range(len(PORTS)):
        port = PORTS[(start + i) % len(PORTS)]
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise Failed("no free port in 42200-42299")


class Service:
    """One `reconciler run` on its own SQLite database, spoken to over loopback."""

    def __init__(self, build, folder, port, steps, extra="", http_extra="", env=None):
        self.build, self.folder, self.port = build, folder, port
        os.makedirs(folder)
        self.db = os.path.join(folder, "bot.db")
        self.conf = os.path.join(folder, "pipeline.yaml")
        plugins = os.path.abspath(os.path.join(build, "plugins"))
        fixtures = os.path.abspath(os.path.join(build, "tests/plugins"))
        with open(self.conf, "w") as f:
            f.write(f'database:\n  url: "sqlite:bot.db"\nhistory:\n  path: history.db\n'
                    f"plugin_dir: [{plugins}, {fixtures}]\n"
                    f"http:\n  listen: 127.0.0.1:{port}\n{http_extra}"
                    f"schedule:\n  interval: 1h\n  jitter: 0s\n{extra}steps:\n{steps}")
        self.bin = os.path.join(build, "reconciler")
        subprocess.run([self.bin, "migrate", "-c", self.conf, "--log-level", "warn"],
                       check=True, stdout=subprocess.DEVNULL)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.log = None

    def seed(self, script):
        with sqlite3.connect(self.db) as c:
            c.executescript(script)

    def start(self):
        self.log = open(os.path.join(self.folder, "service.log"), "w")
        self.proc = subprocess.Popen([self.bin, "run", "-c", self.conf], env=self.env,
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + WAIT_S
        while time.time() < deadline:
            check(self.proc.poll() is None, f"the service on port {self.port} exited "
                  f"({self.proc.returncode}); see {self.log.name}")
            try:
                if self.call("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise Failed(f"the service on port {self.port} did not answer /healthz")

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def call(self, method, path, token=None):
        req = urllib.request.Request(self.url(path), method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                body = r.read()
                is_json = r.headers.get("Content-Type", "").startswith("application/json")
                return r.status, json.loads(body) if is_json else body, dict(r.headers)
        except urllib.error.HTTPError as e:
            body = e.read()
            return e.code, json.loads(body) if body.startswith(b"{") else None, dict(e.headers)

    def wait_run(self, run_id, token=None):
        deadline = time.time() + WAIT_S
        while time.time() < deadline:
            st, body, _ = self.call("GET", f"/v1/reconciliation/runs/{run_id}", token)
            if st == 200:
                return body
            time.sleep(0.05)
        raise Failed(f"run {run_id} did not finish")

    def post_run(self, dry):
        """Queue a run once the one going on (the startup run) is over; its id."""
        deadline = time.time() + WAIT_S
        while True:
            st, body, _ = self.call("POST", "/v1/reconciliation/run" +
                                    ("?dryRun=true" if dry else ""))
            if st != 409 or time.time() > deadline:
                break
            time.sleep(0.05)
        check(st == 202, f"POST run answered {st}: {body}")
        return body["runId"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()


# Rows a crashed bot leaves behind, so that each run has something to repair.
BREAK = """
UPDATE processing_jobs SET status = 'processing', locked_by = 'worker-x',
       locked_until = datetime('now', '-10 minutes')
 WHERE id IN (SELECT id FROM processing_jobs WHERE status = 'completed' LIMIT {n});
UPDATE user_sessions SET cooldown_until = datetime('now', '-5 minutes')
 WHERE user_id IN (SELECT user_id FROM user_sessions WHERE cooldown_until IS NULL LIMIT {m});
"""

REAL_STEPS = ("  - plugin: leases\n  - plugin: followups\n  - plugin: orders\n"
              "  - plugin: metrics\n")


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1440,1500", "--force-device-scale-factor=1",
              "--disable-extensions", "--no-first-run", "--hide-scrollbars"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = ChromeService(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=opts, service=service)


def wait(driver, what, fn, timeout=WAIT_S):
    """Until fn(driver) is true; the page redraws its table every few seconds, so an
    element found a moment ago may be gone: that only means "look again"."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,
                                                 NoSuchElementException)).until(fn)
    except TimeoutException:
        raise Failed("timed out waiting: " + what) from None


def text(driver, css):
    """The rendered text of css's first match, read in one step (no stale element)."""
    t = driver.execute_script("var e = document.querySelector(arguments[0]);"
                              "return e ? e.innerText : null;", css)
    if t is None:
        raise NoSuchElementException(css)
    return t.strip()


def row_ids(driver):
    return driver.execute_script("return Array.from(document.querySelectorAll("
                                 "'#runs-table tbody tr'), r => Number(r.dataset.runId));")


def click_row(driver, run_id):
    """Click run_id's row (found afresh each try: the table is redrawn as it refreshes)."""
    wait(driver, f"a click on run {run_id}'s row", lambda d: d.find_element(
        By.CSS_SELECTOR, f'#runs-table tr[data-run-id="{run_id}"]').click() or True)


def csp_violations(driver):
    """CSP refusals and script errors the browser logged. An answer of 401, 404 or
    409 is logged as "Failed to load resource" too: the page expects those."""
    return [e["message"] for e in driver.get_log("browser")
            if "Content Security Policy" in e["message"] or "Refused to" in e["message"]
            or (e["level"] == "SEVERE" and "Failed to load resource" not in e["message"])]


def test_console(driver, svc, shot):
    """Instance A: state, runs, detail, "Dry run", phone width, no CSP violation."""
    st, state, _ = svc.call("GET", "/v1/service/state")
    check(st == 200, f"/v1/service/state answered {st}")
    _, hist, _ = svc.call("GET", "/v1/reconciliation/history?limit=15")
    newest = hist["runs"][0]["runId"]

    driver.get(svc.url("/"))
    check("token" not in driver.current_url, "the URL holds no token")
    want = state["lastRun"]["status"]
    wait(driver, f"the last run's status '{want}'",
         lambda d: text(d, "#last-status") == want)
    check(text(driver, "#last-id") == f"#{state['lastRun']['runId']}",
          "the last run's id is shown: " + text(driver, "#last-id"))
    wait(driver, "the runs table", lambda d: len(row_ids(d)) == len(hist["runs"]))
    check(row_ids(driver)[0] == newest, f"the newest run ({newest}) comes first")
    first = text(driver, "#runs-table tbody tr")
    check("success" in first, "the newest row shows its status: " + first)
    check(text(driver, "#lock-state") in ("not held", "held elsewhere") or
          text(driver, "#lock-state").startswith("held here"), "the lock is shown")
    check(text(driver, "#db-state").startswith("up"), "the database is up: " +
          text(driver, "#db-state"))
    check(text(driver, "#next-run").startswith("in "), "the next run is shown: " +
          text(driver, "#next-run"))
    wait(driver, "the chart's bars", lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                                                   "#chart rect.bar")) >= 2)
    wait(driver, "the queue figures", lambda d: "Total jobs" in text(d, "#queue-body"))
    wait(driver, "the dashboard figures", lambda d: "Orders" in text(d, "#dash-body"))

    # A run's detail: each step with its status, and the full result JSON.
    pick = hist["runs"][1]
    click_row(driver, pick["runId"])
    wait(driver, "the detail of run %d" % pick["runId"],
         lambda d: text(d, "#detail-title") == f"Run #{pick['runId']}"
         and len(d.find_elements(By.CSS_SELECTOR, "#detail-body .step")) == 4)
    steps = driver.find_elements(By.CSS_SELECTOR, "#detail-body .step")
    check(steps[0].text.startswith("leases") and "ok" in steps[0].text,
          "the first step is leases, ok: " + steps[0].text)
    check("jobsRequeued" in steps[0].text, "the step's numbers are shown: " + steps[0].text)
    raw = driver.find_element(By.CSS_SELECTOR, "#detail-body pre.json-text")
    result = json.loads(raw.get_attribute("textContent"))
    check(result["runId"] == pick["runId"] and len(result["steps"]) == 4,
          "the full result JSON of the run is shown")

    # "Dry run": a new run appears at the top, marked as a dry run.
    driver.find_element(By.ID, "btn-dry").click()
    wait(driver, "the 'queued' notice", lambda d: "queued" in text(d, "#notice"))
    wait(driver, "the dry run in the table",
         lambda d: row_ids(d) and row_ids(d)[0] == newest + 1
         and "dry run" in text(d, "#runs-table tbody tr")
         and "success" in text(d, "#runs-table tbody tr"))
    check(svc.wait_run(newest + 1)["dryRun"] is True, "the new run is a dry run")

    # Paging: the older page starts after the newest page's last run.
    if hist["nextBefore"] is not None:
        top = row_ids(driver)
        driver.find_element(By.ID, "page-older").click()
        wait(driver, "the older page", lambda d: row_ids(d) and row_ids(d)[0] < top[-1])
        driver.find_element(By.ID, "page-newer").click()
        wait(driver, "the newest page again", lambda d: row_ids(d)[:1] == top[:1])

    logged = csp_violations(driver)
    check(not logged, "the browser logged: %s" % logged)
    # The picture: the run that failed in part open, the whole page in view.
    partial = [r["runId"] for r in hist["runs"] if r["status"] == "partial"]
    check(partial, "the history has the partial run the set-up made")
    click_row(driver, partial[0])
    wait(driver, "the detail of the partial run",
         lambda d: text(d, "#detail-title") == f"Run #{partial[0]}"
         and "no such table" in text(d, "#detail-body"))
    driver.find_element(By.ID, "notice").click()  # dismissed
    wait(driver, "the notice gone", lambda d: not d.find_element(By.ID, "notice").is_displayed())
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1440, height + 140)  # + the window's own chrome
    time.sleep(0.3)  # one layout pass at the new size
    os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
    driver.save_screenshot(shot)

    # A phone's width: nothing wider than the screen but the runs table's own scroller.
    driver.set_window_size(390, 844)
    time.sleep(0.3)
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - window.innerWidth")
    check(overflow <= 1, f"the page is {overflow} px wider than a phone's screen")
    driver.save_screenshot(os.path.join(os.path.dirname(os.path.abspath(svc.folder)),
                                        "console-phone.png"))
    driver.set_window_size(1440, 1500)


def change_ids(driver, box):
    return driver.execute_script("return Array.from(document.querySelectorAll(arguments[0] + "
                                 "' li.change'), e => Number(e.dataset.changeId));", box)


def api_change_ids(svc, query, n):
    """The ids of the first n change records query matches, newest first, from the API."""
    ids, before = [], None
    while len(ids) < n:
        st, body, _ = svc.call("GET", f"/v1/changes?{query}&limit=1000" +
                               (f"&before={before}" if before else ""))
        check(st == 200, f"/v1/changes?{query} answered {st}")
        ids += [c["id"] for c in body["changes"]]
        before = body["nextBefore"]
        if before is None:
            break
    return ids[:n]


def test_changes(driver, svc):
    """Instance A: a run's detail lists its change records, a page at a time; the
    search box finds every change record of one row (issue 22)."""
    # The run that changed the most rows: more than one page of records.
    _, hist, _ = svc.call("GET", "/v1/reconciliation/history?limit=100")
    real = [r for r in hist["runs"] if not r["dryRun"] and r["status"] == "success"]
    counts = {r["runId"]: len(api_change_ids(svc, f"run={r['runId']}", 1000)) for r in real}
    big = max(counts, key=counts.get)
    check(counts[big] > 20, f"a run with more than a page of change records: {counts}")
    want = api_change_ids(svc, f"run={big}", 40)
    driver.get(svc.url(f"/#/runs/{big}"))
    wait(driver, f"run {big}'s first page of change records",
         lambda d: change_ids(d, "#run-changes") == want[:20])
    first = text(driver, "#run-changes li.change")
    check("processing_jobs" in first or "user_sessions" in first,
          "a record names its table and key: " + first)
    check("→" in first, "a record shows before → after: " + first)
    driver.find_element(By.CSS_SELECTOR, "#run-changes .changes-more").click()
    wait(driver, f"run {big}'s second page of change records",
         lambda d: change_ids(d, "#run-changes") == want[:40])
    # A dry run records nothing, and its detail says what it would have recorded.
    dry = [r["runId"] for r in hist["runs"] if r["dryRun"] and r["status"] == "success"]
    check(dry, "the history has a dry run")
    driver.get(svc.url(f"/#/runs/{dry[0]}"))
    wait(driver, f"dry run {dry[0]}'s detail says what it would record",
         lambda d: text(d, "#detail-title") == f"Run #{dry[0]}"
         and "a real run would record" in text(d, "#run-changes"))

    # One row's history: the key changed most often, every record of it, newest first.
    st, body, _ = svc.call("GET", "/v1/changes?table=user_sessions&limit=1000")
    check(st == 200 and body["changes"], "user_sessions has change records")
    keys = {}
    for c in body["changes"]:
        keys[c["key"]] = keys.get(c["key"], 0) + 1
    key = max(keys, key=keys.get)
    check(keys[key] >= 2, f"a session changed by more than one run: {keys}")
    want = api_change_ids(svc, "table=user_sessions&key=" + urllib.parse.quote(key, safe=""),
                          1000)
    for css, value in (("#changes-table", "user_sessions"), ("#changes-key", key)):
        box = driver.find_element(By.CSS_SELECTOR, css)
        box.clear()
        box.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "#changes-form button[type=submit]").click()
    wait(driver, f"every change record of user_sessions {key}",
         lambda d: change_ids(d, "#changes-body") == want[:20])
    shown = text(driver, "#changes-body li.change")
    check(f"user_sessions {key}" in shown and "run #" in shown,
          "a found record names its row and run: " + shown)
    # A row that never changed: said plainly.
    box = driver.find_element(By.CSS_SELECTOR, "#changes-key")
    box.clear()
    box.send_keys("no-such-row")
    driver.find_element(By.CSS_SELECTOR, "#changes-form button[type=submit]").click()
    wait(driver, "no records for a row that never changed",
         lambda d: "No change records." in text(d, "#changes-body"))
    logged = csp_violations(driver)
    check(not logged, "the browser logged: %s" % logged)


def set_field(driver, field_id, value):
    """Set a filter's select or date field as a person would, and tell the page."""
    driver.execute_script("var e = document.getElementById(arguments[0]); e.value = arguments[1];"
                          "e.dispatchEvent(new Event('change'));", field_id, value)


def test_filters(driver, svc):
    """Instance A: the runs list filtered by status, trigger and a range of days (the
    history API's own arguments), "Clear" undoing them; a run from another year shows
    its date and year."""
    driver.get(svc.url("/"))
    _, every, _ = svc.call("GET", "/v1/reconciliation/history?limit=15")
    all_ids = [r["runId"] for r in every["runs"]]
    wait(driver, "the runs table", lambda d: row_ids(d) == all_ids)
    _, part, _ = svc.call("GET", "/v1/reconciliation/history?limit=15&status=partial")
    want = [r["runId"] for r in part["runs"]]
    check(want, "the set-up made a partial run")
    set_field(driver, "f-status", "partial")
    wait(driver, f"only the partial runs {want}", lambda d: row_ids(d) == want)
    check(text(driver, "#page-info").endswith(f"of {part['total']}"),
          "the count is the filter's: " + text(driver, "#page-info"))
    set_field(driver, "f-status", "success")
    set_field(driver, "f-trigger", "startup")
    _, boot, _ = svc.call("GET", "/v1/reconciliation/history?limit=15&status=success"
                          "&trigger=startup")
    want = [r["runId"] for r in boot["runs"]]
    check(want, "the startup run succeeded")
    wait(driver, f"the successful startup runs {want}", lambda d: row_ids(d) == want)
    # Days from tomorrow: nothing, and the page says it is the filters.
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))
    set_field(driver, "f-since", tomorrow)
    wait(driver, "no run from tomorrow on", lambda d: row_ids(d) == []
         and d.find_element(By.ID, "runs-empty").is_displayed()
         and "match" in text(d, "#runs-empty"))
    driver.find_element(By.ID, "f-clear").click()
    wait(driver, "every run again after Clear", lambda d: row_ids(d) == all_ids)
    check(driver.execute_script("return document.getElementById('f-status').value") == "",
          "Clear empties the status")

    # A run of another year: its date and year in the table, and found by its day.
    with sqlite3.connect(os.path.join(svc.folder, "history.db")) as c:
        c.execute("INSERT INTO runs (id, started_at, finished_at, trigger, dry_run, status, "
                  "duration_ms) VALUES (9000, '2025-06-01T12:00:00.000Z', "
                  "'2025-06-01T12:00:00.040Z', 'manual', 0, 'success', 40)")
    wait(driver, "the old run at the top", lambda d: row_ids(d)[:1] == [9000])
    started = text(driver, '#runs-table tr[data-run-id="9000"] .c-started')
    check("2025" in started, "an old run shows its year: " + started)
    set_field(driver, "f-since", "2025-06-01")
    set_field(driver, "f-until", "2025-06-01")
    wait(driver, "only the run of 1 June 2025", lambda d: row_ids(d) == [9000])
    driver.find_element(By.ID, "f-clear").click()
    wait(driver, "every run after Clear", lambda d: row_ids(d)[:1] == [9000])
    logged = csp_violations(driver)
    check(not logged, "the browser logged: %s" % logged)


def test_reload_banner(driver, svc):
    """Instance A: a refused reload shows a banner with its error until a good file is
    taken; #/runs/ID opens that run (the link alerts carry with http.public_url)."""
    with open(svc.conf) as f:
        good = f.read()
    with open(svc.conf, "w") as f:
        f.write(good.replace("steps:\n", "steps: [\n", 1))
    st, body, _ = svc.call("POST", "/v1/service/reload")
    check(st == 202, f"POST /v1/service/reload answered {st}: {body}")
    driver.get(svc.url("/"))
    wait(driver, "the refused-reload banner", lambda d:
         d.find_element(By.ID, "reload-banner").is_displayed()
         and "refused" in text(d, "#reload-banner")
         and "pipeline.yaml" in text(d, "#reload-banner"))
    with open(svc.conf, "w") as f:
        f.write(good)
    st, body, _ = svc.call("POST", "/v1/service/reload")
    check(st == 202, f"POST /v1/service/reload answered {st}: {body}")
    wait(driver, "the banner gone after a good reload", lambda d:
         not d.find_element(By.ID, "reload-banner").is_displayed())
    _, hist, _ = svc.call("GET", "/v1/reconciliation/history?limit=3")
    pick = hist["runs"][2]["runId"]
    driver.get(svc.url(f"/#/runs/{pick}"))
    wait(driver, f"run {pick} opened from the link",
         lambda d: text(d, "#detail-title") == f"Run #{pick}")


def test_token(driver, svc, tok):
    """Instance B: the token prompt, session storage, and a 409 shown plainly."""
    st, _, _ = svc.call("GET", "/v1/service/state")
    check(st == 401, f"the API without a token answers {st}, not 401")
    st, _, headers = svc.call("GET", "/ui/app.js")
    check(st == 200, f"the page's script needs no token ({st})")

    driver.get(svc.url("/"))
    wait(driver, "the token prompt", lambda d: d.find_element(By.ID, "login").is_displayed())
    check(not driver.find_element(By.ID, "app").is_displayed(), "no data without a token")
    field = driver.find_element(By.ID, "token-input")
    field.send_keys("not-" + tok)
    driver.find_element(By.ID, "token-submit").click()
    wait(driver, "'That token was refused.'",
         lambda d: d.find_element(By.ID, "login-error").is_displayed())
    field.send_keys(tok)
    driver.find_element(By.ID, "token-submit").click()
    wait(driver, "the console after the token",
         lambda d: d.find_element(By.ID, "app").is_displayed())
    check(driver.execute_script("return sessionStorage.getItem('reconciler.token')") == tok,
          "the token is kept in session storage")
    check(tok not in driver.current_url, "the token is not in the URL")
    wait(driver, "the state with the token",
         lambda d: text(d, "#last-status") == "no run yet")

    # Kept for the tab: a reload asks for nothing.
    driver.refresh()
    wait(driver, "the console after a reload",
         lambda d: d.find_element(By.ID, "app").is_displayed()
         and text(d, "#db-state").startswith("up"))
    check(not driver.find_element(By.ID, "login").is_displayed(), "no second prompt")

    # "Run now" starts a slow run; "Dry run" meanwhile is refused with 409, said plainly.
    driver.find_element(By.ID, "btn-run").click()
    wait(driver, "'Run #1 queued.'", lambda d: "Run #1 queued" in text(d, "#notice"))
    wait(driver, "the buttons again", lambda d: d.find_element(By.ID, "btn-dry").is_enabled())
    driver.find_element(By.ID, "btn-dry").click()
    wait(driver, "the 409 notice",
         lambda d: "already running or queued" in text(d, "#notice")
         and "warn" in d.find_element(By.ID, "notice").get_attribute("class"))
    wait(driver, "run 1 running in the table",
         lambda d: row_ids(d)[:1] == [1] and "running" in text(d, "#runs-table tbody tr"))
    logged = csp_violations(driver)
    check(not logged, "the browser logged: %s" % logged)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--screenshot", required=True)
    args = ap.parse_args()
    t0 = time.time()
    root = os.path.join(args.build, "browser")
    shutil.rmtree(root, ignore_errors=True)
    taken = set()
    tok = "console-" + os.urandom(12).hex()
    a = Service(args.build, os.path.join(root, "a"), free_port(taken), REAL_STEPS)
    b = Service(args.build, os.path.join(root, "b"), free_port(taken),
                "  - plugin: fixture\n    options: { pause: 6s }\n",
                extra="  on_startup: false\n", http_extra="  token_env: RC_CONSOLE_TOKEN\n",
                env={"RC_CONSOLE_TOKEN": tok})
    driver = None
    try:
        with open("tools/demo-seed.sql") as f:
            a.seed(f.read())
        a.start()
        b.start()
        # A history worth a chart: runs after a crash of varying size, some dry.
        for i, (n, m, dry) in enumerate([(40, 10, False), (0, 0, False), (120, 60, True),
                                         (120, 60, False), (15, 5, False), (0, 30, False),
                                         (200, 0, True), (200, 90, False), (5, 5, False),
                                         (60, 20, False), (0, 0, False), (90, 40, False),
                                         (30, 10, True), (30, 10, False), (70, 0, False),
                                         (10, 25, False), (0, 0, False)]):
            if n or m:
                a.seed(BREAK.format(n=n, m=m))
            if i == 10:  # one step fails: a partial run, with its error in history
                a.seed("ALTER TABLE orders RENAME TO orders_away;")
            a.wait_run(a.post_run(dry))
            if i == 10:
                a.seed("ALTER TABLE orders_away RENAME TO orders;")
        driver = browser()
        test_console(driver, a, args.screenshot)
        test_filters(driver, a)
        test_changes(driver, a)
        test_reload_banner(driver, a)
        test_token(driver, b, tok)
    except Failed as e:
        print(f"browser test FAILED: {e}", file=sys.stderr)
        if driver:
            fail_shot = os.path.join(root, "failed.png")
            driver.save_screenshot(fail_shot)
            print(f"  the page at that moment: {fail_shot}; service logs under {root}/",
                  file=sys.stderr)
        return 1
    finally:
        if driver:
            driver.quit()
        a.stop()
        b.stop()
    # The token never reaches a log.
    for s in (a, b):
        with open(s.log.name) as f:
            if tok in f.read():
                print(f"browser test FAILED: the token is in {s.log.name}", file=sys.stderr)
                return 1
    print(f"browser test: the console passed every check in {time.time() - t0:.1f} s; "
          f"screenshot {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

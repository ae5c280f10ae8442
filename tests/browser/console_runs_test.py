#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The console's runs as an operator reads them (make test's "browser" stage, after
console_test.py, whose service and browser helpers it uses).

One real service on a real SQLite database, a built-in step (leases) and a
third-party one (the test fixture plugin, found through plugin_dir), and two
notify targets: one a loopback receiver answering 200, one a closed port.
Headless Chromium then checks, in the page:

  - each run's row carries a link to its own page, #/runs/ID, which opens it;
  - a run started before today shows its date; today's only the time;
  - the run detail shows every result figure of every step, the third-party
    step's too (each key and value the API returns);
  - the run detail shows each notification: target, event, outcome, HTTP code
    and attempts, and the error of the one that failed;
  - the alert's link (http.public_url set to this console) opens that run.

A second service, with scheduled runs only: after one, the console shows the
run lock held here (after the run) and until when.

Usage: console_runs_test.py --build BUILD
Exit status 0 when every check passed, 1 on a failed check (it says which).
"""
import argparse
import datetime
import http.server
import json
import os
import shutil
import sqlite3
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_test as ct  # noqa: E402  (the service and browser helpers)
from console_test import Failed, check, text, wait, row_ids  # noqa: E402

from selenium.webdriver.common.by import By  # noqa: E402


class Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook target that takes every POST with 200, keeping the bodies."""
    bodies = []

    def do_POST(self):
        Receiver.bodies.append(json.loads(self.rfile.read(int(self.headers.get(
            "Content-Length", 0)))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def flatten(obj, prefix=""):
    """The console's own flattening of a step's results: dotted keys, leaf values."""
    out = []
    for k, v in (obj or {}).items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out += flatten(v, key)
        else:
            out.append((key, v))
    return out


def shown(v):
    """A figure as the console prints it (numbers grouped as en-US does)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(v)


def wait_notes(svc, run_id, n):
    """The run's detail once n notifications are recorded (written when each ends)."""
    deadline = time.time() + ct.WAIT_S
    while time.time() < deadline:
        st, body, _ = svc.call("GET", f"/v1/reconciliation/runs/{run_id}")
        if st == 200 and len(body.get("notifications") or []) >= n:
            return body
        time.sleep(0.05)
    raise Failed(f"run {run_id}'s {n} notifications were not recorded")


def age_run(svc, run_id, days):
    """Move a run's start days back in the history file (as if it ran then)."""
    path = os.path.join(svc.folder, "history.db")
    with sqlite3.connect(path) as c:
        (started,) = c.execute("SELECT started_at FROM runs WHERE id = ?", (run_id,)).fetchone()
        day = datetime.date.fromisoformat(started[:10]) - datetime.timedelta(days=days)
        older = day.isoformat() + started[10:]
        c.execute("UPDATE runs SET started_at = ? WHERE id = ?", (older, run_id))
    return older


def test_runs(driver, svc):
    first = svc.wait_run(1)  # the startup run
    second = svc.post_run(False)
    run = wait_notes(svc, second, 2)
    check(first["status"] == "success" and run["status"] == "success",
          f"the runs: {first['status']}, {run['status']}")
    older = age_run(svc, 1, 3)

    driver.get(svc.url("/"))
    wait(driver, "both runs in the table", lambda d: row_ids(d) == [second, 1])

    # A link per run, to its own page.
    hrefs = driver.execute_script(
        "return Array.from(document.querySelectorAll('#runs-table tbody tr'),"
        " r => { var a = r.querySelector('a[href]'); return a ? a.getAttribute('href') : null; });")
    check(hrefs == [f"#/runs/{second}", "#/runs/1"], f"the rows' links: {hrefs}")

    # Dates on times before today, and only the time on today's.
    date = driver.execute_script(
        "return new Date(arguments[0]).toLocaleDateString([], {month: 'short', day: 'numeric'});",
        older)
    today = driver.execute_script(
        "return new Date().toLocaleDateString([], {month: 'short', day: 'numeric'});")
    old_cell = text(driver, '#runs-table tr[data-run-id="1"] td.c-started')
    new_cell = text(driver, f'#runs-table tr[data-run-id="{second}"] td.c-started')
    check(old_cell.startswith(date + " "), f"a run of {older} shows '{old_cell}', not its date {date}")
    check(today not in new_cell and date not in new_cell and ":" in new_cell,
          f"today's run shows '{new_cell}', not only its time")

    # The link opens the run, and the address says which.
    driver.find_element(By.CSS_SELECTOR, f'#runs-table tr[data-run-id="{second}"] a').click()
    wait(driver, f"run {second} opened from its link",
         lambda d: text(d, "#detail-title") == f"Run #{second}"
         and len(d.find_elements(By.CSS_SELECTOR, "#detail-body .step")) == 2
         and len(d.find_elements(By.CSS_SELECTOR, "#detail-body .note")) == 2)
    check(driver.execute_script("return location.hash") == f"#/runs/{second}",
          "the address is the run's: " + driver.execute_script("return location.hash"))

    # Every figure of every step, the third-party step's too.
    boxes = driver.find_elements(By.CSS_SELECTOR, "#detail-body .step")
    names = [s["name"] for s in run["steps"]]
    check(names == ["leases", "thirdparty"], f"the steps: {names}")
    for box, step in zip(boxes, run["steps"]):
        figures = flatten(step.get("results"))
        check(figures, f"step {step['name']} has figures in the API: {step}")
        for key, value in figures:
            check(f"{key} {shown(value)}" in box.text,
                  f"step {step['name']}: '{key} {shown(value)}' not in '{box.text}'")
    check("fixture.label hello there" in boxes[1].text, "the third-party step's own figure: "
          + boxes[1].text)

    # The notifications of the run: which target, what event, how it went.
    notes = [n.text for n in driver.find_elements(By.CSS_SELECTOR, "#detail-body .note")]
    by_target = {n["target"]: n for n in run["notifications"]}
    check(by_target["ops"]["status"] == "delivered" and by_target["gone"]["status"] == "failed",
          f"the API's notifications: {run['notifications']}")
    ops = [t for t in notes if t.startswith("ops")]
    gone = [t for t in notes if t.startswith("gone")]
    check(ops and "success" in ops[0] and "delivered" in ops[0] and "HTTP 200" in ops[0]
          and "1 attempt" in ops[0], f"the delivered notification: {notes}")
    check(gone and "failed" in gone[0], f"the failed notification: {notes}")
    errors = text(driver, "#detail-body .notes")
    check(by_target["gone"]["error"] and by_target["gone"]["error"] in errors,
          f"the failed delivery's error is shown: {errors}")

    # The alert's link (http.public_url: this console) opens the run it is about.
    links = [b.get("link") for b in Receiver.bodies if b.get("runId") == second]
    check(links == [svc.url(f"/#/runs/{second}")], f"the alert's link: {links}")
    driver.get(svc.url("/"))
    driver.get(links[0])
    wait(driver, f"run {second} opened from the alert's link",
         lambda d: text(d, "#detail-title") == f"Run #{second}")

    # The older run, from its address typed in.
    driver.get(svc.url("/#/runs/1"))
    wait(driver, "run 1 from its address", lambda d: text(d, "#detail-title") == "Run #1")
    logged = ct.csp_violations(driver)
    check(not logged, "the browser logged: %s" % logged)


def test_lock_hold(driver, svc):
    """After a scheduled run the service keeps the run lock until the next slot: the
    console says it is held here, after the run, and until when (as the state does)."""
    deadline = time.time() + ct.WAIT_S
    while True:
        st, state, _ = svc.call("GET", "/v1/service/state")
        lock = state.get("lock") or {}
        if st == 200 and lock.get("held") and lock.get("phase") == "hold":
            break
        check(time.time() < deadline, f"no hold after a scheduled run: {state}")
        time.sleep(0.1)
    check(lock.get("until"), f"the hold has no end in the state: {lock}")
    driver.get(svc.url("/"))
    wait(driver, "the lock held here, after the run, until a time",
         lambda d: text(d, "#lock-state") == "held here (after the run)"
         and text(d, "#lock-meta").startswith("until "))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    t0 = time.time()
    root = os.path.join(args.build, "browser-runs")
    shutil.rmtree(root, ignore_errors=True)
    taken = set()
    rx = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=rx.serve_forever, daemon=True).start()
    closed = ct.free_port(taken)  # nothing listens there: the delivery fails
    notify = (f"notify:\n  - url: http://127.0.0.1:{rx.server_address[1]}/hook\n"
              f"    name: ops\n    on: [success]\n"
              f"  - url: http://127.0.0.1:{closed}/hook\n    name: gone\n    on: [success]\n"
              f"    retries: 0\n    timeout: 500ms\n")
    port = ct.free_port(taken)
    svc = ct.Service(args.build, os.path.join(root, "c"), port,
                     "  - plugin: leases\n  - plugin: fixture\n    name: thirdparty\n"
                     "    options: { value: 7, label: hello there }\n", extra=notify,
                     http_extra=f"  public_url: http://127.0.0.1:{port}/\n")
    # Scheduled runs only, every 5 s: the lock is kept between them.
    sched = ct.Service(args.build, os.path.join(root, "d"), ct.free_port(taken),
                       "  - plugin: fixture\n")
    with open(sched.conf) as f:
        conf = f.read()
    with open(sched.conf, "w") as f:
        f.write(conf.replace("  interval: 1h\n", "  interval: 5s\n  on_startup: false\n", 1))
    driver = None
    try:
        svc.start()
        sched.start()
        driver = ct.browser()
        test_runs(driver, svc)
        test_lock_hold(driver, sched)
    except Failed as e:
        print(f"browser test (runs) FAILED: {e}", file=sys.stderr)
        if driver:
            fail_shot = os.path.join(root, "failed.png")
            driver.save_screenshot(fail_shot)
            print(f"  the page at that moment: {fail_shot}; service log under {root}/",
                  file=sys.stderr)
        return 1
    finally:
        if driver:
            driver.quit()
        svc.stop()
        sched.stop()
        rx.shutdown()
    print(f"browser test (runs): the console passed every check in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

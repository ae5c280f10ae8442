#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
Differential test of the calendar (core/calendar/, issue 19).

Generates random cron expressions (every field form the calendar accepts) and
start instants (around the DST changes of the zones below, leap days, month
ends, the years past the zone files' tables, random ones), asks
`reconciler __calendar-batch` for the next fire times of each, and compares
them with two independent implementations:

  (a) a brute-force walk written here: its own parser of the syntax, its own
      matching rules, Python's zoneinfo (the same tzdata files, read by
      CPython's code, not ours) for the offsets. It walks forward in time in
      pieces of constant offset and checks every minute (every second of the
      matching minutes of a 6-field expression) of the matching days and
      hours against the expression, applying the DST rules literally: a
      matching wall time fires at the first instant the clock shows it or a
      later one -- the first instant after a gap for a time the clock skips,
      the first showing for a time it shows twice.
  (b) Debian's python3-croniter (1.3.5), where no DST change is involved and
      the expression has a form croniter understands the same way (see
      croniter_form for what is excluded and why).

Exit status 0 when every comparison agrees, 1 on any mismatch, 2 on usage
errors. Prints the counts.

Usage: diff.py --bin BUILD/reconciler [--cases N] [--seed S] [--verbose]
"""

import argparse
import bisect
import datetime as dt
import random
import subprocess
import sys
import time
import zoneinfo

DST_ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham",
             "Asia/Kolkata", "Europe/Dublin"]
FIXED = {"UTC": 0, "+05:30": 19800, "-03:00": -10800}
ZONES = DST_ZONES + list(FIXED)
N_FIRES = 4
HORIZON_YEARS = 40

EPOCH = dt.date(1970, 1, 1)
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
WDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


# ---------------------------------------------------------------- zones

class Zone:
    """Offsets of a zone at instants, through zoneinfo (or a fixed offset)."""

    def __init__(self, name):
        self.name = name
        if name in FIXED:
            self.fixed = FIXED[name]
        else:
            self.fixed = None
            self.tz = zoneinfo.ZoneInfo(name)
        self.cache = {}

    def off(self, t):
        if self.fixed is not None:
            return self.fixed
        o = self.cache.get(t)
        if o is None:
            d = dt.datetime.fromtimestamp(t, self.tz)
            o = int(d.utcoffset().total_seconds())
            if len(self.cache) > 200000:
                self.cache.clear()
            self.cache[t] = o
        return o

    def first_change(self, a, b):
        """The first instant in (a, b] whose offset differs from a's (one change assumed)."""
        oa = self.off(a)
        lo, hi = a, b            # off(lo) == oa, off(hi) != oa
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.off(mid) == oa:
                lo = mid
            else:
                hi = mid
        return hi

    def changes(self, a, b, step=6 * 3600):
        """Instants in (a, b] where the offset changes (at most one per step assumed)."""
        out = []
        t = a
        while t < b:
            e = min(t + step, b)
            if self.off(t) != self.off(e):
                out.append(self.first_change(t, e))
            t = e
        return out


# ----------------------------------------------------- the oracle's parser

class Refused(Exception):
    pass


FDEF = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "dom": (1, 31),
        "month": (1, 12), "dow": (0, 7)}
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}


def value(tok, f):
    lo, hi = FDEF[f]
    if tok.isdigit():
        v = int(tok)
    elif f == "month" and tok.upper() in MONTHS:
        v = MONTHS.index(tok.upper()) + 1
    elif f == "dow" and tok.upper() in WDAYS:
        v = WDAYS.index(tok.upper())
    else:
        raise Refused("bad value %r in %s" % (tok, f))
    if not lo <= v <= hi:
        raise Refused("%s out of range in %s" % (tok, f))
    return v


def plain(item, f):
    """The set of values of a plain item: *, v, a-b, each with an optional /step."""
    lo, hi = FDEF[f]
    top = 6 if f == "dow" else hi
    base, slash, step = item.partition("/")
    n = int(step) if slash else 1
    if n < 1:
        raise Refused("step")
    if base in ("*", "?"):
        a, b = lo, top
    elif "-" in base:
        x, y = base.split("-")
        a, b = value(x, f), value(y, f)
        if f == "dow" and b == 0 and a > 0 and not y.isdigit():
            b = 7
        if b < a:
            raise Refused("backwards")
    else:
        a = value(base, f)
        b = top if slash else a
    s = set(range(a, b + 1, n))
    return {v % 7 for v in s} if f == "dow" else s


class Cron:
    def __init__(self, expr):
        e = expr.strip()
        if e.startswith("@"):
            e = MACROS[e.lower()]
        parts = e.split()
        if len(parts) == 5:
            parts = ["0"] + parts
        if len(parts) != 6:
            raise Refused("fields")
        self.seconds = len(e.split()) == 6
        sec, mi, hr, dom, mon, dow = parts
        self.sec = set().union(*(plain(i, "second") for i in sec.split(",")))
        self.min = set().union(*(plain(i, "minute") for i in mi.split(",")))
        self.hour = set().union(*(plain(i, "hour") for i in hr.split(",")))
        self.month = set().union(*(plain(i, "month") for i in mon.split(",")))
        self.dom_items = dom.upper().split(",")
        self.dow_items = dow.upper().split(",")
        # Vixie: a day field written starting with '*' makes the day rule an AND.
        self.both = dom[0] in "*?" or dow[0] in "*?"
        self.memo = {}

    def dom_ok(self, y, m, d, last):
        for it in self.dom_items:
            if it == "L":
                ok = d == last
            elif it.startswith("L-"):
                ok = d == last - int(it[2:])
            elif it == "LW":
                x = last
                while dt.date(y, m, x).weekday() >= 5:     # Sat, Sun -> back to Friday
                    x -= 1
                ok = d == x
            elif it.endswith("W"):
                n = int(it[:-1])
                if n > last:
                    ok = False
                else:
                    wd = dt.date(y, m, n).weekday()        # Monday 0 .. Sunday 6
                    if wd == 5:
                        x = n - 1 if n > 1 else n + 2
                    elif wd == 6:
                        x = n + 1 if n < last else n - 2
                    else:
                        x = n
                    ok = d == x
            else:
                ok = d in plain(it, "dom")
            if ok:
                return True
        return False

    def dow_ok(self, y, m, d, last):
        wday = (dt.date(y, m, d).weekday() + 1) % 7      # Sunday 0
        for it in self.dow_items:
            if "#" in it:
                v, n = it.split("#")
                ok = value(v, "dow") % 7 == wday and (d - 1) // 7 + 1 == int(n)
            elif it.endswith("L") and len(it) > 1:
                ok = value(it[:-1], "dow") % 7 == wday and d + 7 > last
            else:
                ok = wday in plain(it, "dow")
            if ok:
                return True
        return False

    def days(self, y, m):
        """The days of month m of year y the expression matches (memoized)."""
        k = (y, m)
        r = self.memo.get(k)
        if r is None:
            r = set()
            if m in self.month:
                last = (dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)).day
                for d in range(1, last + 1):
                    a = self.dom_ok(y, m, d, last)
                    b = self.dow_ok(y, m, d, last)
                    if (a and b) if self.both else (a or b):
                        r.add(d)
            self.memo[k] = r
        return r

    def never(self):
        return not any(self.days(y, m) for y in range(2000, 2400) for m in range(1, 13))

    def walls(self, lo, hi):
        """Matching wall times (seconds since 1970-01-01 on the wall clock) in [lo, hi]."""
        for day in range(lo // 86400, hi // 86400 + 1):
            date = EPOCH + dt.timedelta(days=day)
            if date.day not in self.days(date.year, date.month):
                continue
            for h in range(24):
                if h not in self.hour:
                    continue
                bh = day * 86400 + h * 3600
                if bh + 3599 < lo or bh > hi:
                    continue
                for mi in range(60):       # every minute of a matching hour
                    if mi not in self.min:
                        continue
                    bm = bh + mi * 60
                    if bm + 59 < lo or bm > hi:
                        continue
                    for s in (range(60) if self.seconds else (0,)):
                        if s in self.sec and lo <= bm + s <= hi:
                            yield bm + s


def brute(c, z, after, n, horizon):
    """
    The first n fire instants after `after` (fewer if the horizon ends the
    walk): the clock is followed forward in pieces of constant offset.
    """
    # The highest reading the clock showed up to `after`.
    hw = after + z.off(after)
    for t in z.changes(after - 3 * 86400, after):
        if t <= after:
            hw = max(hw, t - 1 + z.off(t - 1))
    fires = []
    t = after + 1
    while len(fires) < n and t <= horizon:
        end = t + 6 * 3600
        o = z.off(t)
        if z.off(end - 1) != o:
            end = z.first_change(t, end - 1)
        wstart, wend = t + o, end - 1 + o
        found = []
        if wstart > hw + 1:  # the clock jumped over (hw, wstart): those slots fire now
            for _ in c.walls(hw + 1, wstart - 1):
                found.append(t)
                break
        for w in c.walls(max(wstart, hw + 1), wend):
            found.append(w - o)
            if len(found) > n:
                break
        for f in sorted(set(found)):
            if len(fires) < n:
                fires.append(f)
        hw = max(hw, wend)
        t = end
    return fires


# --------------------------------------------------------------- croniter

def croniter_form(expr):
    """
    The expression as croniter 1.3.5 reads it with the same meaning, and the
    day_or to pass, or None where it would mean something else:
      - W, LW, L-n are not in croniter; its last weekday is written L5, not 5L;
      - croniter mixes no '#' item with plain weekdays;
      - croniter ORs the day fields when neither is the full set after
        expansion, Vixie (and we) when neither is *written* with a leading
        '*': the two agree only when a field written without '*' is not the
        full set (croniter reads 0-6 like *), so such cases are left out, and
        day_or=False is passed where Vixie ANDs (e.g. */2 in a day field);
      - its seconds field is the last, ours the first;
      - its weekday a/n runs to 7 (Sunday again), ours to 6: written as a-6/n;
      - when it ORs the day fields, its day-of-month half still applies the
        '#' and L weekday filters (so "0 0 9-28 * 0#3" fires only on third
        Sundays): '#' and L weekday items are compared only under AND;
      - from a day in February, a day-of-month list holding a day February
        lacks (1,7,31 or, outside leap years, 1,29) makes it skip March 1
        and land on the next listed day (2023-02-28, "0 18 1,7,31 * *":
        croniter says 03-07, cron says 03-01): such a list is compared only
        when the walk touches no February (see feb_quirk);
      - with 6 fields it does not read weekday 7 as Sunday (its LOWMAP is
        skipped for that field), so 6-field cases whose weekdays reach 7 are
        left out.
    """
    e = expr.strip()
    if e.startswith("@"):
        e = MACROS[e.lower()]
    parts = e.split()
    sec = None
    if len(parts) == 6:
        sec, parts = parts[0], parts[1:]
    mi, hr, dom, mon, dow = parts
    du, wu = dom.upper(), dow.upper()
    if "W" in du.replace("WED", "") or "L-" in du:
        return None
    items = []
    for it in wu.split(","):
        if it.endswith("L") and len(it) > 1:
            items.append("L" + it[:-1])
        elif "/" in it and "-" not in it and not it.startswith("*"):
            a, n = it.split("/")
            items.append("%s-6/%s" % (a, n))
        else:
            items.append(it)
    if any("#" in i for i in items) and any("#" not in i for i in items):
        return None
    if any(i.startswith("L") for i in items) and len(items) > 1:
        return None
    dow2 = ",".join(items).replace("?", "*")
    dom2 = dom.replace("?", "*")
    both = dom[0] in "*?" or dow[0] in "*?"
    special = any("#" in i or i.startswith("L") for i in items)
    if special and not both:
        return None
    if sec is not None and any(7 in raw_dow(i) for i in wu.split(",") if "#" not in i
                               and not (i.endswith("L") and len(i) > 1)):
        return None
    if not both:
        full_dom = all(d in Cron("0 0 %s * *" % dom).days(2024, 1) for d in range(1, 32))
        full_dow = not any(("#" in i or i.startswith("L")) for i in items) and \
            set().union(*(plain(i, "dow") for i in dow.split(","))) == set(range(7))
        if full_dom or full_dow:
            return None
    fields = [mi, hr, dom2, mon, dow2] + ([sec] if sec is not None else [])
    return " ".join(fields), not both


def feb_quirk(c, z, after, last):
    """croniter's February slip (croniter_form) could show between after and last."""
    plain_days = set()
    for it in c.dom_items:
        if it[0].isdigit() and not it.endswith("W") or it[0] in "*?":
            plain_days |= plain(it, "dom")
    if len(plain_days) < 2 or max(plain_days) <= 28:
        return False
    a = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=after + z.off(after))
    b = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=last + z.off(last))
    m, y = a.month, a.year
    while (y, m) <= (b.year, b.month):
        if m == 2:
            return True
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return False


def raw_dow(item):
    """The weekday numbers croniter reads in a plain item before 7 becomes 0 (its * / n is 0-7 / n)."""
    base, slash, step = item.partition("/")
    n = int(step) if slash else 1
    if base in ("*", "?"):
        a, b = 0, 7 if slash else 6
    elif "-" in base:
        x, y = base.split("-")
        a, b = value(x, "dow"), value(y, "dow")
        if b == 0 and a > 0 and not y.isdigit():
            b = 7
    else:
        a = value(base, "dow")
        b = 6 if slash else a
    return set(range(a, b + 1, n))


def croniter_fires(form, z, after, n):
    from croniter import croniter
    expr, day_or = form
    o = z.off(after)
    start = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=after + o)
    it = croniter(expr, start, day_or=day_or)
    out = []
    for _ in range(n):
        nx = it.get_next(dt.datetime)
        out.append(int((nx - dt.datetime(1970, 1, 1)).total_seconds()) - o)
    return out


# -------------------------------------------------------------- generator

def gen_step(r, lo, hi):
    return r.choice([2, 3, 4, 5, 6, 7, 10, 12, 15, 20, 30, hi - lo]) if hi - lo > 2 else 2


def gen_plain(r, f, cased):
    lo, hi = FDEF[f]
    top = 6 if f == "dow" else hi

    def v(x):
        if f == "month" and r.random() < 0.5:
            return cased(MONTHS[x - 1])
        if f == "dow" and x <= 6 and r.random() < 0.5:
            return cased(WDAYS[x])
        return str(x)
    k = r.random()
    if k < 0.25:
        return v(r.randint(lo, hi if f != "dow" else 7))
    if k < 0.45:
        a = r.randint(lo, top)
        b = r.randint(a, hi if f != "dow" else 7)
        return "%s-%s" % (v(a), v(b))
    if k < 0.60:
        a = r.randint(lo, top)
        b = r.randint(a, top)
        return "%s-%s/%d" % (v(a), v(b), r.randint(1, max(1, (b - a) or 1)))
    if k < 0.75:
        return "*/%d" % r.randint(1, min(top - lo + 1, 31))
    if k < 0.85:
        return "%s/%d" % (v(r.randint(lo, top)), r.randint(1, min(top - lo + 1, 12)))
    if f == "dow" and k < 0.92:
        return cased("SAT-SUN") if r.random() < 0.5 else "5-7"
    return v(r.randint(lo, hi if f != "dow" else 7))


def gen_list(r, f, cased, maxn=3):
    return ",".join(gen_plain(r, f, cased) for _ in range(r.choice([1, 1, 1, 2, maxn])))


def gen_expr(r, near=None):
    """A random expression; near: local hours around a DST change to aim at (or None)."""
    def cased(s):
        return r.choice([s, s.lower(), s.capitalize()])
    if r.random() < 0.04:
        return cased(r.choice(list(MACROS)))
    k = r.random()
    if k < 0.30:
        minute = str(r.randint(0, 59))
    elif k < 0.45:
        minute = "*/%d" % r.choice([5, 10, 15, 20, 30])
    elif k < 0.55:
        minute = "0,30"
    elif k < 0.60:
        minute = "*"
    else:
        minute = gen_list(r, "minute", cased)
    k = r.random()
    if k < 0.35:
        hour = "*"
    elif k < 0.55:
        hour = str(r.choice([0, 1, 2, 3, 4, 9, 12, 23]))   # 0-4: DST changes happen then
    elif k < 0.65:
        hour = "%d-%d" % (r.randint(0, 5), r.randint(5, 23))
    else:
        hour = gen_list(r, "hour", cased)
    k = r.random()
    if k < 0.40:
        dom = "*"
    elif k < 0.45:
        dom = "?"
    elif k < 0.50:
        dom = "L"
    elif k < 0.54:
        dom = "L-%d" % r.randint(0, 5)
    elif k < 0.57:
        dom = "LW"
    elif k < 0.63:
        dom = "%dW" % r.choice([1, 2, 15, 28, 29, 30, 31, r.randint(1, 31)])
    elif k < 0.68:
        dom = ",".join([str(r.randint(1, 28)), r.choice(["L", "15W", "L-2", "LW", "31"])])
    elif k < 0.72:
        dom = str(r.choice([29, 30, 31]))
    else:
        dom = gen_list(r, "dom", cased)
    k = r.random()
    if k < 0.60:
        month = "*"
    elif k < 0.70:
        month = cased(r.choice(["FEB", "MAR-OCT", "*/3", "JAN-DEC/2", "2,3,10,11", "OCT-DEC"]))
    else:
        month = gen_list(r, "month", cased)
    k = r.random()
    if k < 0.40:
        dow = "*"
    elif k < 0.44:
        dow = "?"
    elif k < 0.52:
        dow = "%s#%d" % (r.choice([str(r.randint(0, 7)), cased(r.choice(WDAYS))]), r.randint(1, 5))
    elif k < 0.58:
        dow = "%sL" % r.choice([str(r.randint(0, 7)), cased(r.choice(WDAYS))])
    elif k < 0.62:
        dow = "%d#%d,%d#%d" % (r.randint(0, 6), r.randint(1, 5), r.randint(0, 6), r.randint(1, 5))
    elif k < 0.66:
        dow = cased("MON-FRI")
    else:
        dow = gen_list(r, "dow", cased)
    if near and r.random() < 0.6:
        # Aim at the change: its hours, any day (the generator's days are too rare to hit it).
        hour = r.choice([str(near[0]), str(near[1]), "%d,%d" % near, "%d-%d" % (min(near), max(near)),
                         "*"])
        dom, month = r.choice([("*", "*"), ("?", "*"), (dom, "*"), ("*", month)])
        if r.random() < 0.5:
            dow = "*"
    fields = [minute, hour, dom, month, dow]
    if r.random() < 0.25:
        k = r.random()
        sec = ("0" if k < 0.2 else "*/%d" % r.choice([10, 15, 20, 30]) if k < 0.5 else
               "*" if k < 0.55 else gen_list(r, "second", cased))
        fields.insert(0, sec)
    return " ".join(fields)


def transitions(z, y0, y1):
    if z.fixed is not None:
        return []
    a = int(dt.datetime(y0, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    b = int(dt.datetime(y1, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    return z.changes(a, b, step=86400)


def gen_instant(r, z, trans):
    """A start instant, and the local hours of a DST change it is near (or None)."""
    k = r.random()
    if trans and k < 0.45:
        t = r.choice(trans)
        d = r.choice([0, -1, 1, -60, 60, -3600, 3600, -1800, 1800, r.randint(-3 * 86400, 3 * 86400),
                      r.randint(-86400, 86400), r.randint(-7200, 7200) // 60 * 60])
        before = ((t - 1 + z.off(t - 1)) // 3600) % 24
        after = ((t + z.off(t)) // 3600) % 24
        return t + d, (before, after)
    return gen_instant_far(r, z), None


def gen_instant_far(r, z):
    k = 0.45 + 0.55 * r.random()   # the other kinds, in gen_instant's proportions
    if k < 0.60:
        y = r.choice([1996, 2000, 2024, 2028, 2096, 2100, 2400 - 400, 2044, 2052])
        day = dt.date(y, 2, 28) + dt.timedelta(days=r.randint(-1, 2))
        base = (day - EPOCH).days * 86400
        return base - z.off(base) + r.choice([0, -1, r.randint(-86400, 86400)])
    if k < 0.75:
        y, m = r.randint(1980, 2090), r.randint(1, 12)
        last = (dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1))
        base = (last - EPOCH).days * 86400 + r.choice([0, 86400 - 60, 86400 - 1, r.randint(0, 86400)])
        return base - z.off(base)
    if k < 0.85:
        t = r.randint(2148000000, 4102444800)     # past 2038: the footer's rule
        return t - t % 60 if r.random() < 0.7 else t
    t = r.randint(0, 4102444800)
    return t - t % 60 if r.random() < 0.7 else t


# ------------------------------------------------------------------ main

def run_batch(binary, queries):
    text = "".join("%s\t%d\t%d\t%s\n" % q for q in queries)
    p = subprocess.run([binary, "__calendar-batch"], input=text, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "TZ": "Pacific/Chatham"})
    if p.returncode != 0:
        sys.exit("calendar-diff: %s __calendar-batch failed (%d): %s" % (binary, p.returncode, p.stderr))
    lines = p.stdout.split("\n")[:-1]
    if len(lines) != len(queries):
        sys.exit("calendar-diff: %d answers to %d queries" % (len(lines), len(queries)))
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    r = random.Random(a.seed)
    t0 = time.time()

    zones = {n: Zone(n) for n in ZONES}
    trans = {n: transitions(zones[n], 1990, 2046) for n in ZONES}

    cases = []
    for _ in range(a.cases):
        zn = r.choice(ZONES)
        t, near = gen_instant(r, zones[zn], trans[zn])
        cases.append((zn, t, N_FIRES, gen_expr(r, near)))
    answers = run_batch(a.bin, cases)

    # Second round: the boundaries of the fire times found, on both sides.
    more = []
    for (zn, after, n, expr), ans in zip(cases, answers):
        f = ans.split()
        if f[0] == "ok" and len(f) > 1 and r.random() < 0.3:
            t1 = int(f[1])
            more.append((zn, t1, N_FIRES, expr))
            more.append((zn, t1 - 1, N_FIRES, expr))
    if more:
        cases += more
        answers += run_batch(a.bin, more)

    stats = dict(cases=len(cases), exprs=len({c[3] for c in cases}), instants=len({c[1] for c in cases}),
                 refused=0, never=0, brute=0, brute_bad=0, fires=0, cron=0, cron_bad=0,
                 cron_skip=0, cron_refused=0)
    bad = []
    for (zn, after, n, expr), ans in zip(cases, answers):
        z = zones[zn]
        kind, _, rest = ans.partition(" ")
        try:
            c = Cron(expr)
        except (Refused, ValueError, KeyError) as e:
            c = None
            why = str(e)
        if kind in ("error", "fail"):
            stats["refused"] += 1
            if c is not None:
                bad.append(("refused by reconciler, accepted by the oracle", zn, after, expr, rest, ""))
            continue
        if c is None:
            bad.append(("accepted by reconciler, refused by the oracle", zn, after, expr, ans, why))
            continue
        never = c.never()
        if kind == "never" or never:
            stats["never"] += 1
            if not (kind == "never" and never):
                bad.append(("never-fires disagrees", zn, after, expr, ans, "oracle never=%s" % never))
            continue
        got = [int(x) for x in rest.split()]
        horizon = after + HORIZON_YEARS * 366 * 86400
        want = brute(c, z, after, n, horizon)
        stats["brute"] += 1
        stats["fires"] += len(want)
        cmp_got = [g for g in got if g <= horizon][:len(want)]
        if cmp_got != want or (len(want) < n and len(got) > len(want) and got[len(want)] <= horizon):
            stats["brute_bad"] += 1
            bad.append(("brute force", zn, after, expr, fmt(z, got), fmt(z, want)))
        # croniter, where no DST change is near and the form means the same to it
        form = croniter_form(expr)
        last = max(got) if got else after
        if form is None or not got:
            stats["cron_skip"] += 1
            continue
        if z.changes(after - 3 * 86400, last + 1, step=3 * 3600) or last - after > 90 * 86400:
            stats["cron_skip"] += 1
            continue
        if feb_quirk(c, z, after, last):
            stats["cron_skip"] += 1
            continue
        try:
            want2 = croniter_fires(form, z, after, len(got))
        except Exception:  # croniter refuses some forms it documents (e.g. 5-field with L5 lists)
            stats["cron_refused"] += 1
            continue
        stats["cron"] += 1
        if want2 != got:
            stats["cron_bad"] += 1
            bad.append(("croniter %r day_or=%s" % form, zn, after, expr, fmt(z, got), fmt(z, want2)))

    for b in bad[:25]:
        what, zn, after, expr, got, want = b
        print("MISMATCH (%s): zone %s after %d (%s) expr '%s'\n  reconciler: %s\n  oracle:     %s"
              % (what, zn, after, fmt(zones[zn], [after]), expr, got, want), file=sys.stderr)
    print("calendar-diff: seed %d: %d cases (%d expressions, %d start instants, %d zones); "
          "brute force: %d compared, %d fire times, %d mismatches; croniter: %d compared, "
          "%d mismatches (%d not comparable: DST nearby or a form it reads otherwise; "
          "%d refused by croniter); %d never fire; %d refused; %.1f s"
          % (a.seed, stats["cases"], stats["exprs"], stats["instants"], len(ZONES), stats["brute"],
             stats["fires"], stats["brute_bad"], stats["cron"], stats["cron_bad"],
             stats["cron_skip"], stats["cron_refused"], stats["never"], stats["refused"],
             time.time() - t0))
    return 1 if bad else 0


def fmt(z, ts):
    out = []
    for t in ts:
        o = z.off(t)
        d = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=t + o)
        out.append("%s%+03d:%02d" % (d.isoformat(), o // 3600 if o >= 0 else -((-o) // 3600),
                                     abs(o) // 60 % 60))
    return " ".join(out)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""RECONSTRUCTION of hourly spam and ham volumes around the McColo cut-off (2008-11-11).

Writes samples/spam-2008/spam-hourly.csv and ham-hourly.csv: hourly counts, 2008-10-01 00:00
to 2008-12-15 23:00 UTC. These are NOT measured data. They are synthetic series shaped by the
figures published at the time (see ../../shared/REFERENCES.md and samples/spam-2008/README.md):

* SpamCop: about 40 spam/s before the cut, about 10 spam/s after it (level x 0.25);
* the cut at 2008-11-11 21:30 UTC (CBL), so the 21:00 hour is half before, half after;
* a slow recovery: Symantec saw 80% of the old level by January 2009 (here: linear from 25% at
  the cut to 80% on 2009-01-15; the series ends 2008-12-15);
* a day/night cycle (+-15%, peak 15:00 UTC) and quieter weekends (x 0.90);
* AR(1) noise on the log scale (phi 0.7, innovations sd 0.05);
* a few hours missing (collection outages), left out of the CSV: missing is not zero.

The ham series (legitimate mail at one hypothetical mail service) is flat: business hours in
US Pacific time (so its UTC cycle moves by an hour when daylight saving time ends on
2008-11-02), quiet weekends, a dip on Thanksgiving (2008-11-27), and no change at the cut.

Deterministic: Python's Mersenne Twister with a fixed seed and Box-Muller normals. Run from the
repository root: python3 scripts/make-spam-series.py. It prints the noise-free drop the method
of DESIGN section 6 should find, which samples/spam-2008/README.md and tests/correlate.rs quote.
"""

import datetime as dt
import math
import os
import random

SEED = 20081111
START = dt.datetime(2008, 10, 1, tzinfo=dt.timezone.utc)
END = dt.datetime(2008, 12, 16, tzinfo=dt.timezone.utc)  # exclusive
CUT = dt.datetime(2008, 11, 11, 21, 30, tzinfo=dt.timezone.utc)
RECOVERY_ANCHOR = dt.datetime(2009, 1, 15, tzinfo=dt.timezone.utc)
SPAM_PER_HOUR = 40 * 3600  # SpamCop: about 40 spam/s before the cut
AFTER_CUT = 10 / 40  # about 10 spam/s after it
RECOVERED_BY_ANCHOR = 0.80  # Symantec: 80% of the old level by January 2009
HAM_PER_HOUR = 12_000
# US daylight saving time ended 2008-11-02 02:00 PDT = 09:00 UTC (Pacific offset -7 h, then -8 h).
PACIFIC_DST_END = dt.datetime(2008, 11, 2, 9, 0, tzinfo=dt.timezone.utc)
THANKSGIVING = dt.date(2008, 11, 27)

SPAM_MISSING = [
    (dt.datetime(2008, 10, 20, 3, tzinfo=dt.timezone.utc), 6),  # collector outage
    (dt.datetime(2008, 11, 5, 14, tzinfo=dt.timezone.utc), 1),
    (dt.datetime(2008, 12, 2, 10, tzinfo=dt.timezone.utc), 2),
]
HAM_MISSING = [(dt.datetime(2008, 11, 20, 0, tzinfo=dt.timezone.utc), 3)]

OUT = os.path.join("samples", "spam-2008")


def hours():
    t = START
    while t < END:
        yield t
        t += dt.timedelta(hours=1)


def recovery(t):
    """Spam level after the cut, as a share of the level before it."""
    days = (t - CUT).total_seconds() / 86400
    span = (RECOVERY_ANCHOR - CUT).total_seconds() / 86400
    return AFTER_CUT + (RECOVERED_BY_ANCHOR - AFTER_CUT) * min(days / span, 1.0)


def cut_factor(hour_start):
    """Mean level over the hour [hour_start, +1h) relative to before the cut."""
    end = hour_start + dt.timedelta(hours=1)
    if end <= CUT:
        return 1.0
    if hour_start >= CUT:
        return recovery(hour_start + dt.timedelta(minutes=30))
    before = (CUT - hour_start).total_seconds() / 3600
    return before + (1 - before) * recovery(CUT)


def spam_season(t):
    diurnal = 1 + 0.15 * math.cos(2 * math.pi * (t.hour - 15) / 24)
    weekly = 0.90 if t.weekday() >= 5 else 1.0
    return diurnal * weekly / ((5 + 2 * 0.90) / 7)


def ham_season(t):
    local = t + dt.timedelta(hours=-7 if t < PACIFIC_DST_END else -8)
    hour = local.hour + local.minute / 60
    diurnal = 1 + 0.6 * math.cos(2 * math.pi * (hour - 13) / 24)
    weekly = 0.45 if local.weekday() >= 5 else 1.0
    holiday = 1.0
    if local.date() == THANKSGIVING:
        holiday = 0.5
    elif local.date() == THANKSGIVING + dt.timedelta(days=1):
        holiday = 0.75
    return diurnal * weekly * holiday


class Noise:
    """AR(1) on the log scale, Box-Muller normals from a seeded Mersenne Twister."""

    def __init__(self, rng, phi=0.7, sd=0.05):
        self.rng, self.phi, self.sd, self.state = rng, phi, sd, 0.0

    def normal(self):
        u1 = 1.0 - self.rng.random()  # (0, 1]
        u2 = self.rng.random()
        return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)

    def next(self):
        self.state = self.phi * self.state + self.sd * self.normal()
        return math.exp(self.state)


def missing_set(gaps):
    out = set()
    for start, n in gaps:
        for k in range(n):
            out.add(start + dt.timedelta(hours=k))
    return out


def write(path, header, rows):
    with open(path, "w", newline="\n") as f:
        for line in header:
            f.write(f"# {line}\n")
        f.write("ts,count\n")
        for t, v in rows:
            f.write(f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{v}\n")


def matched_week_drop(level, event, days=7, weeks=2):
    """DESIGN section 6 on a noise-free series: first hour at or after the event, 7 days."""
    first = event.replace(minute=0, second=0, microsecond=0)
    if first < event:
        first += dt.timedelta(hours=1)
    post = base = 0.0
    for k in range(days * 24):
        t = first + dt.timedelta(hours=k)
        prev = [level(t - dt.timedelta(weeks=w)) for w in range(1, weeks + 1)]
        prev.sort()
        mid = len(prev) // 2
        median = prev[mid] if len(prev) % 2 else (prev[mid - 1] + prev[mid]) / 2
        post += level(t)
        base += median
    return 1 - post / base


def main():
    rng = random.Random(SEED)
    spam_noise, ham_noise = Noise(rng), Noise(rng, phi=0.6, sd=0.04)
    spam_gaps, ham_gaps = missing_set(SPAM_MISSING), missing_set(HAM_MISSING)
    spam, ham = [], []
    for t in hours():
        s = round(SPAM_PER_HOUR * spam_season(t) * cut_factor(t) * spam_noise.next())
        h = round(HAM_PER_HOUR * ham_season(t) * ham_noise.next())
        if t not in spam_gaps:
            spam.append((t, s))
        if t not in ham_gaps:
            ham.append((t, h))
    os.makedirs(OUT, exist_ok=True)
    common = [
        "Generated by scripts/make-spam-series.py (seed %d); see samples/spam-2008/README.md." % SEED,
        "Hourly bins, ts = start of the hour in UTC. Missing hours are left out (missing is not zero).",
    ]
    write(
        os.path.join(OUT, "spam-hourly.csv"),
        [
            "RECONSTRUCTION - NOT MEASURED DATA. Synthetic hourly spam volume around the McColo cut-off,",
            "shaped by published figures: SpamCop about 40 -> 10 spam/s at 2008-11-11 21:30 UTC, slow recovery",
            "(80% of the old level by 2009-01-15), day/night and weekday cycles, AR(1) noise.",
        ]
        + common,
        spam,
    )
    write(
        os.path.join(OUT, "ham-hourly.csv"),
        [
            "RECONSTRUCTION - NOT MEASURED DATA. Synthetic hourly legitimate-mail (ham) volume: a control",
            "series with business hours in US Pacific time, quiet weekends, Thanksgiving, and no change at the cut.",
        ]
        + common,
        ham,
    )
    level = lambda t: spam_season(t) * cut_factor(t)
    disconnect = dt.datetime(2008, 11, 11, 21, 33, tzinfo=dt.timezone.utc)
    print("spam rows %d, ham rows %d" % (len(spam), len(ham)))
    print(
        "noise-free matched-week drop, 7 days after 2008-11-11 21:33 UTC: %.1f%%"
        % (100 * matched_week_drop(level, disconnect))
    )
    print("noise-free level right after the cut: %.0f%% of before" % (100 * recovery(CUT)))
    print(
        "noise-free level on 2008-12-15: %.0f%% of before"
        % (100 * recovery(dt.datetime(2008, 12, 15, tzinfo=dt.timezone.utc)))
    )


if __name__ == "__main__":
    main()

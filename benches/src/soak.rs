//! The soak's bookkeeping: which messages each client received (exactly once?), the delivery
//! latency of each minute, the servers' memory and open files over time, and the verdicts.
//!
//! The soak itself (`src/bin/soak.rs`, run with `cargo run --release -p bench --bin soak --
//! --minutes 1`) starts the labs and drives the clients; everything it concludes is computed
//! here, from plain numbers, so the tests below check the arithmetic without a server.
//!
//! A soak asks what a short benchmark cannot: does anything go wrong *over time*? A message
//! lost once an hour, a buffer that is never freed, a socket the server forgets to close. So
//! every message carries a sequence number (each client checks it got every one of its
//! sender's messages, once), the server's resident memory is sampled all along (a leak is a
//! slope, not a level), and its open file descriptors are counted before the clients come
//! and after they go (every connection is one descriptor; one that stays is a leak).

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::stats::{self, Latency};

/// The highest sequence number a client keeps track of: a bit each, so 2 MiB at most for a
/// client, whatever a sender (or a bug) puts in a message. Ten minutes at 10 000 messages a
/// second stays below it.
pub const MAX_SEQ: u64 = 1 << 24;

/// What a client saw of one sender's numbered messages (0, 1, 2...).
#[derive(Debug, Default, Clone)]
pub struct SeqLedger {
    /// Bit `n` is set once message `n` arrived.
    seen: Vec<u64>,
    /// Messages received, duplicates included.
    received: u64,
    /// Different messages received.
    distinct: u64,
    /// Arrivals of a message already received.
    duplicates: u64,
    /// Arrivals of a message numbered below one already received: delivered, but late.
    out_of_order: u64,
    /// The highest number received so far.
    highest: Option<u64>,
}

/// How one arrival counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The first copy of this message.
    First,
    /// A copy of a message already received.
    Duplicate,
}

/// A sequence number above [`MAX_SEQ`]: not one our senders send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sequence number {0} is beyond the soak's {MAX_SEQ}")]
pub struct SeqOutOfRange(pub u64);

impl SeqLedger {
    /// Records the arrival of message `seq`.
    pub fn record(&mut self, seq: u64) -> Result<Arrival, SeqOutOfRange> {
        if seq >= MAX_SEQ {
            return Err(SeqOutOfRange(seq));
        }
        self.received += 1;
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return Ok(Arrival::Duplicate);
        }
        self.seen[word] |= bit;
        self.distinct += 1;
        match self.highest {
            Some(highest) if seq < highest => self.out_of_order += 1,
            _ => self.highest = Some(seq),
        }
        Ok(Arrival::First)
    }

    /// Different messages received so far.
    pub fn distinct(&self) -> u64 {
        self.distinct
    }

    /// The counts, once the sender says it sent `sent` messages (numbered 0 to `sent` − 1).
    pub fn tally(&self, sent: u64) -> Tally {
        let beyond: u64 = (sent..self.highest.map_or(0, |h| h + 1))
            .filter(|&seq| self.seen[(seq / 64) as usize] & (1 << (seq % 64)) != 0)
            .count() as u64;
        let expected_seen = self.distinct - beyond;
        let missing = sent.saturating_sub(expected_seen);
        Tally {
            clients: 1,
            expected: sent,
            received: self.received,
            missing,
            duplicates: self.duplicates,
            out_of_order: self.out_of_order,
            // A number the sender never sent is as wrong as a copy: count it with them.
            unexpected: beyond,
            clients_wrong: u64::from(missing > 0 || self.duplicates > 0 || beyond > 0),
        }
    }
}

/// Delivery counts of some clients, added up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Clients counted.
    pub clients: u64,
    /// Messages the clients should have received, one copy each.
    pub expected: u64,
    /// Messages received, duplicates included.
    pub received: u64,
    /// Messages sent that a client never received.
    pub missing: u64,
    /// Copies received of a message already received.
    pub duplicates: u64,
    /// Messages received after a higher-numbered one.
    pub out_of_order: u64,
    /// Messages numbered beyond what the sender sent.
    pub unexpected: u64,
    /// Clients with something missing, duplicated or unexpected.
    pub clients_wrong: u64,
}

impl Tally {
    /// Adds another client's (or group's) counts.
    pub fn add(&mut self, other: &Tally) {
        self.clients += other.clients;
        self.expected += other.expected;
        self.received += other.received;
        self.missing += other.missing;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.unexpected += other.unexpected;
        self.clients_wrong += other.clients_wrong;
    }

    /// Every client got every message exactly once.
    pub fn exactly_once(&self) -> bool {
        self.clients_wrong == 0
    }
}

/// Delivery latencies, one histogram per minute of the run (by the minute a message was
/// *sent*, so a slow minute shows where the trouble started).
#[derive(Debug, Clone)]
pub struct MinuteHistograms {
    /// Minute `i` of the run, in nanoseconds.
    minutes: Vec<Histogram<u64>>,
}

impl MinuteHistograms {
    /// Histograms for a run of `minutes` minutes (a partial last minute gets its own).
    pub fn new(minutes: usize) -> Self {
        Self {
            minutes: (0..minutes.max(1))
                .map(|_| stats::new_histogram())
                .collect(),
        }
    }

    /// Records a latency of `ns` for a message sent in minute `minute` (clamped to the last).
    pub fn record(&mut self, minute: usize, ns: u64) {
        let last = self.minutes.len() - 1;
        stats::record(&mut self.minutes[minute.min(last)], ns);
    }

    /// Each minute's figures and count of deliveries.
    pub fn per_minute(&self) -> Vec<(Latency, u64)> {
        self.minutes
            .iter()
            .map(|h| (Latency::from_histogram(h), h.len()))
            .collect()
    }
}

/// A server's open file descriptors at the three moments that tell a leak.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FdCounts {
    /// Before any client connected.
    pub before: Option<usize>,
    /// With every client connected.
    pub during: Option<usize>,
    /// After every client disconnected (and the server had a moment to notice).
    pub after: Option<usize>,
}

impl FdCounts {
    /// A descriptor left open: more after the clients than before them.
    pub fn leaked(&self) -> Option<bool> {
        Some(self.after? > self.before?)
    }
}

/// What one lab went through.
#[derive(Debug, Clone)]
pub struct LabSoak {
    /// The lab's name (`rooms`, `broadcast`).
    pub name: String,
    /// How the clients were arranged, for the report (`10 rooms × 50 members`).
    pub shape: String,
    /// Messages sent, by every sender of this lab.
    pub sent: u64,
    /// The clients' counts, added up.
    pub tally: Tally,
    /// Connections that failed, exceptions and `missed` events: anything a client saw go
    /// wrong, with the first few messages.
    pub problems: Vec<String>,
    /// Problems in all (the list above keeps only the first few).
    pub problem_count: u64,
    /// Resident memory samples: (seconds since sending started, KiB).
    pub rss_kib: Vec<(f64, u64)>,
    /// Open file descriptors.
    pub fds: FdCounts,
    /// Each minute's latency figures and deliveries.
    pub minutes: Vec<(Latency, u64)>,
}

impl LabSoak {
    /// The memory samples taken after the warm-up, as (minutes, KiB) for the slope.
    fn steady_samples(&self, warmup_secs: f64) -> Vec<(f64, f64)> {
        self.rss_kib
            .iter()
            .filter(|(t, _)| *t >= warmup_secs)
            .map(|&(t, kib)| (t / 60.0, kib as f64))
            .collect()
    }

    /// The memory's growth after the warm-up, KiB per minute (least squares).
    pub fn rss_slope_kib_per_min(&self, warmup_secs: f64) -> Option<f64> {
        stats::least_squares_slope(&self.steady_samples(warmup_secs))
    }
}

/// A check and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What was checked (`exactly-once`, `RSS flat`, `no fd leak`).
    pub check: &'static str,
    /// Whether it held.
    pub passed: bool,
    /// The numbers behind it, lab by lab.
    pub detail: String,
}

/// A whole soak.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// The command line that reproduces it.
    pub command: String,
    /// Seconds of steady sending.
    pub duration_secs: f64,
    /// Messages per second of each sender.
    pub rate: f64,
    /// Seconds of sending before the memory counts as warmed up.
    pub warmup_secs: f64,
    /// Seconds between two memory samples.
    pub sample_secs: f64,
    /// Largest memory slope that still counts as flat, KiB per minute.
    pub rss_tolerance_kib_per_min: f64,
    /// `/proc/loadavg`'s first three fields at the start and at the end: what else ran.
    pub load: (String, String),
    /// Each lab's figures.
    pub labs: Vec<LabSoak>,
}

/// The warm-up before memory is judged: the first minute, or the first 20% of a run
/// shorter than five minutes (a one-minute class run keeps 48 s of samples).
pub fn warmup_secs(duration_secs: f64) -> f64 {
    (duration_secs * 0.2).min(60.0)
}

impl SoakReport {
    /// One verdict per check, each covering every lab.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let mut once = Verdict {
            check: "exactly-once",
            passed: true,
            detail: String::new(),
        };
        let mut flat = Verdict {
            check: "RSS flat",
            passed: true,
            detail: String::new(),
        };
        let mut fds = Verdict {
            check: "no fd leak",
            passed: true,
            detail: String::new(),
        };
        for (i, lab) in self.labs.iter().enumerate() {
            let sep = if i == 0 { "" } else { "; " };
            let t = &lab.tally;
            once.passed &= t.exactly_once() && t.clients > 0;
            let _ = write!(
                once.detail,
                "{sep}{}: {}/{} clients got each of their {} messages once \
                 ({} missing, {} duplicated, {} unexpected)",
                lab.name,
                t.clients - t.clients_wrong,
                t.clients,
                group(t.expected / t.clients.max(1)),
                t.missing,
                t.duplicates,
                t.unexpected
            );
            match lab.rss_slope_kib_per_min(self.warmup_secs) {
                Some(slope) => {
                    flat.passed &= slope.abs() <= self.rss_tolerance_kib_per_min;
                    let _ = write!(
                        flat.detail,
                        "{sep}{}: {slope:+.1} KiB/min over {} samples",
                        lab.name,
                        lab.steady_samples(self.warmup_secs).len()
                    );
                }
                None => {
                    flat.passed = false;
                    let _ = write!(
                        flat.detail,
                        "{sep}{}: too few samples after the warm-up to judge",
                        lab.name
                    );
                }
            }
            match lab.fds.leaked() {
                Some(leaked) => {
                    fds.passed &= !leaked;
                    let _ = write!(
                        fds.detail,
                        "{sep}{}: {} before the clients, {} after",
                        lab.name,
                        show(lab.fds.before),
                        show(lab.fds.after)
                    );
                }
                None => {
                    fds.passed = false;
                    let _ = write!(fds.detail, "{sep}{}: could not be counted", lab.name);
                }
            }
        }
        let _ = write!(
            flat.detail,
            " (flat: within ±{:.0} KiB/min after the first {:.0} s)",
            self.rss_tolerance_kib_per_min, self.warmup_secs
        );
        vec![once, flat, fds]
    }

    /// Every check held.
    pub fn passed(&self) -> bool {
        self.verdicts().iter().all(|v| v.passed)
    }

    /// The report in Markdown: the run, deliveries, latency per minute, the servers, the
    /// verdicts. Tables paste into a slide as they are.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let clients: u64 = self.labs.iter().map(|l| l.tally.clients).sum();
        let shapes: Vec<String> = self
            .labs
            .iter()
            .map(|l| format!("{} ({})", l.name, l.shape))
            .collect();
        let _ = writeln!(
            out,
            "## Soak: {} clients for {} at {} msg/s per sender\n",
            group(clients),
            fmt_duration(self.duration_secs),
            self.rate
        );
        let _ = writeln!(out, "- Command: `{}`", self.command);
        let _ = writeln!(out, "- Labs: {}", shapes.join(", "));
        let _ = writeln!(
            out,
            "- Load average (1, 5, 15 min): {} at the start, {} at the end",
            self.load.0, self.load.1
        );
        let _ = writeln!(
            out,
            "- Memory sampled every {} s; slope by least squares after the first {:.0} s\n",
            self.sample_secs, self.warmup_secs
        );

        let _ = writeln!(
            out,
            "| lab | clients | sent | expected deliveries | received | missing | duplicated | out of order | problems |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for lab in &self.labs {
            let t = &lab.tally;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                lab.name,
                group(t.clients),
                group(lab.sent),
                group(t.expected),
                group(t.received),
                group(t.missing),
                group(t.duplicates + t.unexpected),
                group(t.out_of_order),
                group(lab.problem_count)
            );
        }

        let _ = write!(out, "\n| minute |");
        for lab in &self.labs {
            let _ = write!(
                out,
                " {0} deliveries | {0} p50 ms | {0} p99 ms | {0} max ms |",
                lab.name
            );
        }
        let _ = write!(out, "\n|---:|");
        for _ in &self.labs {
            out.push_str("---:|---:|---:|---:|");
        }
        out.push('\n');
        let minutes = self.labs.iter().map(|l| l.minutes.len()).max().unwrap_or(0);
        for m in 0..minutes {
            let _ = write!(out, "| {} |", m + 1);
            for lab in &self.labs {
                match lab.minutes.get(m) {
                    Some((l, n)) if *n > 0 => {
                        let _ = write!(
                            out,
                            " {} | {} | {} | {} |",
                            group(*n),
                            ms(l.p50_us),
                            ms(l.p99_us),
                            ms(l.max_us)
                        );
                    }
                    _ => out.push_str(" 0 | — | — | — |"),
                }
            }
            out.push('\n');
        }

        let _ = writeln!(
            out,
            "\n| lab | RSS at start KiB | RSS at end KiB | slope after warm-up KiB/min | fds before | fds during | fds after |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for lab in &self.labs {
            let first = lab.rss_kib.first().map(|s| group(s.1));
            let last = lab.rss_kib.last().map(|s| group(s.1));
            let slope = lab
                .rss_slope_kib_per_min(self.warmup_secs)
                .map(|s| format!("{s:+.1}"));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                lab.name,
                first.unwrap_or_else(|| "—".into()),
                last.unwrap_or_else(|| "—".into()),
                slope.unwrap_or_else(|| "—".into()),
                show(lab.fds.before),
                show(lab.fds.during),
                show(lab.fds.after)
            );
        }

        out.push('\n');
        for v in self.verdicts() {
            let _ = writeln!(
                out,
                "- **{}** {}: {}",
                if v.passed { "PASS" } else { "FAIL" },
                v.check,
                v.detail
            );
        }
        let out_of_order: u64 = self.labs.iter().map(|l| l.tally.out_of_order).sum();
        let _ = writeln!(
            out,
            "- info in order: {out_of_order} message(s) arrived after a later one (not a check: \
             the gateway handles each request in a task of its own, so two sends close together \
             may pass each other)"
        );
        for lab in &self.labs {
            for p in &lab.problems {
                let _ = writeln!(out, "- problem ({}): {p}", lab.name);
            }
        }
        out
    }
}

/// A count with thousands separated by a space: `12 345`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Microseconds as milliseconds with two decimals.
fn ms(us: f64) -> String {
    format!("{:.2}", us / 1000.0)
}

fn show(n: Option<usize>) -> String {
    n.map_or_else(|| "—".into(), |n| n.to_string())
}

fn fmt_duration(secs: f64) -> String {
    if secs >= 60.0 && (secs % 60.0).abs() < 1e-9 {
        format!("{} min", secs / 60.0)
    } else {
        format!("{secs} s")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every message once, in order: nothing missing, nothing extra.
    #[test]
    fn a_clean_stream() {
        let mut ledger = SeqLedger::default();
        for seq in 0..1000 {
            assert_eq!(ledger.record(seq), Ok(Arrival::First));
        }
        let t = ledger.tally(1000);
        assert_eq!(
            (t.received, t.missing, t.duplicates, t.out_of_order),
            (1000, 0, 0, 0)
        );
        assert!(t.exactly_once());
    }

    /// A gap, a copy and a late arrival are each counted for what they are.
    #[test]
    fn gaps_copies_and_late_arrivals() {
        let mut ledger = SeqLedger::default();
        for seq in [0, 1, 3, 2, 3, 5, 9] {
            ledger.record(seq).unwrap();
        }
        // 4, 6, 7 and 8 never came; 3 came twice; 2 came after 3.
        let t = ledger.tally(10);
        assert_eq!(t.missing, 4);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.out_of_order, 1);
        assert!(!t.exactly_once());
        // A number beyond what was sent is wrong too.
        let t = ledger.tally(6);
        assert_eq!(t.unexpected, 1);
        assert!(!t.exactly_once());
        assert_eq!(ledger.record(MAX_SEQ), Err(SeqOutOfRange(MAX_SEQ)));
    }

    fn lab(rss: &[(f64, u64)], fds: (usize, usize)) -> LabSoak {
        let mut tally = SeqLedger::default();
        tally.record(0).unwrap();
        LabSoak {
            name: "rooms".into(),
            shape: "1 room × 1 member".into(),
            sent: 1,
            tally: tally.tally(1),
            problems: Vec::new(),
            problem_count: 0,
            rss_kib: rss.to_vec(),
            fds: FdCounts {
                before: Some(fds.0),
                during: Some(fds.0 + 1),
                after: Some(fds.1),
            },
            minutes: vec![(Latency::default(), 1)],
        }
    }

    fn report(lab: LabSoak) -> SoakReport {
        SoakReport {
            command: "soak".into(),
            duration_secs: 600.0,
            rate: 10.0,
            warmup_secs: warmup_secs(600.0),
            sample_secs: 10.0,
            rss_tolerance_kib_per_min: 256.0,
            load: ("0.1 0.2 0.3".into(), "0.1 0.2 0.3".into()),
            labs: vec![lab],
        }
    }

    /// The warm-up is ignored, a steady memory passes, and a growing one or a kept
    /// descriptor fails its check.
    #[test]
    fn verdicts() {
        assert_eq!(warmup_secs(600.0), 60.0);
        assert_eq!(warmup_secs(60.0), 12.0);
        // Growing fast during the first minute, flat after it.
        let mut rss = vec![(0.0, 1000), (30.0, 9000)];
        rss.extend((6..60).map(|i| (i as f64 * 10.0, 10_000 + (i % 2) * 50)));
        let good = report(lab(&rss, (9, 9)));
        assert!(good.passed(), "{:#?}", good.verdicts());
        let md = good.markdown();
        assert!(md.contains("**PASS** exactly-once"), "{md}");
        assert!(md.contains("**PASS** RSS flat"), "{md}");
        assert!(md.contains("**PASS** no fd leak"), "{md}");

        // 1 MiB a minute after the warm-up.
        let leaking: Vec<(f64, u64)> = (0..60)
            .map(|i| (i as f64 * 10.0, 10_000 + i * 170))
            .collect();
        let v = report(lab(&leaking, (9, 9))).verdicts();
        assert!(!v[1].passed, "{v:#?}");
        let v = report(lab(&rss, (9, 10))).verdicts();
        assert!(!v[2].passed, "{v:#?}");
    }
}

//! The activity-log parse alone, on one thread, with no database and no I/O: a steadier figure
//! than the whole insight read when working on the parse (`loyalty bench-insight` times the
//! read as a whole).
//!
//! `cargo run --release -p loyalty-store --example parse_bench [members] [rounds]`
//!
//! Rows are made the way the engine writes them: each member gets 1 to 25 orders and some
//! refunds, paid over three years, one row per member and span, records in time order.

use loyalty_store::analytics::{row_head, ActivityEvent, Unpacker, ACTIVITY_SPAN_MICROS};
use std::time::Instant;

const DAY: i64 = 86_400_000_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let members: u32 = args.next().map_or(500_000, |a| a.parse().expect("members: a whole number"));
    let rounds: usize = args.next().map_or(7, |a| a.parse().expect("rounds: a whole number"));
    assert!((1..=10_000_000).contains(&members) && (1..=100).contains(&rounds), "members 1-10M, rounds 1-100");

    // xorshift64: the same rows on every run.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let first_span = 55;
    let mut rows: Vec<String> = Vec::new();
    let mut orders = 0_u64;
    for m in 0..members {
        let id = format!("m{m:08}");
        let mut events: Vec<ActivityEvent> = (0..1 + next(25))
            .map(|_| ActivityEvent::Order {
                paid_at: first_span * ACTIVITY_SPAN_MICROS + next(3 * ACTIVITY_SPAN_MICROS as u64) as i64,
                total_minor: next(40_000) as i64,
            })
            .collect();
        orders += events.len() as u64;
        if next(10) == 0 {
            if let ActivityEvent::Order { paid_at, total_minor } = events[0] {
                let refunded_at = paid_at + next(30) as i64 * DAY;
                events.push(ActivityEvent::Refund { paid_at, refunded_at, amount_minor: total_minor / 2 });
            }
        }
        let paid = |e: &ActivityEvent| match *e {
            ActivityEvent::Order { paid_at, .. } | ActivityEvent::Refund { paid_at, .. } => paid_at,
        };
        events.sort_by_key(paid);
        let mut span = i64::MIN;
        for e in events {
            if paid(&e).div_euclid(ACTIVITY_SPAN_MICROS) != span {
                span = paid(&e).div_euclid(ACTIVITY_SPAN_MICROS);
                rows.push(row_head(&id, span));
            }
            e.write(rows.last_mut().expect("a row was started"));
        }
    }
    let bytes: usize = rows.iter().map(String::len).sum();
    let at = (first_span + 3) * ACTIVITY_SPAN_MICROS;
    let window_start = at - 365 * DAY;
    println!("{members} members, {orders} orders, {} rows, {:.1} MB of log", rows.len(), bytes as f64 / 1e6);
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let mut unpacker = Unpacker::new(at, window_start);
        for r in &rows {
            assert!(unpacker.feed(r.as_bytes()).expect("rows parse"), "rows are in member order");
        }
        let buyers = unpacker.finish().expect("rows parse");
        times.push(started.elapsed().as_secs_f64());
        assert_eq!(buyers.len(), members as usize, "every member bought by `at`");
    }
    let each: Vec<String> = times.iter().map(|t| format!("{t:.3}")).collect();
    times.sort_by(f64::total_cmp);
    let best = times[0];
    println!(
        "parse: {} s; best {best:.3} s, {:.1} ns an order, {:.0} MB/s",
        each.join(" "),
        best * 1e9 / orders as f64,
        bytes as f64 / 1e6 / best
    );
}

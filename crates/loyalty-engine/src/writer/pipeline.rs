//! The server writer's loop: batches from the queue, each loaded, run, written and committed,
//! with the next batch loaded and run while the current one commits.
//!
//! A batch's time on the write connection is its begin, load, write and commit; of these only
//! the load reads, and it only needs what was committed before. So when batch N is written
//! and about to commit, whatever queued meanwhile becomes batch N+1, and if it names nothing
//! N changed ([`loads_apart`]) it is loaded on a reader connection's snapshot, taken before N
//! commits, and run on another thread, while N commits on the write connection. N+1's own
//! transaction then checks that no other connection committed since N began (the commit
//! mark, as the import does); if one did, or the early run failed or panicked, N+1 is
//! loaded and run again in its own transaction. Either way each batch sees exactly the state
//! it would have seen alone. Stores without snapshots (PostgreSQL, memory) run each batch in
//! its own transaction, one after another.

use super::*;
use crate::contain::{commit_answers, prepare_contained, Answer, Contained};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;

/// What the writer took from its queue for one batch.
#[derive(Default)]
pub(super) struct Gathered {
    pub(super) cmds: Vec<Command>,
    pub(super) replies: Vec<oneshot::Sender<Result<Outcome, WriteError>>>,
    pub(super) pings: Vec<oneshot::Sender<()>>,
}

impl Gathered {
    fn take(jobs: &mut Vec<Job>) -> Self {
        let mut g = Gathered { cmds: Vec::with_capacity(jobs.len()), ..Default::default() };
        for job in jobs.drain(..) {
            match job {
                Job::Apply { cmd, reply } => {
                    g.cmds.push(*cmd);
                    g.replies.push(reply);
                }
                Job::Ping(p) => g.pings.push(p),
            }
        }
        g
    }

    fn answered(self, answers: Vec<Answer>) -> Committed {
        assert_eq!(self.replies.len(), answers.len(), "one answer per command");
        Committed { replies: self.replies, answers, pings: self.pings }
    }
}

/// A batch loaded and run ahead, on a snapshot described by `mark`.
struct Early {
    ran: Ran,
    mark: Option<(i64, i64)>,
}

/// A batch's `now`: the clock's, to the microsecond that stored instants keep.
fn batch_now(clock: &SharedClock) -> Timestamp {
    let read = clock.now();
    read.round(jiff::Unit::Microsecond).unwrap_or(read)
}

pub(super) async fn run(
    store: Arc<dyn Store>,
    program: Arc<Program>,
    clock: SharedClock,
    rx: &mut mpsc::Receiver<Job>,
    cache: Arc<MemberCache>,
    synced: mpsc::Sender<Committed>,
) {
    let store = store.as_ref();
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut next: Option<(Gathered, Option<Early>)> = None;
    loop {
        let (mut cur, early) = match next.take() {
            Some(n) => n,
            None => {
                if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                    return;
                }
                (Gathered::take(&mut jobs), None)
            }
        };
        let started = std::time::Instant::now();
        let prepared = match early {
            Some(e) => match resume(store, e, started).await {
                Ok((p, cmds)) => {
                    metrics::counter!("loyalty_batches_ahead_total", "result" => "written").increment(1);
                    cur.cmds = cmds;
                    Some(p)
                }
                Err(cmds) => {
                    metrics::counter!("loyalty_batches_ahead_total", "result" => "run_again").increment(1);
                    cur.cmds = cmds;
                    None
                }
            },
            None => None,
        };
        let prepared = match prepared {
            Some(p) => p,
            None if cur.cmds.is_empty() => {
                if synced.send(cur.answered(Vec::new())).await.is_err() {
                    return;
                }
                continue;
            }
            None => match prepare_contained(store, &program, &cur.cmds, batch_now(&clock), Some(&cache)).await {
                Contained::Prepared(p) => *p,
                Contained::Answered(answers) => {
                    record(started, cur.cmds.len());
                    if synced.send(cur.answered(answers)).await.is_err() {
                        return;
                    }
                    continue;
                }
            },
        };
        // What queued while this batch ran is the next batch, taken now to load while this
        // one commits.
        let mut queued = Gathered::default();
        if !rx.is_empty() {
            let mut more = Vec::new();
            while more.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => more.push(job),
                    Err(_) => break,
                }
            }
            queued = Gathered::take(&mut more);
        }
        let ahead = prepared.mark.is_some() && !queued.cmds.is_empty() && loads_apart(&prepared.changes, &queued.cmds);
        let snapshot = if ahead { store.begin_snapshot().await.ok().flatten() } else { None };
        let commands = cur.cmds.len();
        let (answers, early) = match snapshot {
            Some(snapshot) => {
                let issued = prepared.changes.coupons_issued.clone();
                let mark = prepared.mark;
                let cmds = std::mem::take(&mut queued.cmds);
                let (answers, ran) = tokio::join!(
                    commit_answers(prepared, Some(&cache)),
                    run_ahead(snapshot, &program, cmds, &issued, batch_now(&clock))
                );
                match ran {
                    Ok(ran) => (answers, Some(Early { ran, mark })),
                    Err(cmds) => {
                        queued.cmds = cmds;
                        (answers, None)
                    }
                }
            }
            None => (commit_answers(prepared, Some(&cache)).await, None),
        };
        record(started, commands);
        if synced.send(cur.answered(answers)).await.is_err() {
            return;
        }
        if !queued.replies.is_empty() || !queued.pings.is_empty() {
            next = Some((queued, early));
        }
    }
}

fn record(started: std::time::Instant, commands: usize) {
    metrics::histogram!("loyalty_batch_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("loyalty_batch_commands").record(commands as f64);
}

/// Loads `cmds` on `snapshot` and runs them on another thread. `issued` is what the batch
/// committing meanwhile adds to templates' counts, which the snapshot does not hold. Any
/// failure or panic hands the commands back, to be applied the usual way.
async fn run_ahead(
    mut snapshot: Box<dyn loyalty_store::Tx>,
    program: &Arc<Program>,
    cmds: Vec<Command>,
    issued: &[(loyalty_core::ids::TemplateId, i64)],
    now: Timestamp,
) -> Result<Ran, Vec<Command>> {
    let loaded = match load(snapshot.as_mut(), program, &cmds, now).await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, "loading a batch ahead failed; it is loaded again in its own transaction");
            return Err(cmds);
        }
    };
    drop(snapshot);
    let mut loaded = loaded;
    add_issued(&mut loaded, issued);
    let program = Arc::clone(program);
    let ran = tokio::task::spawn_blocking(move || {
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| run_loaded(loaded, &program, &cmds, now)));
        match run {
            Ok((replies, changes)) => Ok(Ran { cmds, now, replies, changes, run: true }),
            // The contained path finds the command that panics, alone.
            Err(_) => Err(cmds),
        }
    })
    .await;
    ran.unwrap_or_else(|e| panic!("the rules' thread was cancelled: {e}"))
}

/// Writes a batch run ahead in a transaction of its own, if nothing was committed by another
/// connection since its snapshot; otherwise (or on any failure) hands its commands back.
async fn resume(
    store: &dyn Store,
    early: Early,
    started: std::time::Instant,
) -> Result<(Prepared, Vec<Command>), Vec<Command>> {
    let Early { ran, mark } = early;
    let mut tx = match store.begin().await {
        Ok(tx) => tx,
        Err(_) => return Err(ran.cmds),
    };
    match tx.commit_mark().await {
        Ok(now_mark) if now_mark.is_some() && now_mark == mark => {}
        _ => {
            tracing::debug!(commands = ran.cmds.len(), "another connection committed meanwhile: the batch runs again");
            return Err(ran.cmds);
        }
    }
    let Ran { cmds, now, replies, changes, run } = ran;
    assert!(run, "a batch is run before it is written");
    let begun_at = started.elapsed();
    match AssertUnwindSafe(tx.write(&changes, now)).catch_unwind().await {
        Ok(Ok(())) => {
            let stages = [begun_at, begun_at, begun_at, started.elapsed()];
            let commands = cmds.len();
            Ok((Prepared { tx, replies, changes, commands, started, stages, mark }, cmds))
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "writing a batch run ahead failed; it is applied again");
            Err(cmds)
        }
        // A panic in the store's write: the contained path applies the batch again and
        // refuses what panics.
        Err(_) => Err(cmds),
    }
}

//! Group commit: writes that arrive at the same time share one write transaction.
//!
//! The database has one writer, and much of what a small write costs it is fixed per
//! transaction: taking the write lock, the commit and its flush to disk, and one statement per
//! step however many rows the step writes. So writes of one kind queue for one committer, which
//! takes every write waiting when it becomes free and records them together, each step once for
//! the whole group ([`Recorder::record`]). Nothing waits for company: a write that arrives alone is
//! committed at once, and groups only form while the writer is busy, which is exactly when
//! sharing pays. Every writer hears its own result only once its group is committed.
//!
//! A group that fails is rolled back and each of its writes recorded again on its own, so one
//! write's failure is never another's.
//!
//! The committer runs on a thread of its own: a group's transaction is a conversation of many
//! steps with the database thread, and the committer must answer each at once. On the server's
//! runtime it would wait behind plugin calls (which do not yield for their first milliseconds),
//! and the writer, the one part that cannot run in parallel, would idle while it did.

use std::future::Future;
use std::sync::Arc;

use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

use switchboard_store::{Store, StoreError};

/// How one kind of write is recorded, together or alone.
pub trait Recorder: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Output: Send + 'static;

    /// Records `items` inside the caller's transaction, with the same result as recording them
    /// one after another in the order given; one output per item, in order.
    fn record(
        &self,
        conn: &mut AnyConnection,
        store: &Store,
        items: &[Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Output>, StoreError>> + Send;

    /// How much of a group an item takes (a group stops growing at [`Limits::group_weight`]).
    fn weight(_item: &Self::Item) -> usize {
        1
    }
}

/// How large a committer lets groups and its queue grow.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A group takes items until their weights reach this (at least one item).
    pub group_weight: usize,
    /// Items that may wait for the committer before writers wait to queue.
    pub queue_depth: usize,
}

/// The handle through which writes reach a committer; clones share it.
pub struct GroupCommit<R: Recorder> {
    queue: mpsc::Sender<Job<R>>,
}

impl<R: Recorder> Clone for GroupCommit<R> {
    fn clone(&self) -> Self {
        GroupCommit {
            queue: self.queue.clone(),
        }
    }
}

/// A write waiting to be recorded, and where to send its result.
struct Job<R: Recorder> {
    item: R::Item,
    done: oneshot::Sender<Result<R::Output, StoreError>>,
}

impl<R: Recorder> GroupCommit<R> {
    /// Starts a committer named `name` on a thread of its own; it ends when the last handle is
    /// dropped and the queue drained.
    pub fn start(name: &str, store: Store, recorder: R, limits: Limits) -> std::io::Result<Self> {
        let (queue, waiting) = mpsc::channel(limits.queue_depth.max(1));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let recorder = Arc::new(recorder);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || runtime.block_on(run(store, recorder, waiting, limits)))?;
        Ok(GroupCommit { queue })
    }

    /// Records an item, returning once it is committed.
    pub async fn record(&self, item: R::Item) -> Result<R::Output, StoreError> {
        let (done, result) = oneshot::channel();
        self.queue
            .send(Job { item, done })
            .await
            .map_err(|_| not_recorded())?;
        result.await.map_err(|_| not_recorded())?
    }

    /// Whether the committer thread still runs: its end (or a panic) drops the queue's receiver.
    pub fn is_alive(&self) -> bool {
        !self.queue.is_closed()
    }

    /// Items waiting in the queue (not counting the group being recorded).
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

/// What a writer hears if the committer went away without answering (it stopped, or recording
/// its group panicked).
fn not_recorded() -> StoreError {
    StoreError::Unavailable("the committer failed before recording it".into())
}

async fn run<R: Recorder>(
    store: Store,
    recorder: Arc<R>,
    mut waiting: mpsc::Receiver<Job<R>>,
    limits: Limits,
) {
    let mut held: Option<Job<R>> = None;
    loop {
        let first = match held.take() {
            Some(job) => job,
            None => match waiting.recv().await {
                Some(job) => job,
                None => break,
            },
        };
        let mut weight = R::weight(&first.item);
        let mut group = vec![first];
        while let Ok(job) = waiting.try_recv() {
            let more = R::weight(&job.item);
            if weight + more > limits.group_weight {
                held = Some(job);
                break;
            }
            weight += more;
            group.push(job);
        }
        // A panic fails this group only (its writers hear `not_recorded`); the next goes on.
        let task = tokio::spawn(commit_group(store.clone(), recorder.clone(), group));
        if let Err(error) = task.await {
            tracing::error!(%error, "recording a group of writes panicked");
        }
    }
}

/// Records a group and answers each of its writers.
async fn commit_group<R: Recorder>(store: Store, recorder: Arc<R>, group: Vec<Job<R>>) {
    let (items, senders): (Vec<R::Item>, Vec<_>) =
        group.into_iter().map(|job| (job.item, job.done)).unzip();
    let results = record_together(&store, &*recorder, &items).await;
    for (done, result) in senders.into_iter().zip(results) {
        // A writer that has gone (its client hung up) still had its write recorded.
        let _ = done.send(result);
    }
}

/// Records items as one group now: in one transaction, or each alone in its own if that fails.
/// One result per item, in order.
pub async fn record_together<R: Recorder>(
    store: &Store,
    recorder: &R,
    items: &[R::Item],
) -> Vec<Result<R::Output, StoreError>> {
    if items.len() > 1 {
        match record_in_one_transaction(store, recorder, items).await {
            Ok(outputs) => return outputs.into_iter().map(Ok).collect(),
            // The database refuses for now and no item is at fault: recording each alone would
            // only wait as long again for each.
            Err(error @ StoreError::Unavailable(_)) => {
                tracing::error!(items = items.len(), %error, "cannot record a group of writes");
                let reason = error.to_string();
                return items
                    .iter()
                    .map(|_| Err(StoreError::Unavailable(reason.clone())))
                    .collect();
            }
            Err(error) => tracing::warn!(
                items = items.len(),
                %error,
                "recording a group of writes failed; recording each alone"
            ),
        }
    }
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        let alone = record_in_one_transaction(store, recorder, std::slice::from_ref(item)).await;
        results.push(alone.and_then(|outputs| {
            outputs
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::Corrupt("recording a write returned no result".into()))
        }));
    }
    results
}

async fn record_in_one_transaction<R: Recorder>(
    store: &Store,
    recorder: &R,
    items: &[R::Item],
) -> Result<Vec<R::Output>, StoreError> {
    let mut tx = store.begin_write().await?;
    let outputs = recorder.record(tx.conn(), store, items).await?;
    if outputs.len() != items.len() {
        return Err(StoreError::Corrupt(format!(
            "recording {} writes returned {} results",
            items.len(),
            outputs.len()
        )));
    }
    tx.commit().await?;
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::testing;

    /// Writes notes into a table of the test's own, refusing the note "bad"; each note's output
    /// is its row id.
    struct Notes;

    impl Recorder for Notes {
        type Item = String;
        type Output = i64;

        async fn record(
            &self,
            conn: &mut AnyConnection,
            _store: &Store,
            notes: &[String],
        ) -> Result<Vec<i64>, StoreError> {
            let mut ids = Vec::with_capacity(notes.len());
            for note in notes {
                let id = sqlx::query_scalar("INSERT INTO notes (text) VALUES ($1) RETURNING id")
                    .bind(note)
                    .fetch_one(&mut *conn)
                    .await?;
                ids.push(id);
            }
            Ok(ids)
        }
    }

    async fn store_with_notes() -> (Store, tempfile::TempDir) {
        let (store, dir) = testing::store().await;
        sqlx::query(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL CHECK (text <> 'bad'))",
        )
        .execute(store.pool())
        .await
        .unwrap();
        (store, dir)
    }

    async fn notes(store: &Store) -> Vec<(i64, String)> {
        sqlx::query_as("SELECT id, text FROM notes ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn writes_sent_together_are_each_answered_with_their_own_result() {
        let (store, _dir) = store_with_notes().await;
        let limits = Limits {
            group_weight: 8,
            queue_depth: 4,
        };
        let committer = GroupCommit::start("test-committer", store.clone(), Notes, limits).unwrap();
        let sends: Vec<_> = (0..40)
            .map(|n| {
                let committer = committer.clone();
                tokio::spawn(async move { (n, committer.record(format!("note {n}")).await) })
            })
            .collect();
        let mut answered = Vec::new();
        for send in sends {
            let (n, id) = send.await.unwrap();
            answered.push((id.expect("recorded"), format!("note {n}")));
        }
        answered.sort();
        assert_eq!(answered, notes(&store).await);
        assert!(committer.is_alive());
    }

    #[tokio::test]
    async fn a_failing_write_does_not_fail_the_others_in_its_group() {
        let (store, _dir) = store_with_notes().await;
        let group = ["a", "bad", "c"].map(String::from);

        let results = record_together(&store, &Notes, &group).await;

        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        let error = results[1].as_ref().unwrap_err().to_string();
        assert!(error.contains("CHECK constraint failed"), "{error}");
        let texts: Vec<String> = notes(&store).await.into_iter().map(|n| n.1).collect();
        assert_eq!(texts, ["a", "c"]);
    }
}

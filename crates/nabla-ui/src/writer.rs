//! `nabla server`'s writer: every write a client asks for (a run created, a batch of points,
//! a run updated, MLflow's calls) runs on one thread that owns one connection to the store.
//! It takes the requests waiting at that moment — up to [`GROUP`] — and stores them in one
//! transaction ([`Store::group`]): each request is a savepoint of its own (refused or failed
//! alone), and they are answered once their commit is done. Fifty clients logging at once thus
//! cost a few commits instead of fifty connections queueing for SQLite's write lock.
//!
//! Artifact uploads do not come here: their bytes stream in for as long as the client takes,
//! so they write on their own connection (`crate::upload`).

use std::path::PathBuf;
use std::sync::mpsc;

use nabla_track::{Store, TrackError};
use tokio::sync::oneshot;

/// The most requests stored in one transaction.
const GROUP: usize = 64;

/// A request's write, run on the writer's store (or given why there is none); answers the
/// reply to send once the group's commit is known.
type Job = Box<dyn FnOnce(Result<&mut Store, &TrackError>) -> Reply + Send>;
/// Sends a request's answer, or the commit's error.
type Reply = Box<dyn FnOnce(Option<&TrackError>) + Send>;

/// The handle the handlers send writes to.
#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

fn stopped() -> TrackError {
    TrackError::ServerWrite("the server's writer has stopped".into())
}

impl Writer {
    /// Starts the writer thread for the store in `dir` (opened at the first write).
    pub(crate) fn start(dir: PathBuf) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("nabla-writer".into()).spawn(move || run(&dir, &queue))?;
        Ok(Writer { jobs })
    }

    /// Runs `f` on the writer's store and answers its result once it is committed (or the
    /// commit's error).
    pub(crate) async fn write<T, E>(&self, f: impl FnOnce(&mut Store) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<TrackError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |store: Result<&mut Store, &TrackError>| -> Reply {
            let result = match store {
                Ok(store) => f(store),
                Err(e) => Err(E::from(TrackError::ServerWrite(e.to_string()))),
            };
            Box::new(move |commit_failed: Option<&TrackError>| {
                let result = match commit_failed {
                    Some(e) => Err(E::from(TrackError::ServerWrite(e.to_string()))),
                    None => result,
                };
                let _ = answer.send(result);
            })
        });
        if self.jobs.send(job).is_err() {
            return Err(E::from(stopped()));
        }
        answered.await.unwrap_or_else(|_| Err(E::from(stopped())))
    }
}

/// The writer thread: waits for a request, takes what else is waiting, stores them together.
fn run(dir: &std::path::Path, queue: &mpsc::Receiver<Job>) {
    let mut store: Option<Store> = None;
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // A store that cannot be opened fails this group's requests; the next group tries again.
        let mut s = match store.take().map_or_else(|| Store::open(dir), Ok) {
            Ok(s) => s,
            Err(e) => {
                for job in group {
                    job(Err(&e))(None);
                }
                continue;
            }
        };
        let mut pending = Some(group);
        match s.group(|s| pending.take().unwrap_or_default().into_iter().map(|job| job(Ok(s))).collect::<Vec<_>>()) {
            Ok((replies, Ok(()))) => {
                replies.into_iter().for_each(|reply| reply(None));
                store = Some(s);
            }
            Ok((replies, Err(e))) => replies.into_iter().for_each(|reply| reply(Some(&e))),
            // The transaction did not begin: the requests did not run.
            Err(e) => pending.into_iter().flatten().for_each(|job| job(Err(&e))(None)),
        }
    }
}

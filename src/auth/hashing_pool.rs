//! A small fixed pool of threads for Argon2id work. Each hash takes 19 MiB and tens of
//! milliseconds by design; on the general blocking pool every new thread kept its own 19 MiB
//! (the allocator's per-thread arenas), so a burst of logins grew the service past 900 MB. Here
//! the same few threads (one per core) reuse their memory, and logins queue instead of
//! oversubscribing the CPU that every other request needs too.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct HashingPool {
    jobs: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
#[error("the hashing pool has stopped")]
pub struct PoolStopped;

impl HashingPool {
    /// Starts `threads` workers (at least one).
    pub fn new(threads: usize) -> Self {
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    loop {
                        let job = match receiver.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("a hashing thread starts");
        }
        Self { jobs }
    }

    /// Runs `work` on the pool and waits for it without blocking the caller's thread.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, PoolStopped> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .map_err(|_| PoolStopped)?;
        result.await.map_err(|_| PoolStopped)
    }

    pub async fn hash(&self, secret: String) -> Result<String, PoolStopped> {
        self.run(move || super::password::hash(&secret)).await
    }

    pub async fn verify(&self, phc_hash: String, secret: String) -> Result<bool, PoolStopped> {
        self.run(move || super::password::verify(&phc_hash, &secret)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_made_on_the_pool_verify_there_too() {
        let pool = HashingPool::new(2);
        let hash = pool.hash("a long enough passphrase".into()).await.unwrap();
        assert!(pool.verify(hash.clone(), "a long enough passphrase".into()).await.unwrap());
        assert!(!pool.verify(hash, "another passphrase".into()).await.unwrap());
    }
}

//! The server's connection threads: started as connections come, kept for a
//! moment afterwards to take the next ones (so that a busy page does not
//! start a thread per request), and ended once idle. At most `max` at once.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long an idle thread waits for another connection before it ends.
const IDLE: Duration = Duration::from_secs(2);

type Handler = dyn Fn(TcpStream) + Send + Sync;

#[derive(Default)]
struct Queue {
    waiting: VecDeque<TcpStream>,
    idle: usize,
    threads: usize,
}

pub(crate) struct Workers {
    queue: Mutex<Queue>,
    ready: Condvar,
    max: usize,
    handler: Box<Handler>,
}

impl Workers {
    pub fn new(max: usize, handler: impl Fn(TcpStream) + Send + Sync + 'static) -> Arc<Workers> {
        Arc::new(Workers { queue: Mutex::new(Queue::default()), ready: Condvar::new(), max, handler: Box::new(handler) })
    }

    /// Hands `stream` to an idle thread, or to a new one; gives it back when
    /// `max` threads are busy already.
    pub fn dispatch(self: &Arc<Self>, stream: TcpStream) -> Result<(), TcpStream> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.idle > q.waiting.len() {
            q.waiting.push_back(stream);
            self.ready.notify_one();
            return Ok(());
        }
        if q.threads >= self.max {
            return Err(stream);
        }
        q.threads += 1;
        drop(q);
        let me = self.clone();
        let started = std::thread::Builder::new().name("strata-dashboard-conn".into()).spawn(move || me.work(stream));
        if started.is_err() {
            self.queue.lock().unwrap_or_else(|e| e.into_inner()).threads -= 1;
        }
        Ok(())
    }

    fn work(&self, first: TcpStream) {
        super::yield_to_training();
        (self.handler)(first);
        loop {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.idle += 1;
            if q.waiting.is_empty() {
                q = self.ready.wait_timeout(q, IDLE).unwrap_or_else(|e| e.into_inner()).0;
            }
            q.idle -= 1;
            match q.waiting.pop_front() {
                Some(stream) => {
                    drop(q);
                    (self.handler)(stream);
                }
                None => {
                    q.threads -= 1;
                    return;
                }
            }
        }
    }
}

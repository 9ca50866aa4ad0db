//! Recycled `f32` buffers. A training step allocates the same sizes every
//! time (activations, im2col matrices, gradients); handing freed buffers back
//! to the next step avoids fresh pages from the OS (page faults, zeroing) and
//! keeps memory flat. Buffers are matched by exact length, and the pool is
//! capped so it never holds more than `MAX_POOLED_BYTES`.

use std::collections::HashMap;
use std::sync::Mutex;

/// Buffers shorter than this are cheap to allocate and are not pooled.
const MIN_POOLED_LEN: usize = 1 << 12;
const MAX_POOLED_BYTES: usize = 1 << 29;

struct Pool {
    by_len: HashMap<usize, Vec<Vec<f32>>>,
    bytes: usize,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(|| Pool { by_len: HashMap::new(), bytes: 0 }))
}

/// A buffer of `len` values whose contents are unspecified (stale numbers
/// from an earlier use). For outputs that are written in full.
pub fn take(len: usize) -> Vec<f32> {
    if len >= MIN_POOLED_LEN {
        let reused = with_pool(|p| {
            let v = p.by_len.get_mut(&len)?.pop()?;
            p.bytes -= len * 4;
            Some(v)
        });
        if let Some(v) = reused {
            return v;
        }
    }
    vec![0.0; len]
}

/// A buffer of `len` zeros.
pub fn zeros(len: usize) -> Vec<f32> {
    let mut v = take(len);
    v.fill(0.0);
    v
}

/// Hands a buffer back for reuse.
pub fn give(v: Vec<f32>) {
    let len = v.len();
    if len < MIN_POOLED_LEN || v.capacity() != len {
        return;
    }
    with_pool(|p| {
        if p.bytes + len * 4 <= MAX_POOLED_BYTES {
            p.bytes += len * 4;
            p.by_len.entry(len).or_default().push(v);
        }
    });
}

/// A buffer that goes back to the pool when dropped (for data an op keeps
/// for its backward pass).
pub struct Recycled(pub Vec<f32>);

impl Drop for Recycled {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

impl std::ops::Deref for Recycled {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_buffers_of_the_same_length() {
        let len = MIN_POOLED_LEN * 3 + 1;
        let mut v = take(len);
        v[7] = 42.0;
        let ptr = v.as_ptr();
        give(v);
        let again = take(len);
        assert_eq!(again.len(), len);
        // Another test may have taken it in between; when we got it back, it is the same memory.
        if again.as_ptr() == ptr {
            assert_eq!(again[7], 42.0);
        }
        assert!(zeros(len).iter().all(|&x| x == 0.0));
    }
}

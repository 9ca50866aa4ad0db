//! Recycled buffers (of `f32`, and of `u8`). A training step allocates the same sizes every
//! time (activations, im2col matrices, gradients); handing freed buffers back
//! to the next step avoids fresh pages from the OS (page faults, zeroing) and
//! keeps memory flat. Buffers are matched by exact length, and the pool is
//! capped so it never holds more than `MAX_POOLED_BYTES`.

use std::collections::HashMap;
use std::sync::Mutex;

/// Buffers shorter than this are cheap to allocate and are not pooled.
const MIN_POOLED_LEN: usize = 1 << 12;
const MAX_POOLED_BYTES: usize = 1 << 29;

#[doc(hidden)]
pub struct Pool<T> {
    by_len: HashMap<usize, Vec<Vec<T>>>,
    bytes: usize,
}

/// Element types with a pool of their own: `f32` values, and `u8` (the
/// positions of max-pooling winners).
pub trait Pooled: Copy + Default + Send + 'static {
    #[doc(hidden)]
    fn pool() -> &'static Mutex<Option<Pool<Self>>>;
}

static F32_POOL: Mutex<Option<Pool<f32>>> = Mutex::new(None);
static U8_POOL: Mutex<Option<Pool<u8>>> = Mutex::new(None);

impl Pooled for f32 {
    fn pool() -> &'static Mutex<Option<Pool<f32>>> {
        &F32_POOL
    }
}

impl Pooled for u8 {
    fn pool() -> &'static Mutex<Option<Pool<u8>>> {
        &U8_POOL
    }
}

fn with_pool<T: Pooled, R>(f: impl FnOnce(&mut Pool<T>) -> R) -> R {
    let mut guard = T::pool().lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(|| Pool { by_len: HashMap::new(), bytes: 0 }))
}

/// A buffer of `len` values whose contents are unspecified (stale numbers
/// from an earlier use). For outputs that are written in full.
pub fn take<T: Pooled>(len: usize) -> Vec<T> {
    if len >= MIN_POOLED_LEN {
        let reused = with_pool(|p: &mut Pool<T>| {
            let v = p.by_len.get_mut(&len)?.pop()?;
            p.bytes -= len * size_of::<T>();
            Some(v)
        });
        if let Some(v) = reused {
            return v;
        }
    }
    vec![T::default(); len]
}

/// A pooled copy of `values`.
pub fn copy_of(values: &[f32]) -> Vec<f32> {
    let mut v = take(values.len());
    v.copy_from_slice(values);
    v
}

/// A buffer of `len` zeros.
pub fn zeros(len: usize) -> Vec<f32> {
    let mut v = take(len);
    v.fill(0.0);
    v
}

/// Hands a buffer back for reuse.
pub fn give<T: Pooled>(v: Vec<T>) {
    let len = v.len();
    if len < MIN_POOLED_LEN || v.capacity() != len {
        return;
    }
    with_pool(|p: &mut Pool<T>| {
        if p.bytes + len * size_of::<T>() <= MAX_POOLED_BYTES {
            p.bytes += len * size_of::<T>();
            p.by_len.entry(len).or_default().push(v);
        }
    });
}

/// A buffer that goes back to the pool when dropped (for data an op keeps
/// for its backward pass).
pub struct Recycled<T: Pooled = f32>(pub Vec<T>);

impl<T: Pooled> Drop for Recycled<T> {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

impl<T: Pooled> std::ops::Deref for Recycled<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: Pooled> std::ops::DerefMut for Recycled<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
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

//! Taking the server's shared locks even when poisoned. A request that panicked while holding one
//! leaves it poisoned; what these guard is memory the server re-checks or rebuilds anyway (the
//! gateway cache, remembered tokens and answers, rate windows), so one panic must not turn every
//! later request into a 500.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

pub fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

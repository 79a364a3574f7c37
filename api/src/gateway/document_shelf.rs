//! The bytes of built snapshot documents, kept up to a byte budget, most recently sent last.
//!
//! A site's view keeps its document's tag for as long as the view lives (a 304, and a long-poll's
//! wait, need nothing more) but only a weak reference to the bytes; this shelf holds the strong
//! ones. Past the budget the least recently sent are let go, and built again the next time a body
//! is asked for. Without it a fleet of 1,000 sites held every site's document, plain and gzipped,
//! beside its view once each had been fetched: at 1,000,000 mappings, half a gigabyte more.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::gauge::Gauge;

use super::site_view::Document;
use crate::locks::lock;

pub struct DocumentShelf {
    budget: usize,
    held: Mutex<Shelf>,
    /// The bytes on the shelf, for `/metrics`.
    bytes: Gauge,
}

#[derive(Default)]
struct Shelf {
    docs: VecDeque<Arc<Document>>,
    bytes: usize,
}

impl DocumentShelf {
    pub fn new(budget: usize, bytes: Gauge) -> Self {
        Self { budget, held: Mutex::default(), bytes }
    }

    /// Puts `doc` last (first to stay), letting go of the least recently sent past the budget. The
    /// one just asked for always stays, even alone over the budget: building it again for every
    /// request would cost far more than the memory.
    pub fn keep(&self, doc: &Arc<Document>) {
        let mut shelf = lock(&self.held);
        match shelf.docs.iter().rposition(|d| Arc::ptr_eq(d, doc)) {
            Some(at) if at + 1 == shelf.docs.len() => return,
            Some(at) => {
                let doc = shelf.docs.remove(at).expect("found above");
                shelf.docs.push_back(doc);
                return;
            }
            None => {
                shelf.bytes += doc.size();
                shelf.docs.push_back(doc.clone());
            }
        }
        let mut gone = Vec::new();
        while shelf.bytes > self.budget && shelf.docs.len() > 1 {
            let doc = shelf.docs.pop_front().expect("more than one");
            shelf.bytes -= doc.size();
            gone.push(doc);
        }
        self.bytes.set(i64::try_from(shelf.bytes).unwrap_or(i64::MAX));
        // Freed after the lock: a large document's bytes are the last reference here.
        drop(shelf);
        drop(gone);
    }

    #[cfg(test)]
    fn held(&self) -> Vec<Arc<Document>> {
        self.held.lock().unwrap().docs.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::site_view::Stamp;

    fn doc(size: usize) -> Arc<Document> {
        let stamp = Stamp::for_test(&format!("\"{size}\""));
        Arc::new(Document { stamp, json: vec![b' '; size].into(), gzip: Vec::new().into() })
    }

    fn sizes(shelf: &DocumentShelf) -> Vec<usize> {
        shelf.held().iter().map(|d| d.size()).collect()
    }

    #[test]
    fn lets_go_of_the_least_recently_sent_past_the_budget() {
        let shelf = DocumentShelf::new(100, Gauge::default());
        let (a, b, c) = (doc(40), doc(41), doc(42));
        shelf.keep(&a);
        shelf.keep(&b);
        shelf.keep(&a); // sent again: b is now the oldest
        shelf.keep(&c);
        assert_eq!(sizes(&shelf), [40, 42]);
        assert_eq!(shelf.bytes.get(), 82);
    }

    #[test]
    fn keeps_the_one_just_asked_for_even_over_the_budget() {
        let shelf = DocumentShelf::new(100, Gauge::default());
        shelf.keep(&doc(10));
        shelf.keep(&doc(500));
        assert_eq!(sizes(&shelf), [500]);
        let again = doc(20);
        shelf.keep(&again);
        shelf.keep(&again);
        assert_eq!(sizes(&shelf), [20]);
    }
}

//! A small table of answers the SQL layer keeps across sessions (parsed
//! query strings, bound index keys): bounded, shared behind one lock, and
//! started over when full rather than aged entry by entry, since what it
//! saves is cheap to make again and a workload repeats a few texts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Answers by text, at most `max` of them.
pub struct Memo<V> {
    entries: Mutex<HashMap<String, Arc<V>>>,
    max: usize,
}

impl<V: Clone> Memo<V> {
    /// An empty memo that keeps at most `max` answers.
    pub fn new(max: usize) -> Memo<V> {
        assert!(max > 0, "a memo keeps something");
        Memo {
            entries: Mutex::new(HashMap::new()),
            max,
        }
    }

    /// The answer kept for `key`, copied outside the lock (sessions share
    /// it).
    pub fn get(&self, key: &str) -> Option<V> {
        let kept = self.entries.lock().expect("memo lock").get(key).cloned();
        kept.map(|v| v.as_ref().clone())
    }

    /// Keeps `value` for `key`, starting over when full.
    pub fn insert(&self, key: String, value: V) {
        let value = Arc::new(value);
        let mut entries = self.entries.lock().expect("memo lock");
        if entries.len() >= self.max {
            entries.clear();
        }
        entries.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_answers_and_starts_over_when_full() {
        let memo = Memo::new(2);
        memo.insert("a".into(), 1);
        memo.insert("b".into(), 2);
        assert_eq!(
            (memo.get("a"), memo.get("b"), memo.get("c")),
            (Some(1), Some(2), None)
        );
        memo.insert("c".into(), 3);
        assert_eq!((memo.get("a"), memo.get("c")), (None, Some(3)));
    }
}

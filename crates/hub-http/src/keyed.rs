//! Maps keyed by an owned name (a key id, an account) that the request path updates on every
//! call: looked up by `&str`, so the name is copied only when its entry is new.

use std::collections::HashMap;
use std::hash::BuildHasher;

/// Runs `f` on the entry for `name`, creating it with `make` first if there is none.
pub(crate) fn with_entry<V, R, S: BuildHasher>(map: &mut HashMap<String, V, S>, name: &str, make: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> R) -> R {
    if let Some(v) = map.get_mut(name) {
        return f(v);
    }
    f(map.entry(name.to_owned()).or_insert_with(make))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_updates_in_place() {
        let mut m: HashMap<String, u32> = HashMap::new();
        assert_eq!(with_entry(&mut m, "a", || 10, |v| { *v += 1; *v }), 11);
        assert_eq!(with_entry(&mut m, "a", || 100, |v| { *v += 1; *v }), 12);
        assert_eq!(m.len(), 1);
    }
}

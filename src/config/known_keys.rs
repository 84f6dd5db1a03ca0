//! The keys `config.toml.example` documents (every key is documented there, a test in
//! `tests/cli.rs` holds it to the code), used to suggest the key a typo meant.

const EXAMPLE: &str = include_str!("../../config.toml.example");

/// `section.key` for every key the example shows, set or commented out.
pub fn known_keys() -> Vec<String> {
    let mut section = "";
    let mut keys = Vec::new();
    for line in EXAMPLE.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
            continue;
        }
        let text = line.trim_start_matches('#').trim_start();
        let Some((key, _)) = text.split_once('=') else {
            continue;
        };
        let key = key.trim_end();
        if !section.is_empty()
            && !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            keys.push(format!("{section}.{key}"));
        }
    }
    keys
}

/// The known key closest to `key`, when it is close enough to be the one meant.
pub fn suggest(key: &str) -> Option<String> {
    let known = known_keys();
    let (best, distance) = known
        .iter()
        .map(|k| (k, edit_distance(k, key)))
        .min_by_key(|(_, d)| *d)?;
    (distance > 0 && distance <= 2.max(key.len() / 5)).then(|| best.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_documents_the_keys_and_typos_find_them() {
        let keys = known_keys();
        for key in [
            "server.listen",
            "smtp.host",
            "server.public_url",
            "market.stream_url",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
        assert_eq!(suggest("server.lisen").as_deref(), Some("server.listen"));
        assert_eq!(suggest("smtp.hots").as_deref(), Some("smtp.host"));
        assert_eq!(
            suggest("server.listen"),
            None,
            "a known key needs no suggestion"
        );
        assert_eq!(suggest("something.else.entirely"), None);
    }
}

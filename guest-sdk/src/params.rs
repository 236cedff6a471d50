//! The text parameter format shared by the example agents and invariants.
//!
//! A pack's parameters are opaque bytes to the host; this format is a
//! convention so that goal invariants (e.g. parameter bounds) can read what
//! agents read. Grammar:
//!
//! ```text
//! params  = [ entry *( sep entry ) ]
//! sep     = "," | "\n"            (a "\r" before "\n" is ignored)
//! entry   = ws key ws "=" ws value ws  |  ws            (empty entries are skipped)
//! key     = 1*( ALPHA | DIGIT | "_" | "-" | "." )
//! value   = *( any UTF-8 except "," and "\n" )          (trimmed)
//! ```
//! Keys must be unique. Example: `short=5,long=20`. Empty input is valid and
//! means "all defaults".

/// Why parameter bytes were refused; converts into `String` so an agent's
/// `init` can use `?`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// The bytes are not UTF-8.
    #[error("params are not valid UTF-8")]
    NotUtf8,
    /// An entry has no `=`.
    #[error("params entry {0:?} is not of the form key=value")]
    MissingEquals(String),
    /// A key is empty or contains characters outside `[A-Za-z0-9_.-]`.
    #[error("params key {0:?} is empty or has characters outside [A-Za-z0-9_.-]")]
    BadKey(String),
    /// The same key appears twice.
    #[error("params key {0:?} appears more than once")]
    DuplicateKey(String),
    /// A key the reader does not know.
    #[error("unknown params key {key:?} (known: {known})")]
    UnknownKey {
        /// The offending key.
        key: String,
        /// Comma-separated list of accepted keys.
        known: String,
    },
    /// A value does not parse as the requested number type.
    #[error("params value {value:?} for key {key:?} is not a valid {expected}")]
    BadValue {
        /// The key.
        key: String,
        /// The raw value.
        value: String,
        /// The expected type, e.g. "finite number".
        expected: &'static str,
    },
}

impl From<ParamsError> for String {
    fn from(e: ParamsError) -> String {
        e.to_string()
    }
}

/// Parsed `key=value` parameters, in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    entries: Vec<(String, String)>,
}

impl Params {
    /// Parses parameter bytes; see the module docs for the grammar.
    pub fn parse(bytes: &[u8]) -> Result<Params, ParamsError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ParamsError::NotUtf8)?;
        let mut entries: Vec<(String, String)> = Vec::new();
        for raw in text.split([',', '\n']) {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| ParamsError::MissingEquals(entry.to_string()))?;
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                return Err(ParamsError::BadKey(key.to_string()));
            }
            if entries.iter().any(|(k, _)| k == key) {
                return Err(ParamsError::DuplicateKey(key.to_string()));
            }
            entries.push((key.to_string(), value.to_string()));
        }
        Ok(Params { entries })
    }

    /// The raw value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All entries in input order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entries were given.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Fails on the first key not in `known`, so typos in a pack's params
    /// surface at `init` instead of silently falling back to defaults.
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), ParamsError> {
        match self
            .entries
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((key, _)) => Err(ParamsError::UnknownKey {
                key: key.clone(),
                known: known.join(","),
            }),
            None => Ok(()),
        }
    }

    /// `key` as a finite `f64`, or `default` when absent.
    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64, ParamsError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => Err(bad(key, v, "finite number")),
            },
        }
    }

    /// `key` as a `u64`, or `default` when absent.
    pub fn u64_or(&self, key: &str, default: u64) -> Result<u64, ParamsError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| bad(key, v, "non-negative integer")),
        }
    }

    /// `key` as a `usize`, or `default` when absent.
    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize, ParamsError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| bad(key, v, "non-negative integer")),
        }
    }
}

fn bad(key: &str, value: &str, expected: &'static str) -> ParamsError {
    ParamsError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comma_and_newline_separated_entries_in_order() {
        let p = Params::parse(b"short=5, long = 20\nfee.bps=0.5\r\n").unwrap();
        let entries: Vec<_> = p.iter().collect();
        assert_eq!(
            entries,
            vec![("short", "5"), ("long", "20"), ("fee.bps", "0.5")]
        );
    }

    #[test]
    fn empty_input_means_no_entries() {
        assert!(Params::parse(b"").unwrap().is_empty());
        assert!(Params::parse(b" ,\n, ").unwrap().is_empty());
    }

    #[test]
    fn missing_keys_fall_back_to_defaults() {
        let p = Params::parse(b"a=1").unwrap();
        assert_eq!(p.f64_or("b", 2.5), Ok(2.5));
        assert_eq!(p.usize_or("a", 9), Ok(1));
    }

    #[test]
    fn rejects_entry_without_equals() {
        assert_eq!(
            Params::parse(b"a=1,oops"),
            Err(ParamsError::MissingEquals("oops".into()))
        );
    }

    #[test]
    fn rejects_duplicate_keys() {
        assert_eq!(
            Params::parse(b"a=1,a=2"),
            Err(ParamsError::DuplicateKey("a".into()))
        );
    }

    #[test]
    fn rejects_bad_keys() {
        assert_eq!(Params::parse(b"=1"), Err(ParamsError::BadKey("".into())));
        assert_eq!(
            Params::parse(b"a b=1"),
            Err(ParamsError::BadKey("a b".into()))
        );
    }

    #[test]
    fn rejects_non_utf8() {
        assert_eq!(
            Params::parse(&[0xff, b'=', b'1']),
            Err(ParamsError::NotUtf8)
        );
    }

    #[test]
    fn f64_refuses_non_finite_and_garbage() {
        let p = Params::parse(b"a=nan,b=inf,c=x,d=-1e3").unwrap();
        assert!(matches!(
            p.f64_or("a", 0.0),
            Err(ParamsError::BadValue { .. })
        ));
        assert!(matches!(
            p.f64_or("b", 0.0),
            Err(ParamsError::BadValue { .. })
        ));
        assert!(matches!(
            p.f64_or("c", 0.0),
            Err(ParamsError::BadValue { .. })
        ));
        assert_eq!(p.f64_or("d", 0.0), Ok(-1000.0));
    }

    #[test]
    fn integers_refuse_negative_values() {
        let p = Params::parse(b"n=-3").unwrap();
        assert!(matches!(
            p.usize_or("n", 0),
            Err(ParamsError::BadValue { .. })
        ));
        assert!(matches!(
            p.u64_or("n", 0),
            Err(ParamsError::BadValue { .. })
        ));
    }

    #[test]
    fn reject_unknown_names_the_stray_key() {
        let p = Params::parse(b"short=5,lnog=20").unwrap();
        assert_eq!(
            p.reject_unknown(&["short", "long"]),
            Err(ParamsError::UnknownKey {
                key: "lnog".into(),
                known: "short,long".into()
            })
        );
        assert_eq!(p.reject_unknown(&["short", "lnog"]), Ok(()));
    }

    #[test]
    fn value_may_contain_equals_sign() {
        let p = Params::parse(b"expr=a=b").unwrap();
        assert_eq!(p.get("expr"), Some("a=b"));
    }
}

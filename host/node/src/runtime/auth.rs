//! Operator authentication: a bearer key compared in constant time, so the
//! response time does not reveal how many leading bytes of a guess were right.

use subtle::ConstantTimeEq;

/// The operator key, hashed so that the comparison also hides the length.
#[derive(Clone)]
pub struct OperatorKey {
    digest: [u8; 32],
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorKey(..)")
    }
}

impl OperatorKey {
    /// Wrap a key.
    pub fn new(key: &str) -> Self {
        OperatorKey {
            digest: digest(key.as_bytes()),
        }
    }

    /// Check an `Authorization` header value (`Bearer <key>`).
    pub fn check_header(&self, header: Option<&str>) -> bool {
        let Some(h) = header else { return false };
        let Some(presented) = h.strip_prefix("Bearer ") else {
            return false;
        };
        bool::from(digest(presented.trim().as_bytes()).ct_eq(&self.digest))
    }
}

fn digest(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"ian/operator-key/v1");
    h.update(b);
    h.finalize().into()
}

/// A fresh random operator key (hex, 32 bytes of entropy).
pub fn generate_key() -> String {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("OS randomness");
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_exact_bearer_key() {
        let k = OperatorKey::new("0123456789abcdef0123");
        assert!(k.check_header(Some("Bearer 0123456789abcdef0123")));
        assert!(!k.check_header(Some("Bearer 0123456789abcdef012")));
        assert!(!k.check_header(Some("0123456789abcdef0123")));
        assert!(!k.check_header(None));
    }
}

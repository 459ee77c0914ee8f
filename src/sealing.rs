//! Sealing of retained transcript text: XChaCha20-Poly1305 (an authenticated cipher) under keys
//! from `RAPPORT_TRANSCRIPT_KEYS`, each named by an id stored beside what it sealed, so keys can
//! rotate (docs/security.md, section 15). The associated data binds a sealed text to its row:
//! a sealed value copied to another session or version does not open.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const NONCE_BYTES: usize = 24;

/// The configured keys; the first seals, all open.
#[derive(Clone)]
pub struct TextVault {
    keys: Vec<(String, XChaCha20Poly1305)>,
}

impl std::fmt::Debug for TextVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("TextVault").field("key_ids", &ids).finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("no key with id `{0}` is configured (RAPPORT_TRANSCRIPT_KEYS)")]
    UnknownKey(String),
    #[error("the sealed text does not open: it was altered, or belongs to another record")]
    Tampered,
}

impl TextVault {
    /// Parses `id:base64-of-32-bytes[,id:…]`; the first key seals new text.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut keys: Vec<(String, XChaCha20Poly1305)> = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (id, encoded) = item.split_once(':').ok_or("each key is `id:base64`")?;
            let id = id.trim();
            if id.is_empty()
                || id.len() > 32
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err("a key id is 1–32 of A-Z, a-z, 0-9, - and _".into());
            }
            if keys.iter().any(|(seen, _)| seen == id) {
                return Err(format!("key id `{id}` is given twice"));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| format!("key `{id}` is not base64"))?;
            if bytes.len() != 32 {
                return Err(format!("key `{id}` must be 32 bytes (it is {})", bytes.len()));
            }
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| format!("key `{id}` is unusable"))?;
            keys.push((id.to_owned(), cipher));
        }
        if keys.is_empty() {
            return Err("no key given".into());
        }
        Ok(Self { keys })
    }

    /// The id of the key that seals new text.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `plain`; returns the key id and nonce ‖ ciphertext.
    pub fn seal(&self, plain: &[u8], bound_to: &[u8]) -> (String, Vec<u8>) {
        let (id, cipher) = &self.keys[0];
        let nonce_bytes: [u8; NONCE_BYTES] = rand::random();
        let sealed = cipher
            .encrypt(&XNonce::from(nonce_bytes), Payload { msg: plain, aad: bound_to })
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        (id.clone(), out)
    }

    pub fn open(&self, key_id: &str, sealed: &[u8], bound_to: &[u8]) -> Result<Vec<u8>, SealError> {
        let (_, cipher) =
            self.keys.iter().find(|(id, _)| id == key_id).ok_or_else(|| SealError::UnknownKey(key_id.to_owned()))?;
        if sealed.len() < NONCE_BYTES {
            return Err(SealError::Tampered);
        }
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SealError::Tampered)?;
        cipher.decrypt(&XNonce::from(nonce), Payload { msg: body, aad: bound_to }).map_err(|_| SealError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn sealed_text_opens_only_with_its_key_and_its_binding() {
        let vault = TextVault::parse(&format!("k2:{K2},k1:{K1}")).unwrap();
        let (id, sealed) = vault.seal(b"hello", b"row-1");
        assert_eq!(id, "k2");
        assert_eq!(vault.open("k2", &sealed, b"row-1").unwrap(), b"hello");
        assert_eq!(vault.open("k2", &sealed, b"row-2"), Err(SealError::Tampered));
        assert_eq!(vault.open("k9", &sealed, b"row-1"), Err(SealError::UnknownKey("k9".into())));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(vault.open("k2", &altered, b"row-1"), Err(SealError::Tampered));
        // After rotation (k1 first) what k2 sealed still opens.
        let rotated = TextVault::parse(&format!("k1:{K1},k2:{K2}")).unwrap();
        assert_eq!(rotated.open("k2", &sealed, b"row-1").unwrap(), b"hello");
    }

    #[test]
    fn malformed_key_lists_are_refused() {
        for raw in ["", "k1", "k1:notbase64!", "k1:AAAA", &format!("k1:{K1},k1:{K2}"), &format!("bad id:{K1}")] {
            assert!(TextVault::parse(raw).is_err(), "{raw:?}");
        }
    }
}

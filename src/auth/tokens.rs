//! Random secrets and HMAC-SHA256 signed tokens.
//!
//! Signed token layout: `<kind>.<field>.<field>…<expiry unix secs>.<hex signature>`; fields are
//! UUIDs or short tags, so `.` never appears inside one. The signature covers everything before
//! the last dot.
//!
//! Visitor tokens end with an identity field: `a` (anonymous) or `e<n>` (a verified user, signed
//! in under the inbox's identity epoch `n`; rotating the inbox's secret bumps the epoch and so
//! signs every verified visitor out). Tokens from before that field existed have none.
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// `n` random bytes from the OS, hex encoded.
pub fn random_hex(n: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("OS random generator failed: {e}"))?;
    Ok(hex(&buf))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    // Digits only: `from_str_radix` also takes a leading `+`, so "+a" read as "0a".
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// SHA-256 of a bearer token, as stored in the database.
pub fn sha256_hex(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Claims of a visitor (widget) session token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorClaims {
    pub account_id: Uuid,
    pub inbox_id: Uuid,
    pub contact_id: Uuid,
    pub conversation_id: Uuid,
    pub identity: VisitorIdentity,
}

impl VisitorClaims {
    /// For a verified user's token: the inbox and identity epoch it was issued in.
    pub fn verified_in(&self) -> Option<(Uuid, i32)> {
        match self.identity {
            VisitorIdentity::Verified { epoch } => Some((self.inbox_id, epoch)),
            _ => None,
        }
    }
}

/// Who a visitor token was issued to, as far as revocation is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitorIdentity {
    /// A browser without a verified identity: the token is its only link to its conversation,
    /// so a secret rotation leaves it alone.
    Anonymous,
    /// A user verified with the inbox's identity secret during identity epoch `epoch`.
    Verified { epoch: i32 },
    /// Issued before tokens said (anonymous or verified: the contact tells).
    Legacy,
}

/// Claims of a short-lived token that opens an agent socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketClaims {
    pub agent_id: Uuid,
    pub account_id: Uuid,
    /// The login session that minted it; the socket dies with that session.
    pub session_id: Uuid,
}

#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    /// The CSRF token of a login session: forms and state-changing requests made with the
    /// session cookie must carry it.
    pub fn csrf_token(&self, session_id: uuid::Uuid) -> String {
        let mut mac = self.mac();
        mac.update(b"csrf.");
        mac.update(session_id.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// Constant-time check of a CSRF token.
    pub fn csrf_ok(&self, session_id: uuid::Uuid, given: &str) -> bool {
        let Some(bytes) = unhex(given) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(b"csrf.");
        mac.update(session_id.as_bytes());
        mac.verify_slice(&bytes).is_ok()
    }

    fn sign(&self, fields: &[String], expires: i64) -> String {
        let payload = format!("{}.{}", fields.join("."), expires);
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!("{payload}.{}", hex(&mac.finalize().into_bytes()))
    }

    /// Returns the fields after the kind if the signature is valid and the token is not expired.
    fn open<'a>(&self, token: &'a str, kind: &str, now: i64) -> Option<Vec<&'a str>> {
        if token.len() > 512 {
            return None;
        }
        let (payload, sig) = token.rsplit_once('.')?;
        // We only ever write lowercase: one set of claims has one spelling (found by src/props.rs).
        if sig.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&unhex(sig)?).ok()?;
        let mut parts: Vec<&str> = payload.split('.').collect();
        let expires: i64 = parts.pop()?.parse().ok()?;
        if expires < now || parts.first() != Some(&kind) {
            return None;
        }
        Some(parts.split_off(1))
    }

    pub fn visitor_token(&self, c: &VisitorClaims, expires: i64) -> String {
        let f = [c.account_id, c.inbox_id, c.contact_id, c.conversation_id];
        let mut fields = vec!["vt".to_string()];
        fields.extend(f.iter().map(Uuid::to_string));
        match c.identity {
            VisitorIdentity::Anonymous => fields.push("a".into()),
            VisitorIdentity::Verified { epoch } => fields.push(format!("e{epoch}")),
            VisitorIdentity::Legacy => {}
        }
        self.sign(&fields, expires)
    }

    /// The claims of a genuine, unexpired visitor token. Whether its identity epoch is still
    /// current is for the caller to check against the inbox (`inboxes::settings::token_current`).
    pub fn open_visitor(&self, token: &str, now: i64) -> Option<VisitorClaims> {
        let p = self.open(token, "vt", now)?;
        let (ids, identity) = match p.as_slice() {
            [ids @ .., "a"] if ids.len() == 4 => (ids, VisitorIdentity::Anonymous),
            [ids @ .., e] if ids.len() == 4 => (
                ids,
                VisitorIdentity::Verified {
                    epoch: e.strip_prefix('e')?.parse().ok()?,
                },
            ),
            ids => (ids, VisitorIdentity::Legacy),
        };
        let [a, i, c, v] = ids else {
            return None;
        };
        Some(VisitorClaims {
            account_id: a.parse().ok()?,
            inbox_id: i.parse().ok()?,
            contact_id: c.parse().ok()?,
            conversation_id: v.parse().ok()?,
            identity,
        })
    }

    pub fn socket_token(&self, c: &SocketClaims, expires: i64) -> String {
        let fields = vec![
            "st".to_string(),
            c.agent_id.to_string(),
            c.account_id.to_string(),
            c.session_id.to_string(),
        ];
        self.sign(&fields, expires)
    }

    pub fn open_socket(&self, token: &str, now: i64) -> Option<SocketClaims> {
        let p = self.open(token, "st", now)?;
        let [a, acc, sess] = p.as_slice() else {
            return None;
        };
        Some(SocketClaims {
            agent_id: a.parse().ok()?,
            account_id: acc.parse().ok()?,
            session_id: sess.parse().ok()?,
        })
    }
}

impl Signer {
    /// A device cookie's value: this browser signed in to `email`'s account before, until
    /// `expires`. The email is hashed (it may hold dots, and the cookie need not reveal it).
    pub fn device_token(&self, email: &str, expires: i64) -> String {
        let fields = ["dv".to_string(), sha256_hex(&email.trim().to_lowercase())];
        self.sign(&fields, expires)
    }

    /// Whether `token` is a valid, unexpired device cookie for `email`.
    pub fn device_ok(&self, token: &str, email: &str, now: i64) -> bool {
        let want = sha256_hex(&email.trim().to_lowercase());
        self.open(token, "dv", now)
            .is_some_and(|p| p.as_slice() == [want.as_str()])
    }
}

/// Identity verification: `user_hash` must be hex HMAC-SHA256(secret, user_id) (the scheme
/// Intercom and Chatwoot use). Constant-time.
pub fn user_hash_ok(secret: &str, user_id: &str, given: &str) -> bool {
    let Some(bytes) = unhex(given.trim()) else {
        return false;
    };
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(user_id.as_bytes());
    mac.verify_slice(&bytes).is_ok()
}

/// Computes a `user_hash` (for tests and the admin page's example).
pub fn user_hash(secret: &str, user_id: &str) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(user_id.as_bytes());
    hex(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_round_trip_and_reject_tampering() {
        let s = Signer::new(b"k1");
        let c = VisitorClaims {
            account_id: Uuid::new_v4(),
            inbox_id: Uuid::new_v4(),
            contact_id: Uuid::new_v4(),
            conversation_id: Uuid::new_v4(),
            identity: VisitorIdentity::Verified { epoch: 7 },
        };
        for identity in [VisitorIdentity::Anonymous, VisitorIdentity::Legacy] {
            let other = VisitorClaims { identity, ..c };
            let t = s.visitor_token(&other, 100);
            assert_eq!(s.open_visitor(&t, 50), Some(other));
        }
        let t = s.visitor_token(&c, 100);
        assert_eq!(s.open_visitor(&t, 50), Some(c));
        let older = t.replacen(".e7.", ".e6.", 1);
        assert_eq!(s.open_visitor(&older, 50), None, "epoch is signed");
        assert_eq!(s.open_visitor(&t, 101), None, "expired");
        assert_eq!(Signer::new(b"k2").open_visitor(&t, 50), None, "other key");
        let forged = t.replacen(&c.contact_id.to_string(), &Uuid::new_v4().to_string(), 1);
        assert_eq!(s.open_visitor(&forged, 50), None, "tampered");
        assert_eq!(s.open_socket(&t, 50), None, "wrong kind");
    }

    #[test]
    fn device_tokens_name_one_email() {
        let s = Signer::new(b"k1");
        let t = s.device_token("Owner@Acme.example", 100);
        assert!(s.device_ok(&t, "owner@acme.example ", 50));
        assert!(!s.device_ok(&t, "other@acme.example", 50));
        assert!(!s.device_ok(&t, "owner@acme.example", 101), "expired");
        assert!(!Signer::new(b"k2").device_ok(&t, "owner@acme.example", 50));
    }
}

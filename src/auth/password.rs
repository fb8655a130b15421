//! Password hashing with argon2id (default parameters, per-hash random salt).
use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier},
};

pub fn hash(password: &str) -> anyhow::Result<String> {
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

/// False on a wrong password and on a malformed stored hash alike.
pub fn verify(password: &str, stored: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// Runs the hash once on a throwaway value so a login for an unknown email takes as long as one
/// for a known email (no account enumeration by timing).
pub fn burn_time(password: &str) {
    let _ = Argon2::default().hash_password(password.as_bytes());
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_and_verify() {
        let h = super::hash("correct horse").unwrap();
        assert!(super::verify("correct horse", &h));
        assert!(!super::verify("wrong", &h));
        assert!(!super::verify("x", "not a hash"));
    }
}

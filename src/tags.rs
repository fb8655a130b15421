//! Tags (labels) as conversations, knowledge-base articles and imports spell them: one rule for
//! what a tag may be.
use crate::error::{AppError, AppResult};

/// Normalises tags: trimmed, lower-case, `a-z0-9-_./` and letters of any script, ≤ 40 chars,
/// at most 20, no duplicates.
pub fn clean(tags: &[String]) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_lowercase();
        if t.is_empty() {
            continue;
        }
        let ok = t.chars().count() <= 40
            && t.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        if !ok {
            return Err(AppError::Invalid(format!(
                "tag {t:?}: at most 40 letters, digits, '-', '_', '.', '/'"
            )));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > 20 {
        return Err(AppError::Invalid("at most 20 tags".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_lower_cased_deduplicated_and_checked() {
        let given = [" Billing ", "billing", "", "eu/vat", "Ünïcode"].map(String::from);
        assert_eq!(
            clean(&given).ok(),
            Some(vec!["billing".into(), "eu/vat".into(), "ünïcode".into()])
        );
        assert!(clean(&["no spaces".to_string()]).is_err());
        assert!(clean(&(0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()).is_err());
    }
}

//! The `sb` text analyzer, used for indexing and for queries alike:
//! words (runs of letters and digits) → at most 40 bytes → lower case → ASCII folding
//! (`Müller` → `muller`) → English stemming (`refunded` → `refund`).
//!
//! Codes such as `NW-1004`, `INV-2024-0042` or `SHA-256` stay **one** token (`nw-1004`): a word of
//! at most 5 characters that contains a letter, a hyphen, then a part starting with a digit are
//! joined. So `NW-1004` never matches `NW-1005`, and `1004` alone does not match `NW-1004`.
//! Other hyphens (`e-mail`, `2024-02-05`) separate words.
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, Stemmer, TextAnalyzer, Token,
    TokenStream, Tokenizer,
};

/// The name the analyzer is registered under in the index.
pub const ANALYZER: &str = "sb";

/// Longest word kept, in bytes (longer ones are usually base64, hashes or URLs).
const MAX_WORD_BYTES: usize = 40;
/// Longest word that may start a code (`NW`, `INV`, `COVID`).
const MAX_CODE_PREFIX_CHARS: usize = 5;

pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The analyzed tokens of `text`, in order.
pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(t) = stream.next() {
        out.push(t.text.clone());
    }
    out
}

/// Splits on anything that is not a letter or digit, keeping codes (`NW-1004`) whole.
#[derive(Clone, Default)]
pub struct WordTokenizer {
    token: Token,
}

pub struct WordTokenStream<'a> {
    text: &'a str,
    pos: usize,
    token: &'a mut Token,
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordTokenStream<'a> {
        self.token.reset();
        WordTokenStream {
            text,
            pos: 0,
            token: &mut self.token,
        }
    }
}

fn is_hyphen(c: char) -> bool {
    matches!(c, '-' | '\u{2010}' | '\u{2011}')
}

/// End (byte offset) of the run of alphanumerics starting at `from`.
fn run_end(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|(_, c)| !c.is_alphanumeric())
        .map_or(text.len(), |(i, _)| from + i)
}

impl WordTokenStream<'_> {
    /// If a code continues at `end` (a hyphen, then a digit), the end of that continuation.
    fn code_continuation(&self, seg_start: usize, end: usize, has_letter: bool) -> Option<usize> {
        if !has_letter || self.text[seg_start..end].chars().count() > MAX_CODE_PREFIX_CHARS {
            return None;
        }
        let mut it = self.text[end..].chars();
        let h = it.next()?;
        let d = it.next()?;
        if !is_hyphen(h) || !d.is_ascii_digit() {
            return None;
        }
        Some(run_end(self.text, end + h.len_utf8()))
    }
}

impl TokenStream for WordTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        self.token.position = self.token.position.wrapping_add(1);
        let Some((start, _)) = self.text[self.pos..]
            .char_indices()
            .find(|(_, c)| c.is_alphanumeric())
            .map(|(i, c)| (self.pos + i, c))
        else {
            self.pos = self.text.len();
            return false;
        };
        let mut seg_start = start;
        let mut end = run_end(self.text, start);
        let mut has_letter = self.text[start..end].chars().any(char::is_alphabetic);
        let mut joined = false;
        while let Some(next_end) = self.code_continuation(seg_start, end, has_letter) {
            // Skip the hyphen (1 to 3 bytes).
            let hyphen_len = self.text[end..].chars().next().map_or(1, char::len_utf8);
            seg_start = end + hyphen_len;
            has_letter |= self.text[seg_start..next_end]
                .chars()
                .any(char::is_alphabetic);
            end = next_end;
            joined = true;
        }
        self.token.offset_from = start;
        self.token.offset_to = end;
        if joined {
            // Any hyphen variant is written as `-`.
            self.token.text.extend(
                self.text[start..end]
                    .chars()
                    .map(|c| if is_hyphen(c) { '-' } else { c }),
            );
        } else {
            self.token.text.push_str(&self.text[start..end]);
        }
        self.pos = end;
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        tokens(&mut analyzer(), s)
    }

    #[test]
    fn words_codes_folding_stemming() {
        assert_eq!(toks("Hello, Müller!"), ["hello", "muller"]);
        assert_eq!(toks("refunded refunds"), ["refund", "refund"]);
        assert_eq!(toks("error NW-1004 shown"), ["error", "nw-1004", "shown"]);
        assert_eq!(toks("nw-1004"), toks("NW‑1004"));
        assert_ne!(toks("NW-1004"), toks("NW-1005"));
        assert_eq!(toks("INV-2024-0042."), ["inv-2024-0042"]);
        assert_eq!(toks("2024-02-05"), ["2024", "02", "05"]);
        assert_eq!(toks("e-mail"), ["e", "mail"]);
        assert_eq!(toks("customers-1"), ["custom", "1"]);
        assert_eq!(
            toks("<img src=x onerror=alert(1)>"),
            ["img", "src", "x", "onerror", "alert", "1"]
        );
        assert_eq!(
            toks("anna.berg@example.com"),
            ["anna", "berg", "exampl", "com"]
        );
        assert!(toks("  ¿? -- ").is_empty());
        assert_eq!(toks("-"), Vec::<String>::new());
        assert_eq!(toks("ab-"), ["ab"]);
        let long = "x".repeat(41);
        assert!(toks(&long).is_empty());
    }

    #[test]
    fn offsets_point_into_the_text() {
        let text = "Ça NW-1004 é";
        let mut a = analyzer();
        let mut s = a.token_stream(text);
        let mut spans = Vec::new();
        while let Some(t) = s.next() {
            spans.push(&text[t.offset_from..t.offset_to]);
        }
        assert_eq!(spans, ["Ça", "NW-1004", "é"]);
    }
}

//! Phone numbers to E.164 (`+628123456789`), one funnel row per number.
//!
//! [`normalize`] reads a number as people and systems write it in Indonesia and returns its
//! E.164 form: `+`, the country code, the national number, digits only.
//!
//! # What is ignored
//!
//! Spaces (including non-breaking and other Unicode spaces), dashes (`-`, the non-breaking
//! hyphen WhatsApp uses when a number is copied, en/em dashes), dots, parentheses, and the
//! invisible direction marks WhatsApp wraps copied numbers in. A `+` is allowed only before
//! the first digit. Anything else (letters, `#`, `/`, `*`, …) is an error: a number is never
//! guessed out of surrounding text.
//!
//! # Rules, in order
//!
//! 1. A leading `+`, or a `00` international prefix (read as `+`), means the country code
//!    follows.
//!    - `+62…` is Indonesian (rule 4). One trunk `0` written after the country code is
//!      dropped: `+62 (0)812…` and `0062 0812…` are `+62812…`.
//!    - Any other country code is kept as written when the whole number (country code
//!      included) has 8 to 15 digits (15 is the E.164 maximum). Country codes never start
//!      with `0`, so `+0812…` is [`PhoneError::Ambiguous`] (Indonesian with a stray `+`?).
//! 2. Without `+`/`00`:
//!    - `0…` is an Indonesian national number (`0812…`, `021…`).
//!    - `62…` is Indonesian with its country code (the WhatsApp `wa_id` form
//!      `6281234567890`; `620 8…` drops the trunk `0`).
//!    - `8…` with 9 to 12 digits is [`PhoneError::Ambiguous`]: it can be an Indonesian
//!      mobile written without its `0` or a `wa_id` of Japan (81), Korea (82), Vietnam (84) or
//!      China (86), and the two readings give different people. We do not guess.
//!    - Any other number of 10 to 15 digits not starting with `0` is taken as a `wa_id`
//!      (country code included) and gets a `+`. Shorter ones (8 or 9 digits) have no
//!      recognisable country code and are [`PhoneError::Ambiguous`].
//! 3. Fewer than 8 digits is always [`PhoneError::TooShort`]; more than 15 without `+`/`00`
//!    (or more than the country allows) is [`PhoneError::TooLong`].
//! 4. Indonesian national numbers (after `+62` or the trunk `0`):
//!    - mobile: `8` followed by 8 to 11 digits (9 to 12 in all, `0812 3456 7890`);
//!    - landline: an area code `2x`–`7x` or `9x` then the subscriber (8 to 11 digits in all,
//!      `021 5550100` is `+62215550100`);
//!    - starting with `1` (short service codes) or `0` (after the trunk `0` is dropped) is
//!      [`PhoneError::NotANumber`].
//!
//! Callers that know the value is a WhatsApp `wa_id` (which always carries its country
//! code) should put a `+` in front of it: then no rule above has to guess.

/// Why a phone number could not be normalized. Messages are shown to operators.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but spaces and punctuation (or nothing at all).
    #[error("the phone number is empty")]
    Empty,

    /// Characters that have no place in a phone number, or digits that cannot start an
    /// Indonesian number. Holds the input, quoted, and what is wrong with it.
    #[error("not a phone number: {0}")]
    NotANumber(String),

    /// Fewer digits than the shortest valid number.
    #[error(
        "the phone number is too short: it has {digits} digit(s); an Indonesian number has \
         9 to 13 digits written with its leading 0 (0812 3456 7890), an international one \
         8 to 15 with its country code"
    )]
    TooShort {
        /// Digits in the input as written (separators ignored).
        digits: usize,
    },

    /// More digits than the longest valid number.
    #[error(
        "the phone number is too long: it has {digits} digits; an Indonesian number has at \
         most 12 after +62 (mobile) and E.164 allows at most 15 with the country code"
    )]
    TooLong {
        /// Digits in the input as written (separators ignored).
        digits: usize,
    },

    /// Readable digits whose country cannot be told. Holds the input, quoted, and why.
    #[error("ambiguous phone number: {0}; write it with its country code, e.g. +62 812 3456 7890")]
    Ambiguous(String),
}

/// E.164 allows at most 15 digits, country code included.
const E164_MAX: usize = 15;
/// The shortest number (country code included, or Indonesian with its trunk 0) we accept.
const MIN_DIGITS: usize = 8;
/// A bare `wa_id` (country code included, no `+`) has at least this many digits.
const WA_ID_MIN: usize = 10;

/// Normalizes a phone number to E.164 (`+628123456789`); see the module docs for the rules.
///
/// # Errors
///
/// [`PhoneError::Empty`] without any digit, [`PhoneError::NotANumber`] for letters or other
/// stray characters (or an impossible Indonesian prefix), [`PhoneError::TooShort`] /
/// [`PhoneError::TooLong`] for a wrong digit count, [`PhoneError::Ambiguous`] when the
/// country cannot be told.
pub fn normalize(raw: &str) -> Result<String, PhoneError> {
    let (plus, digits) = scan(raw)?;
    let written = digits.len();
    if written == 0 {
        return Err(PhoneError::Empty);
    }

    let international = if plus {
        Some(digits.as_str())
    } else {
        digits.strip_prefix("00")
    };

    if let Some(number) = international {
        if let Some(national) = number.strip_prefix("62") {
            return indonesian(national, written, raw);
        }
        if number.starts_with('0') {
            return Err(PhoneError::Ambiguous(format!(
                "{:?}: after + (or 00) comes a country code, which never starts with 0",
                raw.trim()
            )));
        }
        return international_number(number, written);
    }

    if digits.starts_with('0') {
        return indonesian(&digits, written, raw);
    }
    if let Some(national) = digits.strip_prefix("62") {
        return indonesian(national, written, raw);
    }
    if written < MIN_DIGITS {
        return Err(PhoneError::TooShort { digits: written });
    }
    if written > E164_MAX {
        return Err(PhoneError::TooLong { digits: written });
    }
    if digits.starts_with('8') && written <= 12 {
        return Err(PhoneError::Ambiguous(format!(
            "{:?} has no 0, +62 or other country code: it may be an Indonesian mobile \
             (08…) or a foreign WhatsApp number (+81, +82, +84, +86 …)",
            raw.trim()
        )));
    }
    if written < WA_ID_MIN {
        return Err(PhoneError::Ambiguous(format!(
            "{:?} has no country code and does not start like an Indonesian number \
             (0… or 62…)",
            raw.trim()
        )));
    }
    Ok(format!("+{digits}"))
}

/// Splits the input into "has a leading `+`" and its ASCII digits, rejecting stray
/// characters.
fn scan(raw: &str) -> Result<(bool, String), PhoneError> {
    let mut plus = false;
    let mut digits = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if c == '+' {
            if plus || !digits.is_empty() {
                return Err(PhoneError::NotANumber(format!(
                    "{:?}: '+' is only allowed once, before the first digit",
                    raw.trim()
                )));
            }
            plus = true;
        } else if is_ignored(c) {
            continue;
        } else if c.is_alphabetic() {
            return Err(PhoneError::NotANumber(format!(
                "{:?} contains letters",
                raw.trim()
            )));
        } else {
            return Err(PhoneError::NotANumber(format!(
                "{:?} contains {c:?}; only digits, spaces, dashes, dots, parentheses and a \
                 leading + are allowed",
                raw.trim()
            )));
        }
    }
    Ok((plus, digits))
}

/// Separators and invisible marks that may appear inside a written phone number.
fn is_ignored(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.'
                | '('
                | ')'
                // dashes: hyphen, non-breaking hyphen (WhatsApp), figure/en/em dash, minus
                | '\u{2010}'..='\u{2015}'
                | '\u{2212}'
                // zero-width space/joiners, direction marks and embeddings, BOM
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `+<number>` for a country other than Indonesia: kept when 8 to 15 digits long.
fn international_number(number: &str, written: usize) -> Result<String, PhoneError> {
    if number.len() < MIN_DIGITS {
        return Err(PhoneError::TooShort { digits: written });
    }
    if number.len() > E164_MAX {
        return Err(PhoneError::TooLong { digits: written });
    }
    Ok(format!("+{number}"))
}

/// An Indonesian national number (after `62`, or with its trunk `0`) to `+62…`.
fn indonesian(national: &str, written: usize, raw: &str) -> Result<String, PhoneError> {
    let national = national.strip_prefix('0').unwrap_or(national);
    let (min, max) = match national.as_bytes().first() {
        None => return Err(PhoneError::TooShort { digits: written }),
        Some(b'8') => (9, 12),
        Some(b'2'..=b'7' | b'9') => (8, 11),
        Some(_) => {
            if national.len() < 8 {
                return Err(PhoneError::TooShort { digits: written });
            }
            return Err(PhoneError::NotANumber(format!(
                "{:?}: after +62 (or the leading 0) an Indonesian number starts with 8 \
                 (mobile) or an area code 2x to 9x (landline)",
                raw.trim()
            )));
        }
    };
    if national.len() < min {
        return Err(PhoneError::TooShort { digits: written });
    }
    if national.len() > max {
        return Err(PhoneError::TooLong { digits: written });
    }
    Ok(format!("+62{national}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a test row expects.
    #[derive(Debug)]
    enum Want {
        Ok(&'static str),
        Empty,
        NotANumber,
        TooShort(usize),
        TooLong(usize),
        Ambiguous,
    }

    #[test]
    fn table() {
        use Want::*;
        let rows: &[(&str, Want)] = &[
            // Indonesian mobile, every way it is written
            ("0812-3456-7890", Ok("+6281234567890")),
            ("+62 812 3456 7890", Ok("+6281234567890")),
            ("6281234567890", Ok("+6281234567890")),
            ("(0812) 3456 7890", Ok("+6281234567890")),
            ("+62 (0)812 3456 7890", Ok("+6281234567890")),
            ("620 812 3456 7890", Ok("+6281234567890")),
            ("0062 812 3456 7890", Ok("+6281234567890")),
            ("0062 0812 3456 7890", Ok("+6281234567890")),
            ("0812.3456.7890", Ok("+6281234567890")),
            ("0812\u{a0}3456\u{a0}7890", Ok("+6281234567890")),
            ("(+62) 812-3456-7890", Ok("+6281234567890")),
            // copied from WhatsApp: direction marks and non-breaking hyphens
            (
                "\u{202a}+62 812\u{2011}3456\u{2011}7890\u{202c}",
                Ok("+6281234567890"),
            ),
            ("  0812345678  ", Ok("+62812345678")),
            ("+62 812 3456 78901", Ok("+62812345678901")),
            // Indonesian landlines
            ("021 5550100", Ok("+62215550100")),
            ("(021) 555-0100", Ok("+62215550100")),
            ("+62 22 4231234", Ok("+62224231234")),
            ("0361 123456", Ok("+62361123456")),
            // other countries
            ("+1 415 555 2671", Ok("+14155552671")),
            ("0044 20 7946 0958", Ok("+442079460958")),
            ("+65 6123 4567", Ok("+6561234567")),
            ("14155552671", Ok("+14155552671")), // wa_id style
            ("4915123456789", Ok("+4915123456789")),
            ("+81 90 1234 5678", Ok("+819012345678")),
            // errors
            ("", Empty),
            ("   ", Empty),
            ("+", Empty),
            ("( ) -", Empty),
            ("abc", NotANumber),
            ("0812 3456 7890 (WA)", NotANumber),
            ("0812#34567890", NotANumber),
            ("0812+34567890", NotANumber),
            ("++6281234567890", NotANumber),
            ("+62 1500 500 123", NotANumber),
            ("12", TooShort(2)),
            ("08123", TooShort(5)),
            ("+62", TooShort(2)),
            ("+62 (0)", TooShort(3)),
            ("0", TooShort(1)),
            ("+62 8123 4567", TooShort(10)),
            ("021 55501", TooShort(8)),
            ("+1 234", TooShort(4)),
            ("5550100", TooShort(7)),
            ("+6281234567890123456", TooLong(19)),
            ("0812 3456 7890 123", TooLong(15)),
            ("021 5550 1000 00", TooLong(13)),
            ("+1234 5678 9012 3456", TooLong(16)),
            ("1234567890123456", TooLong(16)),
            ("81234567890", Ambiguous),
            ("819012345678", Ambiguous),
            ("+0812 3456 7890", Ambiguous),
            ("215550100", Ambiguous),
        ];
        let mut failures = Vec::new();
        for (input, want) in rows {
            let got = normalize(input);
            let ok = match (want, &got) {
                (Ok(e), Result::Ok(g)) => e == g,
                (Empty, Err(PhoneError::Empty))
                | (NotANumber, Err(PhoneError::NotANumber(_)))
                | (Ambiguous, Err(PhoneError::Ambiguous(_))) => true,
                (TooShort(d), Err(PhoneError::TooShort { digits })) => d == digits,
                (TooLong(d), Err(PhoneError::TooLong { digits })) => d == digits,
                _ => false,
            };
            if !ok {
                failures.push(format!("{input:?}: want {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn messages_name_the_input_and_the_reason() {
        let Err(e) = normalize("0812 34x") else {
            panic!("letters accepted");
        };
        assert_eq!(
            e.to_string(),
            r#"not a phone number: "0812 34x" contains letters"#
        );

        let Err(e) = normalize("81234567890") else {
            panic!("bare 8… accepted");
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with(r#"ambiguous phone number: "81234567890" has no 0"#),
            "{msg}"
        );
        assert!(msg.ends_with("e.g. +62 812 3456 7890"), "{msg}");

        let Err(e) = normalize("08123") else {
            panic!("short number accepted");
        };
        assert!(e.to_string().contains("it has 5 digit(s)"), "{e}");
    }

    #[test]
    fn output_is_stable_under_renormalization() {
        for input in [
            "0812-3456-7890",
            "021 5550100",
            "+1 415 555 2671",
            "6281234567890",
        ] {
            let Result::Ok(once) = normalize(input) else {
                panic!("{input:?} rejected");
            };
            assert_eq!(normalize(&once), Result::Ok(once.clone()));
        }
    }
}

//! Money amounts in free chat text (`Rp 1.500.000`, `1,5jt`, `IDR 250,000`), in whole rupiah.
//!
//! [`find_amount`] returns the first amount of a message. A number is an amount only when it
//! is marked as money, so phone numbers, dates and order numbers are never taken for one:
//!
//! - by a currency prefix `Rp`, `Rp.`, `IDR` (any case, glued or followed by spaces:
//!   `Rp1.500.000`, `rp. 1.500.000`, `IDR 250000`), or
//! - by a unit suffix, glued or after spaces: `rb` / `ribu` (×1 000), `jt` / `juta`
//!   (×1 000 000), `miliar` / `milyar` (×1 000 000 000), and `k` (×1 000) only when glued
//!   (`250k`; a lone `k` after a space is too often "kak"), or
//! - by a currency suffix `rupiah`, `rp` or `idr` (`500.000 rupiah`).
//!
//! A trailing `nya` on a suffix is allowed (`1jtnya`), and so is `,-` after the number
//! (`Rp 150.000,-`). Matching is exact, without typo tolerance (`250rbu` is not an amount).
//!
//! # Separators
//!
//! `.` and `,` are both thousands separators and decimal separators; which is which is told
//! from the shape of the number:
//!
//! - both appear: the last one is the decimal separator (`1.500.000,00`, `1,500,000.00`);
//! - one of them, several times: thousands (`1.500.000`, `1,500,000`);
//! - one of them, once: followed by 1 or 2 digits it is the decimal separator (`1,5jt`,
//!   `Rp 1.500,50`); by exactly 3 digits it is thousands (`1.500` = 1 500, `250,000` =
//!   250 000), except before a unit suffix, where `1.500jt` / `1,500k` could be 1.5 million
//!   or 1.5 billion and is [`AmountError::Unreadable`]; by 4 or more digits it is decimal
//!   before a unit (`1,2500jt`) and unreadable otherwise.
//!
//! Thousands groups must be 3 digits after a first group of 1 to 3. Fractions are rounded
//! half up to whole rupiah. A space is never a thousands separator.
//!
//! # Decisions on ambiguous forms
//!
//! - `M` is not a unit: in Indonesian it is *miliar* (10⁹), in English chat *million*.
//!   `1.2M` without a currency marker is not an amount; `Rp 1,5 M` is
//!   [`AmountError::Unreadable`]. The same holds for `mn`, `mio`, `b`, `bn`, a spaced `k`
//!   and the "about" forms `jutaan`, `jtan`, `ribuan`, `rban`, `miliaran`.
//! - Once a currency marker is seen, what follows must read as an amount: `Rp abc`,
//!   `Rp 1.5.00,0`, `Rp 1 500 000` and amounts beyond `i64` are
//!   [`AmountError::Unreadable`], even if a readable amount comes later in the text (the
//!   first amount is the one that counts, and we do not skip it silently). A marker followed
//!   by nothing or by punctuation (`berapa rp?`) is ignored.
//! - Without a currency marker, a number that cannot be read, or with an ambiguous suffix,
//!   is simply not an amount and the search goes on.

/// A money amount the text clearly meant but that cannot be read. Shown to operators.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The fragment of the text that looks like money but cannot be read (bad separators,
    /// no digits after `Rp`, an ambiguous unit such as `M`, or more than `i64` rupiah).
    #[error(
        "cannot read the money amount {0:?}: write it like Rp 1.500.000, Rp 1.500.000,00, \
         IDR 250,000, 1,5jt, 250rb or 2 miliar"
    )]
    Unreadable(String),
}

/// Finds the first money amount in `text`, in whole rupiah (sen/cents rounded half up).
///
/// `Ok(None)` when the text holds no amount; see the module docs for what counts as one.
///
/// # Errors
///
/// [`AmountError::Unreadable`] when the first thing marked as money cannot be read.
pub fn find_amount(text: &str) -> Result<Option<i64>, AmountError> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let at_boundary = i == 0 || !chars[i - 1].is_alphanumeric();
        if at_boundary && let Some(after) = marker_end(&chars, i) {
            match after_marker(&chars, i, after)? {
                Some(value) => return Ok(Some(value)),
                None => {
                    i = after;
                    continue;
                }
            }
        }
        if chars[i].is_ascii_digit() {
            let number = scan_number(&chars, i);
            if at_boundary {
                match suffixed(&chars, &number, None)? {
                    Candidate::Amount(value) => return Ok(Some(value)),
                    Candidate::Skip(next) => i = next,
                }
            } else {
                i = number.end;
            }
            continue;
        }
        i += 1;
    }
    Ok(None)
}

/// A number as written: digit groups and the separators between them.
#[derive(Debug)]
struct Number {
    /// Index of its first digit.
    start: usize,
    /// Index just after its last digit.
    end: usize,
    /// Digit groups; `groups[k]` for `k > 0` is preceded by `seps[k - 1]`.
    groups: Vec<String>,
    /// The separators (`.` or `,`), each followed by a digit.
    seps: Vec<char>,
}

/// What a suffix after a number says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suffix {
    /// A magnitude unit: multiply by this.
    Unit(i128),
    /// A currency word (`rupiah`): money, no multiplier.
    Currency,
    /// Looks like a magnitude we refuse to guess (`M`, `jutaan`, a spaced `k`).
    Ambiguous,
    /// Any other word, or none.
    Other,
}

/// Outcome of a number without a currency prefix.
#[derive(Debug)]
enum Candidate {
    Amount(i64),
    /// Not an amount; continue scanning at this index.
    Skip(usize),
}

/// If a currency prefix (`rp`, `idr`, any case) starts at `i`, the index just after it.
fn marker_end(chars: &[char], i: usize) -> Option<usize> {
    for marker in ["rp", "idr"] {
        let end = i + marker.len();
        if end > chars.len() {
            continue;
        }
        let matches = chars[i..end]
            .iter()
            .zip(marker.chars())
            .all(|(c, m)| c.to_ascii_lowercase() == m);
        if matches && chars.get(end).is_none_or(|c| !c.is_alphabetic()) {
            return Some(end);
        }
    }
    None
}

/// Reads what follows a currency prefix spanning `start..after`: `Ok(None)` when nothing
/// amount-like follows (end of text, punctuation, a new line).
fn after_marker(chars: &[char], start: usize, after: usize) -> Result<Option<i64>, AmountError> {
    let mut j = after;
    if chars.get(j) == Some(&'.') {
        j += 1;
    }
    j = skip_spaces(chars, j);
    match chars.get(j) {
        Some(c) if c.is_ascii_digit() => {
            let number = scan_number(chars, j);
            match suffixed(chars, &number, Some(start))? {
                Candidate::Amount(value) => Ok(Some(value)),
                // unreachable with a marker, which always reads or fails
                Candidate::Skip(_) => Ok(None),
            }
        }
        Some(c) if c.is_alphabetic() => {
            let end = (j..chars.len())
                .find(|&k| chars[k].is_whitespace())
                .unwrap_or(chars.len());
            Err(unreadable(chars, start, end))
        }
        _ => Ok(None),
    }
}

/// Reads the suffix after `number` and turns both into an amount. `marker` is the start of
/// a currency prefix, if any: then the result is an amount or an error, never a skip.
fn suffixed(
    chars: &[char],
    number: &Number,
    marker: Option<usize>,
) -> Result<Candidate, AmountError> {
    let start = marker.unwrap_or(number.start);
    let word_start = skip_spaces(chars, number.end);
    let glued = word_start == number.end;
    let word_end = (word_start..chars.len())
        .find(|&k| !chars[k].is_alphabetic())
        .unwrap_or(chars.len());
    let at_boundary = chars.get(word_end).is_none_or(|c| !c.is_alphanumeric());
    let suffix = if word_end > word_start && at_boundary {
        let word: String = chars[word_start..word_end].iter().collect();
        suffix_of(&word.to_lowercase(), glued)
    } else {
        Suffix::Other
    };

    let (multiplier, end) = match (suffix, marker) {
        (Suffix::Unit(m), _) => (Some(m), word_end),
        (Suffix::Currency, _) => (None, word_end),
        (Suffix::Ambiguous, Some(_)) => return Err(unreadable(chars, start, word_end)),
        (Suffix::Ambiguous, None) => return Ok(Candidate::Skip(word_end)),
        (Suffix::Other, Some(_)) => {
            if let Some(end) = space_grouped(chars, number) {
                return Err(unreadable(chars, start, end));
            }
            (None, number.end)
        }
        (Suffix::Other, None) => return Ok(Candidate::Skip(number.end)),
    };

    match value(number, multiplier) {
        Some(v) => Ok(Candidate::Amount(v)),
        None if marker.is_some() || multiplier.is_some() => Err(unreadable(chars, start, end)),
        None => Ok(Candidate::Skip(end)),
    }
}

/// Classifies a lowercased word written after a number (`glued` when no space between).
fn suffix_of(word: &str, glued: bool) -> Suffix {
    let stem = match word.strip_suffix("nya") {
        Some(stem) if !stem.is_empty() => stem,
        _ => word,
    };
    match stem {
        "rb" | "ribu" => Suffix::Unit(1_000),
        "k" if glued => Suffix::Unit(1_000),
        "jt" | "juta" => Suffix::Unit(1_000_000),
        "miliar" | "milyar" => Suffix::Unit(1_000_000_000),
        "rupiah" | "rp" | "idr" => Suffix::Currency,
        "k" | "m" | "mn" | "mio" | "b" | "bn" | "jtan" | "jutaan" | "rban" | "ribuan"
        | "miliaran" | "milyaran" => Suffix::Ambiguous,
        _ => Suffix::Other,
    }
}

/// `Rp 1 500 000`: a short number followed by a space and a group of exactly three digits
/// (a space used as a thousands separator). Returns the end of the last such group.
fn space_grouped(chars: &[char], number: &Number) -> Option<usize> {
    if !number.seps.is_empty() || number.end - number.start > 3 {
        return None;
    }
    let mut end = None;
    let mut k = number.end;
    loop {
        let next = skip_spaces(chars, k);
        if next == k {
            return end;
        }
        let digits_end = (next..chars.len())
            .find(|&j| !chars[j].is_ascii_digit())
            .unwrap_or(chars.len());
        let boundary = chars.get(digits_end).is_none_or(|c| !c.is_alphanumeric());
        if digits_end - next != 3 || !boundary {
            return end;
        }
        end = Some(digits_end);
        k = digits_end;
    }
}

/// Scans digits and `.`/`,` separators (each followed by a digit) from `start`.
fn scan_number(chars: &[char], start: usize) -> Number {
    let mut groups = Vec::new();
    let mut seps = Vec::new();
    let mut k = start;
    loop {
        let group_start = k;
        while k < chars.len() && chars[k].is_ascii_digit() {
            k += 1;
        }
        groups.push(chars[group_start..k].iter().collect());
        match (chars.get(k), chars.get(k + 1)) {
            (Some(&sep @ ('.' | ',')), Some(next)) if next.is_ascii_digit() => {
                seps.push(sep);
                k += 1;
            }
            _ => break,
        }
    }
    Number {
        start,
        end: k,
        groups,
        seps,
    }
}

/// The value in whole rupiah, or `None` when the separators make no sense or it overflows.
fn value(number: &Number, multiplier: Option<i128>) -> Option<i64> {
    let (integer, fraction) = split(number, multiplier.is_some())?;
    let max_fraction = if multiplier.is_some() { 9 } else { 2 };
    if fraction.len() > max_fraction {
        return None;
    }
    let scale = 10_i128.pow(u32::try_from(fraction.len()).ok()?);
    let fixed = digits_value(&integer)?
        .checked_mul(scale)?
        .checked_add(digits_value(&fraction)?)?;
    let total = fixed.checked_mul(multiplier.unwrap_or(1))?;
    let rupiah = total.checked_add(scale / 2)? / scale;
    i64::try_from(rupiah).ok()
}

/// Splits a number into integer digits and fraction digits following the separator rules.
fn split(number: &Number, has_unit: bool) -> Option<(String, String)> {
    let groups = &number.groups;
    let seps = &number.seps;
    let Some(&last) = seps.last() else {
        return Some((groups[0].clone(), String::new()));
    };
    let all_same = seps.iter().all(|&s| s == last);
    let thousands = |gs: &[String]| -> Option<String> {
        let (first, rest) = gs.split_first()?;
        let ok = (1..=3).contains(&first.len()) && rest.iter().all(|g| g.len() == 3);
        ok.then(|| gs.concat())
    };
    if all_same && seps.len() == 1 {
        let (first, second) = (&groups[0], &groups[1]);
        return match (second.len(), has_unit) {
            // 1.500jt: 1.5 million or 1 500 million? Not guessed.
            (3, true) => None,
            (3, false) => thousands(groups).map(|integer| (integer, String::new())),
            (n, unit) if n <= 2 || unit => Some((first.clone(), second.clone())),
            _ => None,
        };
    }
    if all_same {
        return thousands(groups).map(|integer| (integer, String::new()));
    }
    // mixed: the last separator is the decimal one and appears only there
    let (fraction, integer_groups) = groups.split_last()?;
    if seps[..seps.len() - 1].contains(&last) {
        return None;
    }
    Some((thousands(integer_groups)?, fraction.clone()))
}

/// The value of a run of ASCII digits (`0` for none), `None` on overflow.
fn digits_value(digits: &str) -> Option<i128> {
    digits.bytes().try_fold(0_i128, |acc, b| {
        acc.checked_mul(10)?.checked_add(i128::from(b - b'0'))
    })
}

/// Skips spaces and tabs (not line breaks) from `k`.
fn skip_spaces(chars: &[char], mut k: usize) -> usize {
    while k < chars.len() && chars[k].is_whitespace() && !matches!(chars[k], '\n' | '\r') {
        k += 1;
    }
    k
}

/// The error naming `chars[start..end]`.
fn unreadable(chars: &[char], start: usize, end: usize) -> AmountError {
    AmountError::Unreadable(
        chars[start..end]
            .iter()
            .collect::<String>()
            .trim()
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a test row expects.
    #[derive(Debug)]
    enum Want {
        Amount(i64),
        Nothing,
        Unreadable(&'static str),
    }

    #[test]
    fn table() {
        use Want::*;
        let rows: &[(&str, Want)] = &[
            // currency prefix, Indonesian and English separators
            ("Rp 1.500.000", Amount(1_500_000)),
            ("Rp1.500.000,00", Amount(1_500_000)),
            ("rp. 1.500.000", Amount(1_500_000)),
            ("RP.1.500.000", Amount(1_500_000)),
            ("IDR 250000", Amount(250_000)),
            ("IDR 250,000", Amount(250_000)),
            ("idr250.000", Amount(250_000)),
            ("Rp 1,500,000.00", Amount(1_500_000)),
            ("Rp 1.500", Amount(1_500)),
            ("Rp 150.000,-", Amount(150_000)),
            ("Rp 1.500.000,50", Amount(1_500_001)),
            ("Rp 1.500.000,49", Amount(1_500_000)),
            ("Rp 1,5", Amount(2)),
            ("Rp 0", Amount(0)),
            // unit suffixes
            ("1,5jt", Amount(1_500_000)),
            ("1.5 jt", Amount(1_500_000)),
            ("1,5 juta", Amount(1_500_000)),
            ("2 juta", Amount(2_000_000)),
            ("2 JUTA", Amount(2_000_000)),
            ("250rb", Amount(250_000)),
            ("250 ribu", Amount(250_000)),
            ("250k", Amount(250_000)),
            ("250K", Amount(250_000)),
            ("1,5 miliar", Amount(1_500_000_000)),
            ("2 milyar", Amount(2_000_000_000)),
            ("1.500jt", Unreadable("1.500jt")),
            ("1,500k", Unreadable("1,500k")),
            ("Rp 1.250 jt", Unreadable("Rp 1.250 jt")),
            ("1,2500 jt", Amount(1_250_000)),
            ("1,25jt", Amount(1_250_000)),
            ("Rp 1,5jt", Amount(1_500_000)),
            ("Rp 250rb", Amount(250_000)),
            ("1.500.000 rb", Amount(1_500_000_000)),
            ("500.000 rupiah", Amount(500_000)),
            ("250000IDR", Amount(250_000)),
            ("dp 1jtnya dulu", Amount(1_000_000)),
            // text around, emoji, first amount wins
            ("sudah transfer Rp 1.500.000 ya kak", Amount(1_500_000)),
            ("udh tf🙏🙏Rp1.500.000🙏 mkasih", Amount(1_500_000)),
            ("Halo kak, DP nya 500rb dulu ya 😊", Amount(500_000)),
            ("DP Rp 500.000, pelunasan Rp 1.000.000", Amount(500_000)),
            ("tgl 12.05.2026 bayar 2jt", Amount(2_000_000)),
            ("no 0812 3456, total Rp 75.000.", Amount(75_000)),
            ("Rp 150.000nya sudah saya kirim", Amount(150_000)),
            ("Rp 50.000 kak", Amount(50_000)),
            ("berapa rp? kalau 2jt bisa", Amount(2_000_000)),
            // not amounts
            ("no 0812 3456", Nothing),
            ("tgl 12.05.2026", Nothing),
            ("order #1500000", Nothing),
            ("jam 10.30 ya", Nothing),
            ("1.2M views", Nothing),
            ("kamar 2 k", Nothing),
            ("x250k", Nothing),
            ("250rbu", Nothing),
            ("harga berapa rp?", Nothing),
            ("rpm 3000", Nothing),
            ("", Nothing),
            ("🙏🙏🙏", Nothing),
            // clearly money, cannot be read
            ("Rp 1.5.00,0", Unreadable("Rp 1.5.00,0")),
            ("Rp abc", Unreadable("Rp abc")),
            ("bayar Rp 1,5 M ya", Unreadable("Rp 1,5 M")),
            ("Rp 5 jutaan", Unreadable("Rp 5 jutaan")),
            ("Rp 250 k", Unreadable("Rp 250 k")),
            ("Rp 1 500 000 ya", Unreadable("Rp 1 500 000")),
            ("Rp 1.5000", Unreadable("Rp 1.5000")),
            ("Rp 1500.000", Unreadable("Rp 1500.000")),
            ("Rp 1.500,000", Unreadable("Rp 1.500,000")),
            ("Rp 1.500.000,005", Unreadable("Rp 1.500.000,005")),
            (
                "Rp 99.999.999.999.999.999.999",
                Unreadable("Rp 99.999.999.999.999.999.999"),
            ),
            ("99999999999 miliar", Unreadable("99999999999 miliar")),
            ("Rp abc lalu Rp 1.000.000", Unreadable("Rp abc")),
        ];
        let mut failures = Vec::new();
        for (input, want) in rows {
            let got = find_amount(input);
            let ok = match (want, &got) {
                (Amount(e), Ok(Some(g))) => e == g,
                (Nothing, Ok(None)) => true,
                (Unreadable(e), Err(AmountError::Unreadable(g))) => e == g,
                _ => false,
            };
            if !ok {
                failures.push(format!("{input:?}: want {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn largest_amount_fits() {
        assert_eq!(
            find_amount("Rp 9.223.372.036.854.775.807"),
            Ok(Some(i64::MAX))
        );
        assert!(find_amount("Rp 9.223.372.036.854.775.808").is_err());
    }

    #[test]
    fn message_names_the_fragment() {
        let Err(e) = find_amount("sudah tf Rp 1.5.00,0 ya") else {
            panic!("unreadable amount accepted");
        };
        assert!(
            e.to_string()
                .starts_with(r#"cannot read the money amount "Rp 1.5.00,0": write it like"#),
            "{e}"
        );
    }
}

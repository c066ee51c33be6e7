//! Keyword lists → opening / booking / transaction.
//!
//! A [`Classifier`] is built once from the keyword set and a precedence of kinds, and is then
//! shared (it is `Send + Sync` and never changes). [`Classifier::classify`] finds the keywords
//! of a message and returns the one that decides its [`Kind`].
//!
//! # Matching
//!
//! - Text and keywords are compared after [`fold`]: lowercase, accents stripped, punctuation
//!   and emoji turned into spaces. So `Bóoking` is `booking`, and the phrase `mau pesan`
//!   matches `Mau... pesan!`, `mau 🙏 pesan` or `mau\npesan`.
//! - Keywords match whole folded words: `booking` does not match inside `rebookings`, and a
//!   phrase matches only as consecutive whole words.
//! - There is no fuzzy matching: a typo (`bokking`, `trnsfer`) is not a match. Add the
//!   misspelling to the keyword set if it is common.
//! - A keyword with a channel applies only to messages of that channel (case-insensitive); a
//!   keyword without one, or with a blank one, applies to all channels.
//!
//! # Which match decides
//!
//! 1. Longest match first: matches are taken from the longest keywords (in folded words)
//!    down; a match overlapping a strictly longer match already taken is discarded. With
//!    `batal booking` as an opening keyword and `booking` as a booking keyword,
//!    "mau batal booking" matches only `batal booking`.
//! 2. Among the remaining matches, the kind earliest in the precedence wins
//!    ([`default_precedence`]: transaction, booking, opening; kinds missing from a custom
//!    precedence come after the listed ones, in default order).
//! 3. The reported keyword is the winning kind's longest match (then the earliest in the
//!    text), as written in the keyword set.
//!
//! Classifying costs one hash lookup per word of the message plus a comparison for each
//! keyword starting with that word: linear in the text for a keyword set of any size.

use std::collections::HashMap;
use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// What a message says about the funnel stage of its sender.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// First contact: a question, a greeting, a request for information.
    Opening,
    /// An appointment, reservation or order.
    Booking,
    /// A payment.
    Transaction,
}

impl Kind {
    /// All kinds, in declaration order.
    pub const ALL: [Kind; 3] = [Kind::Opening, Kind::Booking, Kind::Transaction];

    /// The lowercase name used in the database, the API and reports (`opening`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Opening => "opening",
            Kind::Booking => "booking",
            Kind::Transaction => "transaction",
        }
    }

    /// Parses a name as written by [`Kind::as_str`], ignoring case and surrounding spaces.
    pub fn parse(s: &str) -> Option<Kind> {
        let s = s.trim();
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the keyword set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Keyword {
    /// The kind a message containing this keyword is.
    pub kind: Kind,
    /// A word or phrase; compared after [`fold`].
    pub keyword: String,
    /// Restricts the keyword to one channel (`whatsapp`, `ads`, …); `None` for all.
    #[serde(default)]
    pub channel: Option<String>,
}

/// A keyword set that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeywordError {
    /// A keyword with no letter or digit: it would match nothing (or everything).
    #[error(
        "the {kind} keyword {keyword:?} has no letter or digit once case, accents and \
         punctuation are ignored; remove it or write a word"
    )]
    Empty {
        /// The kind it was listed under.
        kind: Kind,
        /// The keyword as given.
        keyword: String,
    },
}

/// The keyword that decided a message's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The kind of the message.
    pub kind: Kind,
    /// The matched keyword as written in the keyword set.
    pub keyword: String,
}

/// The default precedence: a payment outranks a booking, which outranks an opening.
pub fn default_precedence() -> Vec<Kind> {
    vec![Kind::Transaction, Kind::Booking, Kind::Opening]
}

/// Folds text for matching: lowercase, accents stripped (NFD, combining marks dropped),
/// everything but letters and digits (punctuation, symbols, emoji) turned into spaces, runs
/// of spaces collapsed to one, no space at either end.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        for l in c.to_lowercase() {
            if is_combining_mark(l) {
                continue;
            }
            if l.is_alphanumeric() {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push(l);
            } else {
                pending_space = true;
            }
        }
    }
    out
}

/// A keyword ready for matching.
#[derive(Debug)]
struct Entry {
    kind: Kind,
    /// As given, reported in [`Match`].
    keyword: String,
    /// Folded words; the first one is the index key.
    words: Vec<String>,
    /// Lowercased channel, `None` for all channels.
    channel: Option<String>,
}

/// A keyword set compiled for matching; see the module docs for the rules.
#[derive(Debug)]
pub struct Classifier {
    entries: Vec<Entry>,
    /// Folded first word → indexes into `entries`.
    by_first_word: HashMap<String, Vec<usize>>,
    /// Rank of each kind (index of `Kind::ALL`), lower wins.
    rank: [usize; 3],
}

impl Classifier {
    /// Compiles a keyword set. Duplicates (same kind, folded keyword and channel) are kept
    /// once. `precedence` lists kinds from strongest to weakest; repeated kinds count once
    /// and missing ones come last, in [`default_precedence`] order.
    ///
    /// # Errors
    ///
    /// [`KeywordError::Empty`] for a keyword without any letter or digit.
    pub fn new(keywords: &[Keyword], precedence: &[Kind]) -> Result<Self, KeywordError> {
        let mut entries: Vec<Entry> = Vec::with_capacity(keywords.len());
        let mut by_first_word: HashMap<String, Vec<usize>> = HashMap::new();
        for k in keywords {
            let folded = fold(&k.keyword);
            if folded.is_empty() {
                return Err(KeywordError::Empty {
                    kind: k.kind,
                    keyword: k.keyword.clone(),
                });
            }
            let words: Vec<String> = folded.split(' ').map(str::to_owned).collect();
            let channel = k
                .channel
                .as_deref()
                .map(|c| c.trim().to_lowercase())
                .filter(|c| !c.is_empty());
            let duplicate = entries
                .iter()
                .any(|e| e.kind == k.kind && e.words == words && e.channel == channel);
            if duplicate {
                continue;
            }
            by_first_word
                .entry(words[0].clone())
                .or_default()
                .push(entries.len());
            entries.push(Entry {
                kind: k.kind,
                keyword: k.keyword.clone(),
                words,
                channel,
            });
        }

        let mut rank = [usize::MAX; 3];
        let mut next = 0;
        for kind in precedence.iter().copied().chain(default_precedence()) {
            let slot = &mut rank[kind_index(kind)];
            if *slot == usize::MAX {
                *slot = next;
                next += 1;
            }
        }

        Ok(Classifier {
            entries,
            by_first_word,
            rank,
        })
    }

    /// Classifies a message of `channel`; `None` when no keyword matches.
    pub fn classify(&self, text: &str, channel: &str) -> Option<Match> {
        let folded = fold(text);
        if folded.is_empty() {
            return None;
        }
        let words: Vec<&str> = folded.split(' ').collect();
        let channel = channel.trim().to_lowercase();

        // every match: (start word, end word exclusive, entry)
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        for (start, word) in words.iter().enumerate() {
            let Some(candidates) = self.by_first_word.get(*word) else {
                continue;
            };
            for &idx in candidates {
                let entry = &self.entries[idx];
                if entry.channel.as_ref().is_some_and(|only| *only != channel) {
                    continue;
                }
                let end = start + entry.words.len();
                let fits = words
                    .get(start..end)
                    .is_some_and(|slice| slice.iter().zip(&entry.words).all(|(w, k)| *w == k));
                if fits {
                    found.push((start, end, idx));
                }
            }
        }

        // longest first; a match overlapping a strictly longer kept one is dropped
        found.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(a.0.cmp(&b.0)));
        let mut kept: Vec<(usize, usize, usize)> = Vec::with_capacity(found.len());
        for &(start, end, idx) in &found {
            let len = end - start;
            let shadowed = kept
                .iter()
                .any(|&(s, e, _)| e - s > len && s < end && start < e);
            if !shadowed {
                kept.push((start, end, idx));
            }
        }

        // `kept` is ordered by length desc then position: the first of the best kind wins
        let &(_, _, best) = kept
            .iter()
            .min_by_key(|&&(_, _, idx)| self.rank[kind_index(self.entries[idx].kind)])?;
        let winner = &self.entries[best];
        Some(Match {
            kind: winner.kind,
            keyword: winner.keyword.clone(),
        })
    }
}

/// Index of a kind in [`Kind::ALL`].
fn kind_index(kind: Kind) -> usize {
    match kind {
        Kind::Opening => 0,
        Kind::Booking => 1,
        Kind::Transaction => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(kind: Kind, keyword: &str) -> Keyword {
        Keyword {
            kind,
            keyword: keyword.to_owned(),
            channel: None,
        }
    }

    fn kw_on(kind: Kind, keyword: &str, channel: &str) -> Keyword {
        Keyword {
            channel: Some(channel.to_owned()),
            ..kw(kind, keyword)
        }
    }

    /// A small Indonesian keyword set like the growth team's.
    fn indonesian() -> Classifier {
        let keywords = [
            kw(Kind::Opening, "info"),
            kw(Kind::Opening, "tanya"),
            kw(Kind::Opening, "promo"),
            kw(Kind::Booking, "booking"),
            kw(Kind::Booking, "mau pesan"),
            kw(Kind::Booking, "reservasi"),
            kw(Kind::Transaction, "transfer"),
            kw(Kind::Transaction, "sudah bayar"),
            kw(Kind::Transaction, "bukti tf"),
        ];
        classifier(&keywords, &default_precedence())
    }

    fn classifier(keywords: &[Keyword], precedence: &[Kind]) -> Classifier {
        match Classifier::new(keywords, precedence) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn got(c: &Classifier, text: &str, channel: &str) -> Option<(Kind, String)> {
        c.classify(text, channel).map(|m| (m.kind, m.keyword))
    }

    fn want(kind: Kind, keyword: &str) -> Option<(Kind, String)> {
        Some((kind, keyword.to_owned()))
    }

    #[test]
    fn fold_table() {
        let rows = [
            ("Bóoking", "booking"),
            ("  Halo,   KAK!! ", "halo kak"),
            ("mau🙏pesan", "mau pesan"),
            ("Crème brûlée", "creme brulee"),
            ("İstanbul", "istanbul"),
            ("tgl 12/05", "tgl 12 05"),
            ("don't", "don t"),
            ("a\u{a0}b\tc\nd", "a b c d"),
            ("👍🏽🎉", ""),
            ("", ""),
        ];
        for (input, expected) in rows {
            assert_eq!(fold(input), expected, "fold({input:?})");
        }
    }

    #[test]
    fn indonesian_examples() {
        let c = indonesian();
        let rows = [
            (
                "Halo kak, mau tanya info promo",
                want(Kind::Opening, "tanya"),
            ),
            (
                "saya mau booking untuk tanggal 12",
                want(Kind::Booking, "booking"),
            ),
            (
                "sudah transfer ya kak Rp 1.500.000",
                want(Kind::Transaction, "transfer"),
            ),
            ("Kak, MAU... pesan 2 ya", want(Kind::Booking, "mau pesan")),
            ("mau 🙏 pesan", want(Kind::Booking, "mau pesan")),
            ("mau\npesan", want(Kind::Booking, "mau pesan")),
            (
                "info dong, sudah bayar tadi, ini bukti tf",
                want(Kind::Transaction, "sudah bayar"),
            ),
            ("terima kasih kak", None),
            ("", None),
            ("🙏🙏", None),
        ];
        for (text, expected) in rows {
            assert_eq!(got(&c, text, "whatsapp"), expected, "{text:?}");
        }
    }

    #[test]
    fn case_and_accents() {
        let c = classifier(&[kw(Kind::Booking, "Bóoking")], &default_precedence());
        for text in ["BOOKING", "booking", "Bóóking", "bookíng!"] {
            assert_eq!(
                got(&c, text, "x"),
                want(Kind::Booking, "Bóoking"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn word_boundaries() {
        let c = classifier(
            &[kw(Kind::Booking, "booking"), kw(Kind::Opening, "mau pesan")],
            &default_precedence(),
        );
        assert_eq!(got(&c, "rebookings", "x"), None);
        assert_eq!(got(&c, "bookings", "x"), None);
        assert_eq!(got(&c, "prebooking", "x"), None);
        assert_eq!(got(&c, "(booking)", "x"), want(Kind::Booking, "booking"));
        assert_eq!(got(&c, "mau pesanan", "x"), None);
        assert_eq!(got(&c, "semau pesan", "x"), None);
        assert_eq!(got(&c, "mau, pesan", "x"), want(Kind::Opening, "mau pesan"));
    }

    #[test]
    fn typos_do_not_match() {
        let c = indonesian();
        assert_eq!(got(&c, "sdh trnsfer kak", "x"), None);
        assert_eq!(got(&c, "mau bokking", "x"), None);
    }

    #[test]
    fn channel_scoped_keywords() {
        let c = classifier(
            &[
                kw_on(Kind::Booking, "daftar", "Ads"),
                kw(Kind::Opening, "halo"),
                kw_on(Kind::Opening, "psst", " "),
            ],
            &default_precedence(),
        );
        assert_eq!(
            got(&c, "halo, daftar", "ads"),
            want(Kind::Booking, "daftar")
        );
        assert_eq!(
            got(&c, "halo, daftar", "ADS"),
            want(Kind::Booking, "daftar")
        );
        assert_eq!(
            got(&c, "halo, daftar", "whatsapp"),
            want(Kind::Opening, "halo")
        );
        assert_eq!(got(&c, "daftar", "website"), None);
        // a blank channel means every channel
        assert_eq!(got(&c, "psst", "website"), want(Kind::Opening, "psst"));
    }

    #[test]
    fn longest_match_first() {
        let keywords = [
            kw(Kind::Booking, "booking"),
            kw(Kind::Opening, "batal booking"),
            kw(Kind::Transaction, "tf"),
            kw(Kind::Opening, "bukti tf belum ada"),
        ];
        let c = classifier(&keywords, &default_precedence());
        // the shorter booking match sits inside the longer opening one: dropped
        assert_eq!(
            got(&c, "mau batal booking kak", "x"),
            want(Kind::Opening, "batal booking")
        );
        // elsewhere in the text it still counts
        assert_eq!(
            got(&c, "batal booking, ganti booking besok", "x"),
            want(Kind::Booking, "booking")
        );
        assert_eq!(
            got(&c, "maaf bukti tf belum ada", "x"),
            want(Kind::Opening, "bukti tf belum ada")
        );
        assert_eq!(got(&c, "sudah tf", "x"), want(Kind::Transaction, "tf"));
    }

    #[test]
    fn equal_length_overlaps_go_to_precedence() {
        let keywords = [
            kw(Kind::Opening, "mau booking"),
            kw(Kind::Booking, "booking hari"),
        ];
        let c = classifier(&keywords, &default_precedence());
        assert_eq!(
            got(&c, "mau booking hari ini", "x"),
            want(Kind::Booking, "booking hari")
        );
    }

    #[test]
    fn precedence_default_and_custom() {
        let c = indonesian();
        assert_eq!(
            got(&c, "halo, mau booking, sudah transfer", "x"),
            want(Kind::Transaction, "transfer")
        );
        let keywords = [
            kw(Kind::Opening, "halo"),
            kw(Kind::Booking, "booking"),
            kw(Kind::Transaction, "transfer"),
        ];
        let opening_first = classifier(
            &keywords,
            &[Kind::Opening, Kind::Booking, Kind::Transaction],
        );
        assert_eq!(
            got(&opening_first, "halo, mau booking, sudah transfer", "x"),
            want(Kind::Opening, "halo")
        );
        // partial precedence: booking first, then the default order
        let booking_first = classifier(&keywords, &[Kind::Booking, Kind::Booking]);
        assert_eq!(
            got(&booking_first, "halo, mau booking, sudah transfer", "x"),
            want(Kind::Booking, "booking")
        );
        assert_eq!(
            got(&booking_first, "halo, sudah transfer", "x"),
            want(Kind::Transaction, "transfer")
        );
    }

    #[test]
    fn reports_the_longest_keyword_of_the_winning_kind() {
        let keywords = [
            kw(Kind::Opening, "info"),
            kw(Kind::Opening, "mau tanya"),
            kw(Kind::Opening, "halo"),
        ];
        let c = classifier(&keywords, &default_precedence());
        assert_eq!(
            got(&c, "Halo kak, mau tanya info promo", "x"),
            want(Kind::Opening, "mau tanya")
        );
        assert_eq!(got(&c, "info, halo", "x"), want(Kind::Opening, "info"));
    }

    #[test]
    fn empty_keyword_is_refused_and_duplicates_are_fine() {
        let err = Classifier::new(
            &[kw(Kind::Booking, "booking"), kw(Kind::Opening, " ?! 🙏")],
            &default_precedence(),
        );
        let Err(e) = err else {
            panic!("empty keyword accepted");
        };
        assert_eq!(
            e,
            KeywordError::Empty {
                kind: Kind::Opening,
                keyword: " ?! 🙏".to_owned()
            }
        );
        assert!(
            e.to_string()
                .starts_with("the opening keyword \" ?! 🙏\" has no letter")
        );

        let c = classifier(
            &[
                kw(Kind::Booking, "Booking"),
                kw(Kind::Booking, "booking"),
                kw(Kind::Booking, "BÓOKING!"),
            ],
            &default_precedence(),
        );
        assert_eq!(c.entries.len(), 1);
        assert_eq!(got(&c, "booking", "x"), want(Kind::Booking, "Booking"));
    }

    #[test]
    fn kind_names_and_serde() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            assert_eq!(Kind::parse(&kind.as_str().to_uppercase()), Some(kind));
            assert_eq!(
                serde_json::to_string(&kind).ok(),
                Some(format!("\"{}\"", kind.as_str()))
            );
        }
        assert_eq!(Kind::parse("bookings"), None);
        assert_eq!(
            default_precedence(),
            [Kind::Transaction, Kind::Booking, Kind::Opening]
        );

        let parsed: Result<Keyword, _> =
            serde_json::from_str(r#"{"kind":"transaction","keyword":"lunas"}"#);
        assert_eq!(parsed.ok(), Some(kw(Kind::Transaction, "lunas")));
    }

    #[test]
    fn classifier_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Classifier>();
    }
}

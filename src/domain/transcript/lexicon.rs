//! The rules' data: the built-in English lexicon (`lexicon_en.json`, versioned with its file)
//! and an organization's own entries (settings, versioned with them). An entry names a kind, a
//! phrase (normalised like the text, `*` for any one word) and where it may fire.

use super::kinds::{Category, MarkerKind, MoveKind, Strength};
use super::tokens::phrase_words;
use crate::domain::validation::FieldError;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use utoipa::ToSchema;

/// Where in a turn an entry may match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    #[default]
    Anywhere,
    /// At the start of the turn (after fillers such as "well", "um").
    TurnStart,
    /// At the start of a sentence or clause (after fillers such as "so", "and").
    SentenceStart,
}

/// Which sentences an entry may match in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SentenceType {
    #[default]
    Any,
    Question,
    Statement,
}

/// One entry as written in the lexicon file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntrySpec {
    id: String,
    kind: String,
    phrase: String,
    #[serde(default)]
    strength: Strength,
    #[serde(default)]
    position: Position,
    #[serde(default)]
    sentence: SentenceType,
    /// Only in a client turn answering a therapist's open question.
    #[serde(default)]
    after_open_question: bool,
    /// Only in a turn without "I", "me", "my" (talk that avoids oneself).
    #[serde(default)]
    without_first_person: bool,
    /// Fires only when negated in its clause ("not sure we're really getting anywhere").
    #[serde(default)]
    negated: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LexiconFile {
    version: String,
    language: String,
    sentence_fillers: Vec<String>,
    resolving_moves: Vec<String>,
    entries: Vec<EntrySpec>,
}

/// An organization's own lexicon entry (organization settings, `transcripts.custom_lexicon`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomEntry {
    /// A marker or move kind, e.g. `complaint_progress` or `validation`. `minimal_response`,
    /// `question_open` and `question_closed` are structural and take no entries.
    pub kind: String,
    /// 1–10 words of letters, digits and apostrophes; `*` stands for any one word (not first).
    #[schema(min_length = 1, max_length = 80)]
    pub phrase: String,
    #[serde(default)]
    pub strength: Strength,
    #[serde(default)]
    pub position: Position,
}

/// A compiled entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: String,
    pub category: Category,
    pub words: Vec<String>,
    pub strength: Strength,
    pub position: Position,
    pub sentence: SentenceType,
    pub after_open_question: bool,
    pub without_first_person: bool,
    pub negated: bool,
}

/// The rules in force for one analysis.
#[derive(Clone, Debug)]
pub struct Lexicon {
    /// `<built-in version>` or `<built-in version>+org.<settings version>` with custom entries.
    pub version: String,
    pub language: String,
    pub fillers: HashSet<String>,
    pub resolving: Vec<MoveKind>,
    pub entries: Vec<Entry>,
    by_first_word: HashMap<String, Vec<usize>>,
}

const STRUCTURAL: [Category; 3] = [
    Category::Marker(MarkerKind::MinimalResponse),
    Category::Move(MoveKind::QuestionOpen),
    Category::Move(MoveKind::QuestionClosed),
];
// (Built-in entries may still name question kinds: "how much" makes a question closed.)

fn compile(spec: EntrySpec, pointer: &str, custom: bool) -> Result<Entry, FieldError> {
    let category = Category::parse(&spec.kind)
        .ok_or_else(|| FieldError::new(format!("{pointer}/kind"), format!("unknown kind `{}`", spec.kind)))?;
    if custom && STRUCTURAL.contains(&category) {
        return Err(FieldError::new(format!("{pointer}/kind"), "this kind is found by structure, not by phrases"));
    }
    let chars = spec.phrase.chars().count();
    let allowed =
        spec.phrase.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '\'' || c == '\u{2019}' || c == '*');
    let words = phrase_words(&spec.phrase);
    let problem = if !(1..=80).contains(&chars) {
        Some("must be 1–80 characters")
    } else if !allowed {
        Some("only letters, digits, spaces, apostrophes and `*`")
    } else if words.is_empty() || words.len() > 10 {
        Some("must be 1–10 words")
    } else if words.first().is_some_and(|w| w == "*") {
        Some("must not start with `*`")
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(FieldError::new(format!("{pointer}/phrase"), problem));
    }
    Ok(Entry {
        id: spec.id,
        category,
        words,
        strength: spec.strength,
        position: spec.position,
        sentence: spec.sentence,
        after_open_question: spec.after_open_question,
        without_first_person: spec.without_first_person,
        negated: spec.negated,
    })
}

impl Lexicon {
    fn index(entries: &[Entry]) -> HashMap<String, Vec<usize>> {
        let mut by_first_word: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            if let Some(first) = entry.words.first() {
                by_first_word.entry(first.clone()).or_default().push(index);
            }
        }
        by_first_word
    }

    fn parse(raw: &str) -> Result<Lexicon, String> {
        let file: LexiconFile = serde_json::from_str(raw).map_err(|e| e.to_string())?;
        let mut entries = Vec::with_capacity(file.entries.len());
        let mut ids = HashSet::new();
        for (index, spec) in file.entries.into_iter().enumerate() {
            if !ids.insert(spec.id.clone()) {
                return Err(format!("entry id `{}` given twice", spec.id));
            }
            entries.push(
                compile(spec, &format!("/entries/{index}"), false)
                    .map_err(|e| format!("{}: {}", e.pointer, e.detail))?,
            );
        }
        let resolving = file
            .resolving_moves
            .iter()
            .map(|raw| MoveKind::parse(raw).ok_or_else(|| format!("unknown resolving move `{raw}`")))
            .collect::<Result<_, _>>()?;
        Ok(Lexicon {
            version: file.version,
            language: file.language,
            fillers: file.sentence_fillers.into_iter().collect(),
            resolving,
            by_first_word: Self::index(&entries),
            entries,
        })
    }

    /// The built-in English rules.
    pub fn builtin() -> &'static Lexicon {
        static BUILTIN: OnceLock<Lexicon> = OnceLock::new();
        // The file is part of the source; `tests::the_builtin_lexicon_compiles` keeps it valid.
        BUILTIN.get_or_init(|| Lexicon::parse(include_str!("lexicon_en.json")).expect("lexicon_en.json is valid"))
    }

    /// The built-in rules plus an organization's entries (already validated with the settings);
    /// without entries, the built-in rules themselves (no copy per analysis).
    pub fn with_custom(
        custom: &[CustomEntry],
        settings_version: i32,
    ) -> Result<Cow<'static, Lexicon>, Vec<FieldError>> {
        let builtin = Self::builtin();
        if custom.is_empty() {
            return Ok(Cow::Borrowed(builtin));
        }
        let mut lexicon = builtin.clone();
        let mut errors = Vec::new();
        for (index, entry) in custom.iter().enumerate() {
            let spec = EntrySpec {
                id: format!("custom.{index}"),
                kind: entry.kind.clone(),
                phrase: entry.phrase.clone(),
                strength: entry.strength,
                position: entry.position,
                sentence: SentenceType::Any,
                after_open_question: false,
                without_first_person: false,
                negated: false,
            };
            match compile(spec, &format!("/transcripts/custom_lexicon/{index}"), true) {
                Ok(entry) => lexicon.entries.push(entry),
                Err(error) => errors.push(error),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        lexicon.version = format!("{}+org.{settings_version}", builtin.version);
        lexicon.by_first_word = Self::index(&lexicon.entries);
        Ok(Cow::Owned(lexicon))
    }

    /// Entries whose phrase starts with `word`.
    pub fn starting_with(&self, word: &str) -> impl Iterator<Item = &Entry> {
        self.by_first_word.get(word).into_iter().flatten().filter_map(|&index| self.entries.get(index))
    }

    pub fn resolves(&self, kind: MoveKind) -> bool {
        self.resolving.contains(&kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_lexicon_compiles_and_covers_every_phrase_kind() {
        let lexicon = Lexicon::builtin();
        assert_eq!(lexicon.language, "en");
        for kind in
            MarkerKind::ALL.iter().map(|k| Category::Marker(*k)).chain(MoveKind::ALL.iter().map(|k| Category::Move(*k)))
        {
            if kind == Category::Marker(MarkerKind::MinimalResponse) || kind == Category::Move(MoveKind::QuestionClosed)
            {
                continue;
            }
            assert!(lexicon.entries.iter().any(|e| e.category == kind), "no entry for {}", kind.as_str());
        }
    }

    #[test]
    fn custom_entries_are_validated_by_pointer_and_change_the_version() {
        let good = CustomEntry {
            kind: "complaint_parameters".into(),
            phrase: "the parking".into(),
            strength: Strength::Low,
            position: Position::Anywhere,
        };
        let lexicon = Lexicon::with_custom(std::slice::from_ref(&good), 4).unwrap();
        assert!(lexicon.version.ends_with("+org.4"));
        assert!(lexicon.starting_with("the").any(|e| e.id == "custom.0"));
        let bad = [
            good.clone(),
            CustomEntry { kind: "sarcasm".into(), ..good.clone() },
            CustomEntry { kind: "minimal_response".into(), ..good.clone() },
            CustomEntry { phrase: "* parking".into(), ..good.clone() },
            CustomEntry { phrase: "a<b".into(), ..good.clone() },
        ];
        let pointers: Vec<String> = Lexicon::with_custom(&bad, 5).unwrap_err().into_iter().map(|e| e.pointer).collect();
        assert_eq!(
            pointers,
            [
                "/transcripts/custom_lexicon/1/kind",
                "/transcripts/custom_lexicon/2/kind",
                "/transcripts/custom_lexicon/3/phrase",
                "/transcripts/custom_lexicon/4/phrase"
            ]
        );
    }
}

//! Words of one turn, normalised for matching: lower case, typographic apostrophes made plain,
//! contractions expanded ("don't" → "do not", "I'm" → "i am") so one lexicon phrase matches
//! both spellings. Each word keeps its character span in the original text (an expanded
//! contraction's words share it), whether it sits inside quotation marks, its clause (for
//! negation scope) and its sentence (for questions and reflections).

/// One normalised word.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub word: String,
    /// Character offsets (Unicode scalar values) into the turn's text, end exclusive.
    pub start: usize,
    pub end: usize,
    /// Inside "…" or “…”: someone else's words, reported.
    pub quoted: bool,
    pub clause: usize,
    pub sentence: usize,
}

/// A sentence: its tokens `first..end` and whether it ends with a question mark.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    pub first: usize,
    pub end: usize,
    pub question: bool,
}

#[derive(Debug, Default)]
pub struct Tokens {
    pub tokens: Vec<Token>,
    pub sentences: Vec<Sentence>,
}

/// Words that start a new clause for negation scope ("I don't know, but you're not listening").
const CLAUSE_WORDS: [&str; 4] = ["but", "although", "though", "because"];

/// Negators after contraction expansion.
pub const NEGATORS: [&str; 6] = ["not", "no", "never", "hardly", "neither", "nor"];

fn expand(word: &str) -> Vec<String> {
    let irregular: &[(&str, &[&str])] = &[
        ("can't", &["can", "not"]),
        ("cannot", &["can", "not"]),
        ("won't", &["will", "not"]),
        ("shan't", &["shall", "not"]),
        ("ain't", &["am", "not"]),
        ("let's", &["let", "us"]),
        ("dunno", &["do", "not", "know"]),
        ("gonna", &["going", "to"]),
        ("wanna", &["want", "to"]),
    ];
    if let Some((_, words)) = irregular.iter().find(|(w, _)| *w == word) {
        return words.iter().map(|w| (*w).to_owned()).collect();
    }
    let suffixes: [(&str, &str); 6] =
        [("n't", "not"), ("'m", "am"), ("'re", "are"), ("'ve", "have"), ("'ll", "will"), ("'d", "would")];
    for (suffix, full) in suffixes {
        if let Some(stem) = word.strip_suffix(suffix).filter(|s| !s.is_empty()) {
            return vec![stem.to_owned(), full.to_owned()];
        }
    }
    // "it's", "that's", "what's": read as "is"; other "'s" are possessives ("today's") and stay whole.
    const IS_CONTRACTIONS: [&str; 16] = [
        "it",
        "that",
        "what",
        "there",
        "here",
        "he",
        "she",
        "who",
        "where",
        "how",
        "everything",
        "nothing",
        "something",
        "everyone",
        "anything",
        "this",
    ];
    if let Some(stem) = word.strip_suffix("'s").filter(|s| IS_CONTRACTIONS.contains(s)) {
        return vec![stem.to_owned(), "is".to_owned()];
    }
    vec![word.to_owned()]
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Splits `text` into normalised tokens and sentences.
pub fn tokenize(text: &str) -> Tokens {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Tokens::default();
    let mut quoted = false;
    let mut clause = 0usize;
    let mut sentence = 0usize;
    let mut sentence_first = 0usize;
    let mut index = 0usize;
    let close_sentence = |out: &mut Tokens, first: &mut usize, sentence: &mut usize, question: bool| {
        let end = out.tokens.len();
        if end > *first {
            out.sentences.push(Sentence { first: *first, end, question });
            *sentence = sentence.saturating_add(1);
        } else if question {
            // "?" after nothing new (e.g. "…right??"): the previous sentence is the question.
            if let Some(last) = out.sentences.last_mut() {
                last.question = true;
            }
        }
        *first = end;
    };
    while let Some(&c) = chars.get(index) {
        if c.is_alphanumeric() {
            let start = index;
            let mut word = String::new();
            while let Some(&c) = chars.get(index) {
                let joins = is_apostrophe(c)
                    && chars.get(index.saturating_add(1)).is_some_and(|n| n.is_alphanumeric())
                    && !word.is_empty();
                if c.is_alphanumeric() {
                    word.extend(c.to_lowercase());
                } else if joins {
                    word.push('\'');
                } else {
                    break;
                }
                index = index.saturating_add(1);
            }
            let end = index;
            for part in expand(&word) {
                if CLAUSE_WORDS.contains(&part.as_str()) {
                    clause = clause.saturating_add(1);
                }
                out.tokens.push(Token { word: part, start, end, quoted, clause, sentence });
            }
            continue;
        }
        match c {
            '"' => quoted = !quoted,
            '\u{201C}' => quoted = true,
            '\u{201D}' => quoted = false,
            ',' | ';' | ':' | '\u{2014}' | '\u{2013}' | '(' | ')' => clause = clause.saturating_add(1),
            '.' | '!' | '?' | '\u{2026}' => {
                clause = clause.saturating_add(1);
                close_sentence(&mut out, &mut sentence_first, &mut sentence, c == '?');
            }
            _ => {}
        }
        index = index.saturating_add(1);
    }
    close_sentence(&mut out, &mut sentence_first, &mut sentence, false);
    out
}

/// The normalised words of a lexicon phrase (the same normalisation as the text).
pub fn phrase_words(phrase: &str) -> Vec<String> {
    let mut words = Vec::new();
    for piece in phrase.split_whitespace() {
        if piece == "*" {
            words.push("*".to_owned());
        } else {
            words.extend(tokenize(piece).tokens.into_iter().map(|t| t.word));
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokenize(text).tokens.into_iter().map(|t| t.word).collect()
    }

    #[test]
    fn contractions_expand_and_keep_the_span_of_their_word() {
        assert_eq!(words("I don’t think it's working"), ["i", "do", "not", "think", "it", "is", "working"]);
        let tokens = tokenize("You can't").tokens;
        assert_eq!((tokens[1].start, tokens[1].end, tokens[2].start, tokens[2].end), (4, 9, 4, 9));
    }

    #[test]
    fn quotes_clauses_and_questions_are_marked() {
        let t = tokenize("She said \"you never listen\", but how are you? Fine.");
        let quoted: Vec<&str> = t.tokens.iter().filter(|t| t.quoted).map(|t| t.word.as_str()).collect();
        assert_eq!(quoted, ["you", "never", "listen"]);
        assert_eq!(t.sentences.len(), 2);
        assert!(t.sentences[0].question);
        assert!(!t.sentences[1].question);
        let but = t.tokens.iter().position(|t| t.word == "but").unwrap();
        assert!(t.tokens[but].clause > t.tokens[0].clause);
    }

    #[test]
    fn offsets_count_characters_not_bytes() {
        let t = tokenize("Ça va? Non.");
        assert_eq!((t.tokens[0].start, t.tokens[0].end), (0, 2));
        assert_eq!((t.tokens[2].start, t.tokens[2].end), (7, 10));
    }
}

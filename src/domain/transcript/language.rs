//! Only English is analysed: the lexicon is English, and a transcript in another language
//! would come back "clean", which is worse than a refusal. A declared language other than
//! English is refused; so is a transcript whose words are mostly not English function words
//! or mostly not in Latin script.

use super::analysis::Turn;
use super::tokens::tokenize;

/// The commonest English function words; other European languages share few of them.
const ENGLISH: [&str; 48] = [
    "the", "and", "to", "of", "is", "it", "you", "that", "was", "for", "on", "are", "with", "as", "be", "have", "this",
    "what", "but", "not", "they", "at", "we", "he", "she", "my", "your", "do", "about", "just", "like", "so", "know",
    "if", "would", "can", "think", "how", "there", "been", "or", "from", "really", "feel", "i", "am", "will", "did",
];

/// Below this many words a transcript is too short to judge, and is read.
const MIN_WORDS: usize = 30;

/// Checks the declared language (`Content-Language`) and the text itself.
pub fn check_english(turns: &[Turn], declared: Option<&str>) -> Result<(), String> {
    if let Some(declared) = declared.map(str::trim).filter(|d| !d.is_empty()) {
        let primary = declared.split([',', '-', '_']).next().unwrap_or("").trim().to_ascii_lowercase();
        if primary != "en" {
            return Err(format!("transcripts in `{declared}` cannot be analysed yet: only English (en) is supported"));
        }
    }
    let (mut letters, mut latin) = (0usize, 0usize);
    let (mut words, mut english) = (0usize, 0usize);
    for turn in turns {
        for c in turn.text.chars().filter(|c| c.is_alphabetic()) {
            letters = letters.saturating_add(1);
            if c.is_ascii_alphabetic() || ('\u{00C0}'..='\u{024F}').contains(&c) {
                latin = latin.saturating_add(1);
            }
        }
        for token in tokenize(&turn.text).tokens {
            words = words.saturating_add(1);
            if ENGLISH.contains(&token.word.as_str()) {
                english = english.saturating_add(1);
            }
        }
    }
    if letters >= 100 && (latin as f64) < 0.7 * letters as f64 {
        return Err("the transcript is mostly not in Latin script: only English is supported".into());
    }
    if words >= MIN_WORDS && (english as f64) < 0.15 * words as f64 {
        return Err(format!(
            "the transcript does not read as English ({english} of {words} words are common English words): only English is supported"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::transcript::Speaker;

    fn turns(text: &str) -> Vec<Turn> {
        vec![Turn { speaker: Speaker::Client, start_ms: 0, end_ms: 1, text: text.into() }]
    }

    #[test]
    fn english_passes_and_other_languages_are_refused() {
        let english = "I don't know, it's been a really hard week and I think I just feel tired all the time. \
                       My sister says I should talk to you about it but I'm not sure what there is to say.";
        assert_eq!(check_english(&turns(english), Some("en-GB")), Ok(()));
        let spanish = "No sé, ha sido una semana muy difícil y creo que estoy cansada todo el tiempo. \
                       Mi hermana dice que debería hablar contigo pero no estoy segura de qué decir sobre esto.";
        assert!(check_english(&turns(spanish), None).is_err());
        let russian = "Я не знаю, это была очень тяжёлая неделя, и я думаю, что я просто устала всё время. \
                       Моя сестра говорит, что я должна поговорить с вами, но я не уверена, что сказать.";
        assert!(check_english(&turns(russian), None).is_err());
        assert!(check_english(&turns(english), Some("de")).unwrap_err().contains("`de`"));
    }
}

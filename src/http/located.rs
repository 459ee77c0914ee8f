//! Turns a serde error and the path where it happened into a JSON pointer and a detail a
//! caller can act on, for bodies and query strings alike.

use crate::domain::validation::pointer_token;

/// `pointer` is where deserialization stopped; `message` serde's text. serde names the field
/// of "missing field `x`" in its message while the path stops at the object that holds it (for
/// an unknown field the path already ends with it).
pub fn locate(pointer: &str, message: &str) -> (String, String) {
    let message = message.split(" at line ").next().unwrap_or(message).to_owned();
    let field = ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let pointer = match field.map(pointer_token) {
        Some(token) if !pointer.ends_with(&format!("/{token}")) => format!("{pointer}/{token}"),
        _ => pointer.to_owned(),
    };
    let detail = match message.split_once(", expected one of") {
        Some((head, _)) if message.starts_with("unknown field") => format!("{head}: this field is not accepted"),
        _ => message,
    };
    (pointer, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_field_is_appended_to_the_path_and_an_unknown_one_is_not_doubled() {
        assert_eq!(locate("/a", "missing field `b` at line 1 column 2").0, "/a/b");
        let (pointer, detail) = locate("/x", "unknown field `x`, expected one of `a`, `b`");
        assert_eq!(pointer, "/x");
        assert_eq!(detail, "unknown field `x`: this field is not accepted");
    }
}

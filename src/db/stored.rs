//! Text columns that hold a closed set of values (rater, role, age group, signal kind,
//! severity, status) become typed values here, as rows are read. A value the code does not know
//! is corrupt data: an internal error that is logged, never a silent default (an unknown age
//! group read as "adult" would change clinical cutoffs).

use super::DbError;

/// `parse(raw)`, or a [`DbError::Corrupt`] naming the column and the value.
pub fn stored<T>(raw: &str, parse: impl FnOnce(&str) -> Option<T>, column: &str) -> Result<T, DbError> {
    parse(raw).ok_or_else(|| DbError::Corrupt(format!("unknown value `{raw}` in {column}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clients::AgeGroup;

    #[test]
    fn an_unknown_stored_value_is_an_error_not_a_default() {
        assert_eq!(stored("adolescent", AgeGroup::parse, "clients.age_group").ok(), Some(AgeGroup::Adolescent));
        let error = stored("toddler", AgeGroup::parse, "clients.age_group").unwrap_err();
        assert!(error.to_string().contains("toddler") && error.to_string().contains("clients.age_group"), "{error}");
    }
}

/// Reads a text column straight into a closed-set domain type: an unknown value fails the
/// query (a logged internal error), so rows can hold typed fields.
macro_rules! text_column {
    ($($type:ty => $column:literal),* $(,)?) => {$(
        impl diesel::Queryable<diesel::sql_types::Text, diesel::pg::Pg> for $type {
            type Row = String;

            fn build(raw: String) -> diesel::deserialize::Result<Self> {
                <$type>::parse(&raw).ok_or_else(|| format!("unknown value `{raw}` in {}", $column).into())
            }
        }
    )*};
}

text_column! {
    crate::domain::Role => "a role column",
    crate::domain::clients::AgeGroup => "clients.age_group",
    crate::domain::episodes::EpisodeStatus => "episodes.status",
}

//! Analytics answers with every fractional number rounded to two decimals, in this one place
//! (docs/methodology.md, "Numbers"): the arithmetic below keeps full precision, so rounding
//! never compounds, and no view can forget it.

use super::views::round2;
use actix_web::body::BoxBody;
use actix_web::{HttpRequest, HttpResponse, Responder};
use serde::Serialize;
use serde_json::Value;

/// A JSON answer whose floating-point numbers are rounded to 2 decimals (integers stay exact).
pub struct Rounded<T>(pub T);

impl<T: Serialize> Responder for Rounded<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        rounded_with_status(actix_web::http::StatusCode::OK, &self.0)
    }
}

/// The same rounding, for answers with another status (201 for a creation).
pub fn rounded_with_status(status: actix_web::http::StatusCode, view: &impl Serialize) -> HttpResponse {
    match serde_json::to_value(view) {
        Ok(mut value) => {
            round_floats(&mut value);
            HttpResponse::build(status).json(value)
        }
        Err(error) => actix_web::ResponseError::error_response(&crate::error::ApiError::internal(error)),
    }
}

/// Rounds every number in `value` that is not an integer.
pub fn round_floats(value: &mut Value) {
    match value {
        Value::Number(number) if number.is_f64() => {
            if let Some(rounded) = number.as_f64().map(round2).and_then(serde_json::Number::from_f64) {
                *number = rounded;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_floats),
        Value::Object(map) => map.values_mut().for_each(round_floats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fractions_anywhere_are_rounded_and_integers_are_left_alone() {
        let mut value = json!({"mean": 36.666666666666664, "n": 3, "ci": [33.515873885221424, null],
                               "nested": {"share": 0.3333333333333333, "count": 12345678901_i64}});
        round_floats(&mut value);
        assert_eq!(
            value,
            json!({"mean": 36.67, "n": 3, "ci": [33.52, null],
                                 "nested": {"share": 0.33, "count": 12345678901_i64}})
        );
    }
}

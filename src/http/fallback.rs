//! The route table as the OpenAPI document states it (collected from the registered handlers,
//! so it cannot drift from the routes): what answers when no route matches (405 with `Allow`
//! when the path exists with other methods, 404 otherwise), and which query parameters each
//! operation declares (the guard refuses any other).

use super::extract::{BodyLimit, discard_body};
use crate::error::ApiError;
use actix_router::ResourceDef;
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::ParameterIn;

/// One operation of the document: its method and the query parameters it declares.
struct Operation {
    method: &'static str,
    query: Vec<String>,
}

pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<Operation>)>,
}

impl RouteTable {
    pub fn from_openapi(api: &OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let operations = [
                    ("GET", &item.get),
                    ("PUT", &item.put),
                    ("POST", &item.post),
                    ("DELETE", &item.delete),
                    ("PATCH", &item.patch),
                ]
                .into_iter()
                .filter_map(|(method, operation)| {
                    let query = operation
                        .as_ref()?
                        .parameters
                        .iter()
                        .flatten()
                        .filter(|p| p.parameter_in == ParameterIn::Query)
                        .map(|p| p.name.clone())
                        .collect();
                    Some(Operation { method, query })
                })
                .collect();
                (ResourceDef::new(path.as_str()), operations)
            })
            .collect();
        Self { routes }
    }

    /// The operations of the most specific pattern matching `path`: when several match
    /// (`/v1/responses/batch` and `/v1/responses/{id}`), the one with the most literal segments
    /// is the one the path means.
    fn resource(&self, path: &str) -> Option<&[Operation]> {
        let specificity =
            |def: &ResourceDef| def.pattern().map_or(0, |p| p.split('/').filter(|s| !s.starts_with('{')).count());
        self.routes
            .iter()
            .filter(|(def, _)| def.is_match(path))
            .max_by_key(|(def, _)| specificity(def))
            .map(|(_, operations)| operations.as_slice())
    }

    /// The methods a path allows, if any route has that path.
    pub fn allowed_methods(&self, path: &str) -> Option<Vec<String>> {
        let mut allowed: Vec<String> =
            self.resource(path)?.iter().map(|operation| operation.method.to_owned()).collect();
        allowed.sort();
        (!allowed.is_empty()).then_some(allowed)
    }

    /// The query parameters `method` on `path` declares; `None` when no operation matches.
    pub fn declared_query(&self, method: &str, path: &str) -> Option<&[String]> {
        self.resource(path)?
            .iter()
            .find(|operation| operation.method == method)
            .map(|operation| operation.query.as_slice())
    }
}

/// The default service. A body sent to nowhere is read and dropped first (up to a bound), so
/// the answer reaches a client that is still sending it.
pub async fn unmatched(
    request: HttpRequest,
    payload: web::Payload,
    routes: web::Data<RouteTable>,
    limit: Option<web::Data<BodyLimit>>,
) -> Result<HttpResponse, ApiError> {
    let mut payload = payload.into_inner();
    discard_body(&mut payload, limit.map_or(1_048_576, |l| l.0)).await;
    Err(match routes.allowed_methods(request.path()) {
        Some(allow) => ApiError::MethodNotAllowed { allow },
        None => ApiError::NotFound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_route_says_which_methods_a_path_allows() {
        let table = RouteTable::from_openapi(&crate::openapi::build());
        assert_eq!(table.allowed_methods("/v1/responses/batch"), Some(vec!["POST".to_owned()]));
        assert_eq!(
            table.allowed_methods("/v1/responses/0190f0f0-0000-7000-8000-000000000000"),
            Some(vec!["GET".to_owned()])
        );
        assert_eq!(table.allowed_methods("/nowhere"), None);
    }
}

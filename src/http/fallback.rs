//! What answers when no route matches: 405 with `Allow` when the path exists with other
//! methods, 404 otherwise. The known paths come from the OpenAPI document, which is collected
//! from the registered handlers, so this table cannot drift from the routes.

use super::extract::{BodyLimit, discard_body};
use crate::error::ApiError;
use actix_router::ResourceDef;
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::openapi::OpenApi;

pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<String>)>,
}

impl RouteTable {
    pub fn from_openapi(api: &OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods: Vec<String> = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(method, _)| method.to_owned())
                .collect();
                methods.sort();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods a path allows, if any route has that path. When several patterns match
    /// (`/v1/responses/batch` and `/v1/responses/{id}`), the most specific one answers, as it
    /// is the one the path means.
    pub fn allowed_methods(&self, path: &str) -> Option<Vec<String>> {
        let matching: Vec<&(ResourceDef, Vec<String>)> =
            self.routes.iter().filter(|(def, _)| def.is_match(path)).collect();
        let specificity =
            |def: &ResourceDef| def.pattern().map_or(0, |p| p.split('/').filter(|s| !s.starts_with('{')).count());
        let best = matching.iter().map(|(def, _)| specificity(def)).max()?;
        let mut allowed: Vec<String> = matching
            .into_iter()
            .filter(|(def, _)| specificity(def) == best)
            .flat_map(|(_, methods)| methods.clone())
            .collect();
        allowed.sort();
        allowed.dedup();
        (!allowed.is_empty()).then_some(allowed)
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

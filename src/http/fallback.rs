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

    /// The methods a path allows, if any route has that path.
    pub fn allowed_methods(&self, path: &str) -> Option<Vec<String>> {
        let mut allowed: Vec<String> =
            self.routes.iter().filter(|(def, _)| def.is_match(path)).flat_map(|(_, methods)| methods.clone()).collect();
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

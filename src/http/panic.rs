//! The last line of defence: a panic anywhere in the application (routing, a middleware, an
//! extractor, a handler, a view) answers 500 problem+json and is logged, instead of dropping
//! the connection without an answer. Panics are bugs: arithmetic on caller-supplied values is
//! checked where it happens, and this only makes sure a missed case still gets an answer.
//!
//! It wraps the whole application service, outside actix's own request handling, because a
//! middleware inside the `App` would have to keep a second handle on the request while routing
//! needs the only one.

use super::observe::{REQUEST_ID_HEADER, RequestId};
use crate::error::ApiError;
use actix_http::{Request, Response};
use actix_service::{IntoServiceFactory, Service, ServiceFactory, apply_fn_factory};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{AppConfig, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::{HttpMessage, ResponseError};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;

#[derive(Debug, thiserror::Error)]
#[error("a request handler panicked: {0}")]
struct Panicked(String);

/// `app` with every panic turned into a 500 problem answer.
pub fn answering_panics<F, S, B>(
    app: F,
) -> impl ServiceFactory<
    Request,
    Config = AppConfig,
    Response = Response<BoxBody>,
    Error = actix_web::Error,
    InitError = (),
    Service = impl Service<Request, Response = Response<BoxBody>, Error = actix_web::Error>,
>
where
    F: IntoServiceFactory<S, Request>,
    S: ServiceFactory<
            Request,
            Config = AppConfig,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        >,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    apply_fn_factory(app, |request: Request, service: &S::Service| {
        let request_id = RequestId::from_header(request.headers().get(&REQUEST_ID_HEADER));
        let answer = service.call(request);
        async move {
            match AssertUnwindSafe(answer).catch_unwind().await {
                Ok(result) => result.map(|response| response.map_into_boxed_body().into()),
                Err(payload) => Ok(panic_response(payload.as_ref(), request_id)),
            }
        }
    })
}

fn panic_response(payload: &(dyn std::any::Any + Send), request_id: RequestId) -> Response<BoxBody> {
    let message = payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".into());
    let span = tracing::error_span!("request", request_id = %request_id.0);
    let mut response = span.in_scope(|| ApiError::internal(Panicked(message)).error_response());
    let headers = response.headers_mut();
    super::security_headers::insert_api_headers(headers);
    if let Ok(id) = HeaderValue::from_str(&request_id.0) {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    response.into()
}

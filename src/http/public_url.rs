//! The service's public base URL: configured (`RAPPORT_PUBLIC_URL`) or, unset, the scheme and
//! `Host` of the request. FHIR links, `Location` headers and the audience of SMART client
//! assertions are built from it.

use actix_web::{HttpRequest, web};

#[derive(Clone, Debug, Default)]
pub struct PublicUrl(pub Option<String>);

impl PublicUrl {
    /// `https://host[:port][/prefix]`, without a trailing slash.
    pub fn base(request: &HttpRequest) -> String {
        let configured = request.app_data::<web::Data<PublicUrl>>().and_then(|url| url.0.clone());
        configured.unwrap_or_else(|| {
            let info = request.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        })
    }
}

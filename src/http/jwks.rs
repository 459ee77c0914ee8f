//! `GET /.well-known/jwks.json`: the public keys that verify Rapport's access tokens.

use crate::auth::tokens::TokenKeys;
use actix_web::{HttpResponse, get, web};

/// Public keys for verifying access tokens (JWKS, RFC 7517).
///
/// Lists the current Ed25519 signing key and earlier keys still trusted during a rotation,
/// each under its `kid` (RFC 7638 thumbprint). Empty when tokens are signed with HS256, whose
/// key is a shared secret.
#[utoipa::path(
    tag = "authentication",
    responses((status = 200, description = "JSON Web Key Set", body = Object, content_type = "application/jwk-set+json"))
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(keys: web::Data<TokenKeys>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header(("cache-control", "public, max-age=300"))
        .json(keys.jwks())
}

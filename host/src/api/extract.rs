//! Extractors whose rejections are [`ApiError`]s, so a malformed body, path or
//! query string gets the same `application/problem+json` answer as every other error.

use axum::extract::{FromRequest, FromRequestParts, Path, RawPathParams};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;

/// `axum::Json`, rejecting with a problem document naming what is wrong.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Path`, rejecting with a problem document. Every path
/// parameter (a lead, call, plugin, version or key id) is checked first by
/// [`crate::ids::check_lookup`]: one with a control character (`%00`,
/// `%0A`) or longer than an id can be is refused with 400 naming it, before
/// any handler sees it or a log line could carry it.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::bad_request(format!("invalid path: {}", rejection.body_text()))
            })?;
        for (name, value) in &raw {
            crate::ids::check_lookup(&format!("path parameter {name}"), value).map_err(
                |error| {
                    let mut api = ApiError::bad_request(error.to_string());
                    api.kind = "invalid-id";
                    api
                },
            )?;
        }
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// `axum::extract::Query`, rejecting with a problem document.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

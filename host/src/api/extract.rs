//! Extractors whose rejections are [`ApiError`]s, so a malformed body, path or
//! query string gets the same `application/problem+json` answer as every other error.

use axum::extract::{FromRequest, FromRequestParts};

use super::ApiError;

/// `axum::Json`, rejecting with a problem document naming what is wrong.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Path`, rejecting with a problem document.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Query`, rejecting with a problem document.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

//! `GET /v1/openapi.json`: the admin API described as OpenAPI 3.1, generated
//! from the handlers' `#[utoipa::path]` annotations and their types, so the
//! document cannot drift from the code silently (a test compares it with the
//! routes the router really has: `tests/openapi.rs`).
//!
//! Every operation answers errors as RFC 9457 problems ([`crate::problem`]);
//! rather than repeat that on each handler, [`Problems`] adds the `4XX` and
//! `5XX` answers to every operation of the document.

use axum::Json;
use serde::Serialize;
use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

/// An error answer (`application/problem+json`, RFC 9457).
#[derive(Serialize, ToSchema)]
pub struct ProblemDoc {
    /// `https://weft.dev/problems/KIND`: what went wrong, for programs.
    #[serde(rename = "type")]
    ty: String,
    title: String,
    status: u16,
    /// What failed, where, and what to do.
    detail: String,
    /// The event the problem is about, when there is one.
    id: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "weft admin API",
        description = "Publish, request, tap, status, the error queue's repair station and outside consumers' subscriptions. With tokens in the host config every route wants `Authorization: Bearer TOKEN`.",
    ),
    paths(
        super::ingest::ingest,
        super::requests::request,
        super::requests::fetch,
        super::tap::tap,
        super::status::status,
        super::catalog::asyncapi,
        super::repair::list,
        super::repair::list_module,
        super::repair::show,
        super::repair::replay,
        super::repair::purge,
        super::subscriptions::list,
        super::subscriptions::put,
        super::subscriptions::delete,
        super::subscriptions::pull,
        super::subscriptions::ack,
        super::subscriptions::stream,
        document,
    ),
    modifiers(&Problems),
)]
pub struct ApiDoc;

/// Adds the problem answers to every operation.
struct Problems;

impl Modify for Problems {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert("ProblemDoc".into(), ProblemDoc::schema());
        let answer = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                            "ProblemDoc",
                        ))))
                        .build(),
                )
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut op.responses.responses;
                responses.entry("4XX".into()).or_insert_with(|| {
                    answer("Refused: the problem's detail says why and what to send").into()
                });
                responses
                    .entry("5XX".into())
                    .or_insert_with(|| answer("The host could not do it now (store, room)").into());
            }
        }
    }
}

/// The document, built once per request (it is small, and asked for rarely).
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

//! The OpenAPI 3 document, generated from the handlers' annotations and the routes actually
//! mounted (utoipa-axum registers both from one list), served at `GET /api/openapi.json`.

use axum::Json;
use axum::extract::State;
use utoipa::Modify;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};

use super::AppState;

/// The document's fixed parts.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "One view of every conversation an organisation has with the people it serves. \
            Every route needs `Authorization: Bearer <API key>` with the scope its security \
            requirement names; errors share one JSON shape (ErrorBody).",
    ),
    modifiers(&Security),
    components(schemas(super::error::ErrorBody)),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key from `switchboard keys create`"))
                    .build(),
            ),
        );
    }
}

/// The errors any route may answer with, documented once for all. Applied to the finished
/// document (the routes join it after the derive's own modifiers ran).
pub struct ErrorResponses;

const ERRORS: &[(&str, &str)] = &[
    ("400", "Malformed request (bad JSON)"),
    ("401", "No API key, or an unknown or revoked one"),
    ("403", "The key lacks the route's scope"),
    ("404", "No such resource"),
    ("409", "Conflicts with what is stored"),
    ("415", "The body is not JSON"),
    ("422", "A field's value is not acceptable; `field` names it"),
    ("500", "Internal error"),
];

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                add_errors(operation);
            }
        }
    }
}

fn add_errors(operation: &mut Operation) {
    for (status, description) in ERRORS {
        let response = ResponseBuilder::new()
            .description(*description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| response.into());
    }
}

/// `GET /api/openapi.json`.
pub async fn document(State(state): State<AppState>) -> Json<OpenApi> {
    Json((*state.openapi).clone())
}

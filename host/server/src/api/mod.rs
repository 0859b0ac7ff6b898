//! The HTTP surface. Handlers are thin: they translate HTTP to calls on [`Ingest`] and
//! [`switchboard_app::staff`] and back.
//!
//! - `POST /webhooks/{plugin_id}`: a vendor's webhook, authenticated by the vendor's signature.
//! - `/api/...`: staff routes, each behind an API key with one scope (see [`auth`]); listed in
//!   the OpenAPI document at `GET /api/openapi.json` (any live key).
//! - `GET /healthz`: whether the database and the webhook committer work (see [`health`]).
//! - `GET /metrics`: Prometheus metrics, for a key with the `metrics` or `admin` scope.
//!
//! Every route sits behind the edge layers (see [`router`]): a request id and its span, a
//! deadline for the body, and a cap on requests in flight per surface. [`listen`] serves the
//! router on a socket with a connection cap and a header deadline.
//!
//! Sending (`/api/messages`, scope `sender`), the staff call queue (`/api/call-tasks`) and the
//! portal inbox (`/api/portal/...`, scope `portal`, for the portal app's own key) front the outbox
//! in [`switchboard_app::send`].

mod admin;
mod analytics;
mod auth;
mod body_deadline;
mod call_tasks;
mod contacts;
mod error;
mod extract;
mod health;
mod inflight;
pub mod listen;
mod logging;
mod messages;
mod metrics;
pub mod openapi;
mod portal;
mod preferences;
mod privacy;
mod reading;
pub mod request_id;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, Request, State};
use axum::middleware::{self, Next};
use axum::routing::{get, post};
use utoipa::{Modify as _, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;

use switchboard_app::analytics::Analytics;
use switchboard_app::analytics::settings::AnalyticsSettings;
use switchboard_app::auth::Keys;
use switchboard_app::ingest::Ingest;
use switchboard_app::operations::Operations;
use switchboard_app::prefs::{Consent, Engine, Stated};
use switchboard_app::send::accept::Outbox;
use switchboard_app::staff::call_queue::CallQueue;
use switchboard_app::staff::contacts::Contacts;
use switchboard_app::staff::context::Context;
use switchboard_app::staff::identifiers::Identifiers;
use switchboard_app::staff::identify::{Identify, IdentifySettings};
use switchboard_app::staff::intents::Intents;
use switchboard_app::staff::logging::Logging;
use switchboard_app::staff::portal_inbox::PortalInbox;
use switchboard_app::staff::privacy::Privacy;
use switchboard_app::staff::timeline::Timeline;
use switchboard_core::domain::Scope;
use switchboard_runtime::Reloader;

/// Everything a handler may use: one field per service. A handler takes the one service it needs
/// (`State<Contacts>`, through [`FromRef`]); none reaches the store.
#[derive(Clone)]
pub struct AppState {
    pub ingest: Ingest,
    pub reloader: Arc<Reloader>,
    pub keys: Keys,
    pub operations: Operations,
    pub contacts: Contacts,
    pub identify: Identify,
    pub logging: Logging,
    pub intents: Intents,
    pub timeline: Timeline,
    pub context: Context,
    pub call_queue: CallQueue,
    pub portal_inbox: PortalInbox,
    pub privacy: Privacy,
    pub engine: Engine,
    pub consent: Consent,
    pub stated: Stated,
    pub outbox: Outbox,
    pub analytics: Analytics,
    pub openapi: Arc<utoipa::openapi::OpenApi>,
}

/// Each service of [`AppState`] as a state of its own, so a handler names what it uses.
macro_rules! sub_states {
    ($($field:ident: $service:ty),+ $(,)?) => {
        $(impl FromRef<AppState> for $service {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        })+
    };
}

sub_states!(
    ingest: Ingest,
    reloader: Arc<Reloader>,
    keys: Keys,
    operations: Operations,
    contacts: Contacts,
    identify: Identify,
    logging: Logging,
    intents: Intents,
    timeline: Timeline,
    context: Context,
    call_queue: CallQueue,
    portal_inbox: PortalInbox,
    privacy: Privacy,
    engine: Engine,
    consent: Consent,
    stated: Stated,
    outbox: Outbox,
    analytics: Analytics,
);

impl AppState {
    pub fn new(
        ingest: Ingest,
        reloader: Arc<Reloader>,
        identify: IdentifySettings,
        engine: Engine,
        outbox: Outbox,
        analytics: AnalyticsSettings,
        default_country_code: Option<String>,
    ) -> Self {
        let store = ingest.store().clone();
        let identifiers = Identifiers::new(default_country_code);
        let logging = Logging::new(store.clone(), identifiers.clone());
        let (_, mut openapi) = api_routes().split_for_parts();
        openapi::ErrorResponses.modify(&mut openapi);
        AppState {
            contacts: Contacts::new(store.clone(), identifiers.clone()),
            identify: Identify::new(store.clone(), identifiers, identify),
            call_queue: CallQueue::new(store.clone(), logging.clone()),
            logging,
            intents: Intents::new(store.clone()),
            timeline: Timeline::new(store.clone()),
            context: Context::new(store.clone()),
            portal_inbox: PortalInbox::new(store.clone()),
            privacy: Privacy::new(store.clone()),
            consent: Consent::new(store.clone()),
            stated: Stated::new(store.clone()),
            analytics: Analytics::new(store.clone(), analytics),
            keys: Keys::new(store.clone()),
            operations: Operations::new(store, reloader.clone()),
            ingest,
            reloader,
            engine,
            outbox,
            openapi: Arc::new(openapi),
        }
    }
}

/// The limits every request is held to.
#[derive(Debug, Clone, Copy)]
pub struct EdgeSettings {
    /// `/webhooks/...` requests handled at once; more are answered 503.
    pub max_inflight_webhooks: usize,
    /// `/api/...` requests handled at once; more are answered 503.
    pub max_inflight_api: usize,
    /// The time a request's whole body may take to arrive; later is answered 408.
    pub body_timeout: Duration,
}

/// The application's routes, behind the edge layers.
pub fn router(state: AppState, edge: EdgeSettings) -> Router {
    let (api, _) = api_routes().split_for_parts();
    let api = guard(api, &state);
    // The document names no data, but it is under /api like the rest: any live key reads it.
    let document = Router::new()
        .route("/api/openapi.json", get(openapi::document))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_any,
        ));
    let routes = Router::new()
        .merge(api)
        .merge(document)
        // Vendors POST; a few verify an endpoint with a GET (Meta's `hub.challenge`). Any other
        // method is 405 before a plugin sees it, and nothing is stored.
        .route(
            "/webhooks/{plugin_id}",
            post(webhooks::receive).get(webhooks::receive),
        )
        .route("/healthz", get(health::healthz))
        .route(
            "/metrics",
            get(metrics::scrape).route_layer(middleware::from_fn_with_state(
                state.clone(),
                auth::require_any,
            )),
        )
        .with_state(state);
    // Layers apply to the routes added above this line only: add routes before it.
    edge_layers(routes, edge)
}

/// The layers around every route, outermost last: the request id's span covers everything, the
/// request count sees the final status, and a request past its body deadline or beyond its
/// surface's slots is answered here.
fn edge_layers(routes: Router, edge: EdgeSettings) -> Router {
    routes
        .layer(middleware::from_fn_with_state(
            inflight::Inflight::new(edge.max_inflight_webhooks, edge.max_inflight_api),
            inflight::limit,
        ))
        .layer(middleware::from_fn_with_state(
            edge.body_timeout,
            body_deadline::deadline,
        ))
        .layer(middleware::from_fn(metrics::count))
        .layer(middleware::from_fn(request_id::middleware))
}

/// The router of the separate metrics address (`--metrics-listen`): `GET /metrics` without a
/// key, for a scraper on a network that only operators reach.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { metrics::exposition(&state).await }),
        )
        .with_state(state)
        .layer(middleware::from_fn(request_id::middleware))
}

/// The staff routes, grouped by the scope they need. The scope is also written into each route's
/// documented security requirement; [`guard`] enforces what the document says.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(contacts::create, contacts::search))
        .routes(routes!(contacts::get, contacts::update, privacy::erase))
        .routes(routes!(contacts::add_identity))
        .routes(routes!(contacts::remove_identity))
        .routes(routes!(contacts::merge))
        .routes(routes!(reading::identify))
        .routes(routes!(reading::timeline))
        .routes(routes!(reading::context))
        .routes(routes!(logging::call))
        .routes(routes!(logging::voip))
        .routes(routes!(logging::attendance))
        .routes(routes!(logging::conversation))
        .routes(routes!(logging::list_intents, logging::raise_intent))
        .routes(routes!(logging::update_intent))
        .routes(routes!(preferences::get, preferences::state))
        .routes(routes!(
            preferences::consent_ledger,
            preferences::record_consent
        ))
        .routes(routes!(preferences::reverify))
        .routes(routes!(preferences::select))
        .routes(routes!(preferences::priors))
        .routes(routes!(preferences::refit))
        .routes(routes!(messages::send))
        .routes(routes!(messages::get))
        .routes(routes!(call_tasks::list))
        .routes(routes!(call_tasks::claim))
        .routes(routes!(call_tasks::complete))
        .routes(routes!(portal::inbox))
        .routes(routes!(portal::read))
        .routes(routes!(portal::record_consent))
        .routes(routes!(privacy::export))
        .routes(routes!(admin::plugins))
        .routes(routes!(admin::reload_plugins))
        .routes(routes!(admin::keys, admin::create_key))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(admin::audit_log))
        .routes(routes!(analytics::channels))
        .routes(routes!(analytics::messages))
        .routes(routes!(analytics::export))
        .routes(routes!(analytics::journeys))
        .routes(routes!(analytics::attribution))
        .routes(routes!(analytics::attribution_journeys))
        .routes(routes!(analytics::record_conversion))
}

/// Wraps every staff route in the scope check its documented security requirement names, so the
/// document and the enforcement cannot drift apart: a route without a known scope is refused to
/// everyone.
fn guard(api: Router<AppState>, state: &AppState) -> Router<AppState> {
    let openapi = state.openapi.clone();
    api.route_layer(middleware::from_fn_with_state(
        state.keys.clone(),
        move |keys: State<Keys>, request: Request, next: Next| {
            let scope = required_scope(&openapi, &request);
            auth::require(scope, keys, request, next)
        },
    ))
}

/// The scope the document requires for a request's route (matched by its path template).
fn required_scope(openapi: &utoipa::openapi::OpenApi, request: &Request) -> Option<Scope> {
    let template = request
        .extensions()
        .get::<axum::extract::MatchedPath>()?
        .as_str();
    let item = openapi.paths.paths.get(template)?;
    let method = request.method().as_str().to_ascii_lowercase();
    let operation = match method.as_str() {
        "get" => item.get.as_ref(),
        "post" => item.post.as_ref(),
        "put" => item.put.as_ref(),
        "patch" => item.patch.as_ref(),
        "delete" => item.delete.as_ref(),
        _ => None,
    }?;
    let requirement = operation.security.as_ref()?.first()?;
    let value = serde_json::to_value(requirement).ok()?;
    let scope = value.get("bearer")?.as_array()?.first()?.as_str()?;
    Scope::parse(scope)
}

//! The HTTP API: thin handlers that parse, call the engine or the store, and map results.
//! Access control (`auth`) and `Idempotency-Key` (`idempotency`) are layers around the
//! routes, not checks inside handlers; every error leaves as problem+json (`problem`).

pub mod auth;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod insight;
mod insight_views;
pub mod members;
pub mod orders;
pub mod problem;
pub mod tiers;
pub mod usage;
pub mod views;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use loyalty_core::Program;
use loyalty_engine::{SharedClock, Writer};
use loyalty_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use utoipa::OpenApi;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub writer: Writer,
    pub program: Arc<Program>,
    /// Every handler's "now": the system clock in production, a set one in tests.
    pub clock: SharedClock,
    /// Shared, not owned: the state is cloned for every layer of every request.
    pub admin_key_hash: Option<Arc<str>>,
    pub key_cache: Arc<RwLock<HashMap<String, auth::Principal>>>,
    /// Idempotency-Key responses sent to the writer and not yet committed (see `idempotency`).
    pub idem_pending: idempotency::Pending,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Loyalty", description = "Membership engine for online stores: members, orders, an exact points ledger."),
    paths(
        members::put_member, members::get_member, members::ledger, members::lots,
        members::create_hold, members::capture, members::release, members::adjust,
        orders::post_order, orders::get_order, orders::post_refund,
        tiers::get_tier, tiers::tier_history, tiers::assign, tiers::activity, tiers::claim_sample,
        tiers::benefits, tiers::evaluate, usage::benefit_usage,
    ),
    components(schemas(problem::Problem)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// One Prometheus recorder per process (tests start several servers in one process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            // Histogram samples wait in a buffer until they are folded into the summaries; a
            // server nobody scrapes would otherwise keep every request's sample forever.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                })
                .expect("spawn the metrics upkeep thread");
            handle
        })
        .clone()
}

/// The request counter for a method and status. Handles are kept, so that a request costs a
/// map lookup rather than building and registering a labelled key.
fn requests_counter(method: &axum::http::Method, status: StatusCode) -> metrics::Counter {
    type Counters = RwLock<HashMap<(axum::http::Method, u16), metrics::Counter>>;
    static COUNTERS: OnceLock<Counters> = OnceLock::new();
    let counters = COUNTERS.get_or_init(Default::default);
    let key = (method.clone(), status.as_u16());
    if let Some(c) = counters.read().expect("metrics lock").get(&key) {
        return c.clone();
    }
    let c = metrics::counter!("loyalty_http_requests_total", "method" => method.to_string(), "status" => status.as_u16().to_string());
    counters.write().expect("metrics lock").entry(key).or_insert(c).clone()
}

async fn track(req: Request, next: Next) -> Response {
    static SECONDS: OnceLock<metrics::Histogram> = OnceLock::new();
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let resp = next.run(req).await;
    requests_counter(&method, resp.status()).increment(1);
    SECONDS.get_or_init(|| metrics::histogram!("loyalty_http_request_seconds")).record(started.elapsed().as_secs_f64());
    resp
}

async fn not_found() -> problem::ApiError {
    problem::ApiError::not_found("not_found", "no such route; see /docs")
}

/// The whole API's OpenAPI document: the core paths and the insight paths.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::insight::InsightDoc::openapi());
    doc
}

pub fn router(state: AppState) -> Router {
    metrics_handle();
    let integration = Router::new()
        .route("/v1/members/{id}", put(members::put_member).get(members::get_member))
        .route("/v1/members/{id}/ledger", get(members::ledger))
        .route("/v1/members/{id}/lots", get(members::lots))
        .route("/v1/members/{id}/points/holds", post(members::create_hold))
        .route("/v1/members/{id}/points/holds/{hold_id}/capture", post(members::capture))
        .route("/v1/members/{id}/points/holds/{hold_id}/release", post(members::release))
        .route("/v1/orders", post(orders::post_order))
        .route("/v1/orders/{id}", get(orders::get_order))
        .route("/v1/orders/{id}/refunds", post(orders::post_refund))
        .route("/v1/members/{id}/tier", get(tiers::get_tier))
        .route("/v1/members/{id}/tier/history", get(tiers::tier_history))
        .route("/v1/members/{id}/activities", post(tiers::activity))
        .route("/v1/members/{id}/benefits", get(tiers::benefits))
        .route("/v1/members/{id}/benefits/free-samples/claims", post(tiers::claim_sample))
        .route("/v1/checkout/evaluate", post(tiers::evaluate))
        .merge(crate::insight::routes())
        .route_layer(from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(from_fn_with_state(state.clone(), auth::require_integration));
    let admin = Router::new()
        .route("/v1/members/{id}/points/adjustments", post(members::adjust))
        .route("/v1/members/{id}/tier/assignments", post(tiers::assign))
        .route("/v1/benefits/usage", get(usage::benefit_usage))
        .route_layer(from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(from_fn_with_state(state.clone(), auth::require_admin));
    let routes = Router::new()
        .merge(integration)
        .merge(admin)
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics_text))
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", openapi()))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(from_fn(track))
        .with_state(state);
    // Around the whole router rather than its routes: a router's layers run inside each route,
    // before the route adds a 405's `Allow` header, which the problem names.
    Router::new().fallback_service(routes).layer(from_fn(problem::problem_bodies))
}

async fn metrics_text() -> String {
    metrics_handle().render()
}

//! The HTTP API: thin handlers that parse, call the engine or the store, and map results.
//! Access control (`auth`) and `Idempotency-Key` (`idempotency`) are layers around the
//! routes, not checks inside handlers; every error leaves as problem+json (`problem`).

pub mod auth;
pub mod checkins;
pub mod console;
pub mod coupon_codes;
pub mod coupon_report;
pub mod coupons;
pub mod events;
pub mod extract;
pub mod gifts;
pub mod health;
pub mod idempotency;
pub mod insight;
mod insight_views;
pub mod keys;
pub mod lotteries;
pub mod member_centre;
pub mod members;
pub mod membership_report;
mod membership_views;
pub mod memberships;
pub mod openapi;
pub mod orders;
pub mod personal;
pub mod problem;
pub mod referrals;
pub mod reward_report;
pub mod rewards;
pub mod tasks;
pub mod tiers;
pub mod usage;
pub mod views;
pub mod web;

use auth::Access;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::Method;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::{delete, get, patch, post, put, MethodRouter};
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
    pub key_cache: auth::KeyCache,
    /// Idempotency-Key responses sent to the writer and not yet committed (see `idempotency`).
    pub idem_pending: idempotency::Pending,
    /// The console's and the member centre's settings and the member token key.
    pub web: web::WebState,
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
        keys::list_keys, keys::revoke_key, personal::export_member, personal::erase_member,
        coupons::create_template, coupons::list_templates, coupons::get_template, coupons::patch_template,
        coupons::issue, coupons::list, coupon_report::report, coupon_codes::generate, coupon_codes::export,
        rewards::create_reward, rewards::list_rewards, rewards::get_reward, rewards::patch_reward, reward_report::report,
        rewards::redeem, rewards::list_redemptions, rewards::get_redemption, rewards::move_status_handler, rewards::put_address,
        lotteries::create_lottery, lotteries::list_lotteries, lotteries::get_lottery, lotteries::patch_lottery,
        lotteries::draw, lotteries::list_draws, lotteries::audit_draw, lotteries::report,
        memberships::plans, memberships::get_membership, memberships::history, memberships::subscribe,
        memberships::upgrade, memberships::cancel, memberships::resume, memberships::refund, memberships::invite,
        membership_report::report,
        checkins::check_in, checkins::make_up, checkins::calendar, gifts::list,
        tasks::create_task, tasks::list_tasks, tasks::get_task, tasks::patch_task, tasks::member_tasks,
        referrals::code, referrals::list, referrals::report,
        member_centre::api::create_session,
        events::list,
    ),
    components(schemas(problem::Problem, loyalty_core::ids::MemberId, loyalty_core::ids::OrderId, loyalty_core::ids::HoldId, loyalty_core::ids::TemplateId, loyalty_core::ids::ClaimId, loyalty_core::ids::RewardId, loyalty_core::ids::RedemptionId, loyalty_core::ids::LotteryId, loyalty_core::ids::DrawId, loyalty_core::rewards::PrizeInput)),
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

/// The whole API's OpenAPI document: the core paths and the insight paths, each operation
/// with the scopes that may call it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::insight::InsightDoc::openapi());
    document_scopes(&mut doc, &api_routes());
    openapi::document_problems(&mut doc);
    doc
}

/// One route of the API and who may call it.
pub struct ApiRoute {
    pub access: Access,
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<AppState>,
}

impl ApiRoute {
    pub fn new(access: Access, method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self { access, method, path, handler }
    }
}

/// Every route of the API with who may call it: the router's scope layers and the scopes the
/// OpenAPI document shows are both made from this list, so they cannot disagree.
pub fn api_routes() -> Vec<ApiRoute> {
    use Access::{Admin, Integration};
    let r = ApiRoute::new;
    let mut routes = vec![
        r(Integration, Method::PUT, "/v1/members/{id}", put(members::put_member)),
        r(Integration, Method::GET, "/v1/members/{id}", get(members::get_member)),
        r(Integration, Method::GET, "/v1/members/{id}/ledger", get(members::ledger)),
        r(Integration, Method::GET, "/v1/members/{id}/lots", get(members::lots)),
        r(Integration, Method::POST, "/v1/members/{id}/points/holds", post(members::create_hold)),
        r(Integration, Method::POST, "/v1/members/{id}/points/holds/{hold_id}/capture", post(members::capture)),
        r(Integration, Method::POST, "/v1/members/{id}/points/holds/{hold_id}/release", post(members::release)),
        r(Integration, Method::POST, "/v1/orders", post(orders::post_order)),
        r(Integration, Method::GET, "/v1/orders/{id}", get(orders::get_order)),
        r(Integration, Method::POST, "/v1/orders/{id}/refunds", post(orders::post_refund)),
        r(Integration, Method::GET, "/v1/members/{id}/tier", get(tiers::get_tier)),
        r(Integration, Method::GET, "/v1/members/{id}/tier/history", get(tiers::tier_history)),
        r(Integration, Method::POST, "/v1/members/{id}/activities", post(tiers::activity)),
        r(Integration, Method::GET, "/v1/members/{id}/benefits", get(tiers::benefits)),
        r(Integration, Method::POST, "/v1/members/{id}/benefits/free-samples/claims", post(tiers::claim_sample)),
        r(Integration, Method::POST, "/v1/checkout/evaluate", post(tiers::evaluate)),
        r(Admin, Method::POST, "/v1/members/{id}/points/adjustments", post(members::adjust)),
        r(Admin, Method::POST, "/v1/members/{id}/tier/assignments", post(tiers::assign)),
        r(Access::Analyst, Method::GET, "/v1/benefits/usage", get(usage::benefit_usage)),
        r(Admin, Method::GET, "/v1/api-keys", get(keys::list_keys)),
        r(Admin, Method::DELETE, "/v1/api-keys/{name}", delete(keys::revoke_key)),
        r(Admin, Method::GET, "/v1/members/{id}/export", get(personal::export_member)),
        r(Admin, Method::POST, "/v1/members/{id}/erase", post(personal::erase_member)),
        r(Admin, Method::POST, "/v1/coupon-templates", post(coupons::create_template)),
        r(Integration, Method::GET, "/v1/coupon-templates", get(coupons::list_templates)),
        r(Integration, Method::GET, "/v1/coupon-templates/{id}", get(coupons::get_template)),
        r(Admin, Method::PATCH, "/v1/coupon-templates/{id}", patch(coupons::patch_template)),
        r(Integration, Method::POST, "/v1/members/{id}/coupons", post(coupons::issue)),
        r(Integration, Method::GET, "/v1/members/{id}/coupons", get(coupons::list)),
        r(Access::Analyst, Method::GET, "/v1/coupon-templates/{id}/report", get(coupon_report::report)),
        r(Admin, Method::POST, "/v1/coupon-templates/{id}/codes", post(coupon_codes::generate)),
        r(Admin, Method::GET, "/v1/coupon-templates/{id}/codes", get(coupon_codes::export)),
        r(Admin, Method::POST, "/v1/rewards", post(rewards::create_reward)),
        r(Integration, Method::GET, "/v1/rewards", get(rewards::list_rewards)),
        r(Integration, Method::GET, "/v1/rewards/{id}", get(rewards::get_reward)),
        r(Admin, Method::PATCH, "/v1/rewards/{id}", patch(rewards::patch_reward)),
        r(Access::Analyst, Method::GET, "/v1/rewards/{id}/report", get(reward_report::report)),
        r(Integration, Method::POST, "/v1/members/{id}/redemptions", post(rewards::redeem)),
        r(Integration, Method::GET, "/v1/members/{id}/redemptions", get(rewards::list_redemptions)),
        r(Integration, Method::GET, "/v1/members/{id}/redemptions/{redemption_id}", get(rewards::get_redemption)),
        r(
            Integration,
            Method::POST,
            "/v1/members/{id}/redemptions/{redemption_id}/status",
            post(rewards::move_status_handler),
        ),
        r(Integration, Method::PUT, "/v1/members/{id}/redemptions/{redemption_id}/address", put(rewards::put_address)),
        r(Admin, Method::POST, "/v1/lotteries", post(lotteries::create_lottery)),
        r(Integration, Method::GET, "/v1/lotteries", get(lotteries::list_lotteries)),
        r(Integration, Method::GET, "/v1/lotteries/{id}", get(lotteries::get_lottery)),
        r(Admin, Method::PATCH, "/v1/lotteries/{id}", patch(lotteries::patch_lottery)),
        r(Integration, Method::POST, "/v1/lotteries/{id}/draws", post(lotteries::draw)),
        r(Integration, Method::GET, "/v1/members/{id}/draws", get(lotteries::list_draws)),
        r(Admin, Method::GET, "/v1/members/{id}/draws/{draw_id}/audit", get(lotteries::audit_draw)),
        r(Access::Analyst, Method::GET, "/v1/lotteries/{id}/report", get(lotteries::report)),
        r(Integration, Method::GET, "/v1/plans", get(memberships::plans)),
        r(Integration, Method::GET, "/v1/members/{id}/membership", get(memberships::get_membership)),
        r(Integration, Method::GET, "/v1/members/{id}/membership/history", get(memberships::history)),
        r(Integration, Method::POST, "/v1/members/{id}/memberships", post(memberships::subscribe)),
        r(Integration, Method::POST, "/v1/members/{id}/membership/upgrade", post(memberships::upgrade)),
        r(Integration, Method::POST, "/v1/members/{id}/membership/cancel", post(memberships::cancel)),
        r(Integration, Method::POST, "/v1/members/{id}/membership/resume", post(memberships::resume)),
        r(Admin, Method::POST, "/v1/members/{id}/membership/refund", post(memberships::refund)),
        r(Admin, Method::POST, "/v1/members/{id}/plan-invitations", post(memberships::invite)),
        r(Access::Analyst, Method::GET, "/v1/memberships/report", get(membership_report::report)),
        r(Integration, Method::POST, "/v1/members/{id}/checkins", post(checkins::check_in)),
        r(Integration, Method::GET, "/v1/members/{id}/checkins", get(checkins::calendar)),
        r(Integration, Method::POST, "/v1/members/{id}/checkins/makeups", post(checkins::make_up)),
        r(Admin, Method::POST, "/v1/tasks", post(tasks::create_task)),
        r(Integration, Method::GET, "/v1/tasks", get(tasks::list_tasks)),
        r(Integration, Method::GET, "/v1/tasks/{id}", get(tasks::get_task)),
        r(Admin, Method::PATCH, "/v1/tasks/{id}", patch(tasks::patch_task)),
        r(Integration, Method::GET, "/v1/members/{id}/tasks", get(tasks::member_tasks)),
        r(Integration, Method::GET, "/v1/members/{id}/gifts", get(gifts::list)),
        r(Integration, Method::GET, "/v1/members/{id}/referral", get(referrals::code)),
        r(Integration, Method::GET, "/v1/members/{id}/referrals", get(referrals::list)),
        r(Access::Analyst, Method::GET, "/v1/referrals/report", get(referrals::report)),
        r(Integration, Method::POST, "/v1/members/{id}/sessions", post(member_centre::api::create_session)),
        r(Integration, Method::GET, "/v1/events", get(events::list)),
    ];
    routes.extend(crate::insight::routes());
    routes
}

/// Puts each operation's scopes into the document: as `security` (one requirement per
/// scope that may call it: any one suffices), as `x-scope` (the same list), and at the end of
/// its description.
fn document_scopes(doc: &mut utoipa::openapi::OpenApi, routes: &[ApiRoute]) {
    use utoipa::openapi::security::SecurityRequirement;
    for route in routes {
        let Some(item) = doc.paths.paths.get_mut(route.path) else { continue };
        let op = match route.method {
            Method::GET => item.get.as_mut(),
            Method::PUT => item.put.as_mut(),
            Method::POST => item.post.as_mut(),
            Method::DELETE => item.delete.as_mut(),
            Method::PATCH => item.patch.as_mut(),
            _ => None,
        };
        let Some(op) = op else { continue };
        let scopes: Vec<&str> = route.access.scopes().iter().map(|s| s.as_str()).collect();
        op.security = Some(scopes.iter().map(|s| SecurityRequirement::new("bearer", [*s])).collect());
        op.extensions.get_or_insert_with(Default::default).insert("x-scope".into(), serde_json::json!(scopes));
        let line = format!("**Scope:** {}.", route.access.describe());
        op.description = Some(match op.description.take() {
            Some(d) if !d.is_empty() => format!("{d}\n\n{line}"),
            _ => line,
        });
    }
}

pub fn router(state: AppState) -> Router {
    metrics_handle();
    let mut api = Router::new();
    let table = api_routes();
    for access in Access::ALL {
        let mut group = Router::new();
        for route in table.iter().filter(|r| r.access == access) {
            group = group.route(route.path, route.handler.clone());
        }
        let guard = move |st: State<AppState>, req: Request, next: Next| auth::require(st, access, req, next);
        api = api.merge(
            group
                .route_layer(from_fn_with_state(state.clone(), idempotency::layer))
                .route_layer(from_fn_with_state(state.clone(), guard)),
        );
    }
    // The pages: the console, the member centre and their assets (see `web`).
    let pages = Router::new()
        .merge(console::routes(state.clone()))
        .merge(member_centre::routes())
        .route("/static/{name}", get(web::assets::serve))
        .route("/", get(|| async { web::see_other("/console") }))
        .layer(from_fn(web::remember_lang));
    let routes = Router::new()
        .merge(api)
        .merge(pages)
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

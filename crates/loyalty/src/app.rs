//! Start-up: one function builds the application (writer, cache upkeep, router) from a store,
//! a programme and its settings, so `serve`, the tests and the benchmarks run the same app.

use loyalty_core::Program;
use loyalty_engine::{clock, SharedClock, Writer};
use loyalty_http::{auth, AppState};
use loyalty_store::Store;
use std::sync::Arc;

/// What an application is built with besides its store and programme.
#[derive(Clone)]
pub struct Settings {
    /// The bootstrap admin key (`LOYALTY_ADMIN_KEY`), if any.
    pub admin_key: Option<String>,
    /// Where "now" comes from: the system clock, or a set clock in tests.
    pub clock: SharedClock,
    /// The console's and the member centre's cookies and session lifetimes.
    pub web: loyalty_http::web::WebSettings,
}

impl Settings {
    /// The system clock and the bootstrap key from `LOYALTY_ADMIN_KEY`.
    pub fn from_env() -> Self {
        let secure_cookies =
            std::env::var("LOYALTY_SECURE_COOKIES").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
        let web = loyalty_http::web::WebSettings { secure_cookies, ..Default::default() };
        Self { admin_key: std::env::var("LOYALTY_ADMIN_KEY").ok(), clock: clock::system(), web }
    }
}

/// Fewest characters a bootstrap admin key may have: it is a password to the whole API, and
/// unlike the keys `loyalty keys create` makes (64 random hex digits) someone chose it.
pub const MIN_ADMIN_KEY_CHARS: usize = 24;

/// Refuses a bootstrap admin key too short to be a secret (an empty one means none is set).
pub fn check_admin_key(key: Option<&str>) -> anyhow::Result<()> {
    let Some(key) = key.filter(|k| !k.is_empty()) else { return Ok(()) };
    let chars = key.chars().count();
    anyhow::ensure!(
        chars >= MIN_ADMIN_KEY_CHARS,
        "LOYALTY_ADMIN_KEY is {chars} characters long; a bootstrap admin key must have at least \
         {MIN_ADMIN_KEY_CHARS} (e.g. `openssl rand -hex 32`), or leave it unset and use `loyalty keys create`"
    );
    Ok(())
}

/// A built application: its state (for tests that look inside) and its router.
pub struct Application {
    pub state: AppState,
    pub router: axum::Router,
}

impl Application {
    /// Spawns the writer and the member cache's upkeep, and builds the router. Refuses a
    /// bootstrap admin key shorter than [`MIN_ADMIN_KEY_CHARS`].
    pub fn build(store: Arc<dyn Store>, program: Program, settings: Settings) -> anyhow::Result<Self> {
        check_admin_key(settings.admin_key.as_deref())?;
        let program = Arc::new(program);
        let writer = Writer::spawn(store.clone(), program.clone(), settings.clock.clone());
        tokio::spawn(loyalty_engine::cache::MemberCache::keep_fresh(Arc::downgrade(&writer.cache), store.clone()));
        let admin_key_hash =
            settings.admin_key.as_deref().filter(|k| !k.is_empty()).map(|k| Arc::from(auth::hash_key(k)));
        let state = AppState {
            store,
            writer,
            program,
            clock: settings.clock,
            admin_key_hash,
            key_cache: Default::default(),
            idem_pending: Default::default(),
            web: loyalty_http::web::WebState::new(settings.web),
        };
        let router = loyalty_http::router(state.clone());
        Ok(Self { state, router })
    }
}

/// The app with the settings from the environment.
pub fn app(store: Arc<dyn Store>, program: Program) -> anyhow::Result<(AppState, axum::Router)> {
    let a = Application::build(store, program, Settings::from_env())?;
    Ok((a.state, a.router))
}

/// As [`app`], with the bootstrap admin key given explicitly (tests run many apps at once).
pub fn app_with_admin_key(
    store: Arc<dyn Store>,
    program: Program,
    admin_key: Option<&str>,
) -> anyhow::Result<(AppState, axum::Router)> {
    let settings =
        Settings { admin_key: admin_key.map(str::to_owned), clock: clock::system(), web: Default::default() };
    let a = Application::build(store, program, settings)?;
    Ok((a.state, a.router))
}

/// `loyalty serve`: the app, the scheduler and the daily insight run, until SIGINT or SIGTERM.
/// It refuses to start on a database that takes no writes, and exits with an error if the
/// writer stops: a server that can only read would otherwise answer every write with a 503
/// while looking alive to its supervisor.
pub async fn serve(store: Arc<dyn Store>, program: Program, listen: &str, job_interval: u64) -> anyhow::Result<()> {
    ensure_writable(store.as_ref()).await?;
    let (state, router) = app(store.clone(), program)?;
    apply_program_definitions(store.as_ref(), &state.program, state.clock.now()).await?;
    if state.admin_key_hash.is_none() {
        tracing::warn!("LOYALTY_ADMIN_KEY is not set: only keys made with `loyalty keys create` can call the API");
    }
    tokio::spawn(loyalty_engine::jobs::scheduler(
        store.clone(),
        (state.writer.clone(), state.program.clone()),
        state.clock.clone(),
        std::time::Duration::from_secs(job_interval.clamp(1, 60)),
    ));
    tokio::spawn(loyalty_report::daily(store.clone(), state.program.clone()));
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    tracing::info!(addr = %listener.local_addr()?, database = store.backend(), "loyalty serving; API docs at /docs");
    let writer = state.writer.clone();
    tokio::select! {
        served = axum::serve(listener, router).with_graceful_shutdown(shutdown()) => served?,
        _ = writer.stopped() => {
            tracing::error!("the writer stopped: no write can be made; exiting so that the process is restarted");
            anyhow::bail!("the writer stopped; exiting so that a supervisor restarts the server");
        }
    }
    Ok(())
}

/// Creates the programme file's coupon templates, rewards and lotteries that the database does
/// not hold yet (each new lottery with a fresh random secret). A definition whose id exists
/// with other terms stops the start, naming its key.
pub async fn apply_program_definitions(
    store: &dyn Store,
    program: &Program,
    now: jiff::Timestamp,
) -> anyhow::Result<()> {
    use loyalty_engine::definitions::{apply_program, ProgramDefinitionsError};
    match apply_program(store, program, now, rand::random).await {
        Ok(a) => {
            if a.created + a.existing > 0 {
                tracing::info!(created = a.created, existing = a.existing, "programme definitions in place");
            }
            Ok(())
        }
        Err(ProgramDefinitionsError::Invalid(e)) => anyhow::bail!("the programme's definitions: {e}"),
        Err(ProgramDefinitionsError::Store(e)) => anyhow::bail!("creating the programme's definitions: {e}"),
    }
}

/// Refuses a store that would answer every write with an error (see `loyalty_store::health`).
pub async fn ensure_writable(store: &dyn Store) -> anyhow::Result<()> {
    match store.write_probe().await? {
        loyalty_store::Writability::Writable => Ok(()),
        loyalty_store::Writability::ReadOnly(why) => anyhow::bail!(
            "the {} database does not accept writes ({why}); not starting: make it writable (file permissions, a \
             read-only mount, mode=ro in the URL, a standby server) and start again",
            store.backend()
        ),
    }
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}

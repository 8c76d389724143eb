//! The HTTP side: an axum router on a tokio runtime of its own, on a
//! thread of its own, so that the process it serves in (a running app, or
//! `dizzy serve`) needs neither; a page is made on a blocking thread, a few
//! at a time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dizzy_components::Registry;
use dizzy_snapshots::Store;
use dizzy_snapshots::served::{Announcement, announce, note_path};
use tokio::sync::Semaphore;

use crate::error::{PageError, ServeError};
use crate::pages;
use crate::source::Source;

/// Pages made at the same time, at most (each on a blocking thread).
const PAGES_AT_ONCE: usize = 4;
/// How long a request waits for its turn before it is told to retry.
const WAIT_FOR_TURN: Duration = Duration::from_secs(30);

/// The default address: loopback, a fixed port.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8740";

/// An explorer over one dizzy file, to start with [`Explorer::start`].
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// let store = dizzy::Store::open_to_read("work.redb")?;
/// let serving = dizzy_explorer::Explorer::new(store, Arc::new(dizzy::Registry::new()))
///     .addr("127.0.0.1:0".parse()?)
///     .start()?;
/// println!("explorer at {}", serving.url());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Explorer {
    store: Store,
    registry: Arc<Registry>,
    addr: SocketAddr,
    allow_remote: bool,
    live: bool,
    announce: bool,
}

impl Explorer {
    /// An explorer of `store`, decoding values with `registry`'s types
    /// (and, for types it lacks, with the shapes the file records), on
    /// [`DEFAULT_ADDR`], announced beside the file.
    pub fn new(store: Store, registry: Arc<Registry>) -> Explorer {
        Explorer {
            store,
            registry,
            addr: DEFAULT_ADDR
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8740))),
            allow_remote: false,
            live: false,
            announce: true,
        }
    }

    /// Listens on `addr` (port 0: any free port; see [`Serving::url`]).
    pub fn addr(mut self, addr: SocketAddr) -> Explorer {
        self.addr = addr;
        self
    }

    /// Allows an address that is not loopback: other machines can then
    /// read the whole file (the explorer has no authentication).
    pub fn allow_remote(mut self, yes: bool) -> Explorer {
        self.allow_remote = yes;
        self
    }

    /// Whether a running app writes the file: pages then look for new
    /// snapshots and refresh when one lands.
    pub fn live(mut self, yes: bool) -> Explorer {
        self.live = yes;
        self
    }

    /// Whether to write the note beside the file that tells other
    /// processes where the explorer is (on by default; see
    /// [`dizzy_snapshots::served`]).
    pub fn announce(mut self, yes: bool) -> Explorer {
        self.announce = yes;
        self
    }

    /// Starts serving on a thread of its own; serving lasts as long as the
    /// returned [`Serving`].
    ///
    /// # Errors
    /// [`ServeError::NotLoopback`] for an address that is not loopback
    /// without [`Explorer::allow_remote`], [`ServeError::Bind`] when the
    /// address cannot be bound, [`ServeError::Start`] when the server's
    /// thread cannot be started. A note beside the file that cannot be
    /// written is only a warning (logged).
    pub fn start(self) -> Result<Serving, ServeError> {
        if !self.addr.ip().is_loopback() && !self.allow_remote {
            return Err(ServeError::NotLoopback { addr: self.addr });
        }
        let addr = self.addr;
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| ServeError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let host = if bound.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else if bound.is_ipv6() {
            format!("[{}]", bound.ip())
        } else {
            bound.ip().to_string()
        };
        let url = format!("http://{host}:{}/", bound.port());
        // Without the note (a read-only directory, no `/proc` to tell this
        // process from a stale note) the explorer still serves; other
        // processes are then only told that the file is in use.
        let note = if self.announce {
            announce(self.store.path(), &url)
                .inspect_err(|e| {
                    tracing::warn!(
                        "{}: the explorer is not announced beside the file: {e}",
                        note_path(self.store.path()).display()
                    );
                })
                .ok()
        } else {
            None
        };
        // The names a browser may use for this address (DNS rebinding: a
        // page of another site resolving its own name to 127.0.0.1 must
        // not read the file through the user's browser).
        let hosts = if self.allow_remote {
            None
        } else {
            let port = bound.port();
            let mut names = vec![
                format!("{host}:{port}"),
                format!("localhost:{port}"),
                format!("127.0.0.1:{port}"),
                format!("[::1]:{port}"),
            ];
            if port == 80 {
                names.extend([host.clone(), "localhost".to_owned(), "127.0.0.1".to_owned()]);
            }
            Some(names)
        };
        let state = Arc::new(AppState {
            source: Source::new(self.store, self.registry, self.live),
            turns: Semaphore::new(PAGES_AT_ONCE),
            hosts,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(PAGES_AT_ONCE + 2)
            .thread_name("dizzy-explorer")
            .build()
            .map_err(ServeError::Start)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = router(state);
        let thread = std::thread::Builder::new()
            .name("dizzy-explorer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("explorer: cannot listen: {e}");
                            return;
                        }
                    };
                    let served = axum::serve(listener, router)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::error!("explorer: {e}");
                    }
                });
                // Pages still being made finish on their own threads.
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .map_err(ServeError::Start)?;
        Ok(Serving {
            url,
            addr: bound,
            stop: Some(stop),
            thread: Some(thread),
            _note: note,
        })
    }
}

/// A running explorer; dropping it stops the server (and removes the note
/// beside the file).
#[derive(Debug)]
pub struct Serving {
    url: String,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _note: Option<Announcement>,
}

impl Serving {
    /// The explorer's address, as a URL (`http://127.0.0.1:8740/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(crate) struct AppState {
    pub(crate) source: Source,
    turns: Semaphore,
    /// The `Host` headers answered (`None`: any, as asked with
    /// [`Explorer::allow_remote`]).
    hosts: Option<Vec<String>>,
}

type Shared = State<Arc<AppState>>;
/// Query parameters, or why they could not be read.
type Params = Result<Query<BTreeMap<String, String>>, QueryRejection>;
/// A path's parts, or why they could not be read.
type Parts<T> = Result<Path<T>, PathRejection>;

/// The explorer's own page for an address the framework could not read
/// (its default names the route's variables, which users never see).
fn unreadable_path(_: PathRejection) -> Response {
    error_page(&PageError::bad_request(
        "this address cannot be read: one of its percent-escapes is not UTF-8 text",
    ))
}

fn unreadable_query(e: QueryRejection) -> Response {
    error_page(&PageError::bad_request(format!(
        "the query string cannot be read: {}",
        cut(&e.body_text())
    )))
}

/// Unwraps an extractor's result, or answers with the explorer's page.
macro_rules! read {
    ($e:expr, $or:ident) => {
        match $e {
            Ok(v) => v.0,
            Err(e) => return $or(e),
        }
    };
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(timeline))
        .route("/snapshots/{at}", get(snapshot))
        .route("/snapshots/{at}/components/{name}", get(table))
        .route("/snapshots/{at}/entities/{uid}", get(entity))
        .route("/snapshots/{at}/schedule", get(schedule))
        .route("/diff", get(diff))
        .route("/api/latest", get(latest))
        .route("/assets/{file}", get(asset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            only_own_hosts,
        ))
        .with_state(state)
}

/// Answers only requests addressed to the explorer's own names: a request
/// whose `Host` is another name (a site that resolved its name to this
/// address) gets a 421 page, never the file.
async fn only_own_hosts(
    State(state): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(hosts) = &state.hosts {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        // No `Host` at all (HTTP/1.0 tools) is no browser's request.
        if !host.is_empty() && !hosts.contains(&host) {
            return error_page(&PageError {
                status: 421,
                message: format!(
                    "this explorer answers requests for {} only, not for `{}` (a page of another site must not read the file)",
                    hosts.first().map_or("", String::as_str),
                    cut(&host)
                ),
            });
        }
    }
    next.run(request).await
}

/// Makes a page on a blocking thread, when its turn comes.
async fn page(
    state: Arc<AppState>,
    make: impl FnOnce(&Source) -> Result<String, PageError> + Send + 'static,
) -> Response {
    let Ok(Ok(_turn)) = tokio::time::timeout(WAIT_FOR_TURN, state.turns.acquire()).await else {
        return error_page(&PageError::busy());
    };
    let shared = Arc::clone(&state);
    let made = tokio::task::spawn_blocking(move || make(&shared.source)).await;
    match made {
        Ok(Ok(html)) => html_response(html),
        Ok(Err(e)) => error_page(&e),
        Err(_) => error_page(&PageError::internal(
            "making this page failed (the explorer goes on)",
        )),
    }
}

fn html_response(html: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response()
}

fn error_page(e: &PageError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = html_response(pages::error(e));
    *response.status_mut() = status;
    response
}

async fn timeline(State(state): Shared, q: Params) -> Response {
    let q = read!(q, unreadable_query);
    page(state, move |s| pages::timeline::render(s, &q)).await
}

async fn snapshot(State(state): Shared, at: Parts<String>, q: Params) -> Response {
    let at = read!(at, unreadable_path);
    let q = read!(q, unreadable_query);
    page(state, move |s| {
        pages::Params(&q).only(&[])?;
        pages::snapshot::render(s, &at)
    })
    .await
}

async fn table(State(state): Shared, parts: Parts<(String, String)>, q: Params) -> Response {
    let (at, name) = read!(parts, unreadable_path);
    let q = read!(q, unreadable_query);
    page(state, move |s| pages::table::render(s, &at, &name, &q)).await
}

async fn entity(State(state): Shared, parts: Parts<(String, String)>, q: Params) -> Response {
    let (at, uid) = read!(parts, unreadable_path);
    let q = read!(q, unreadable_query);
    page(state, move |s| pages::entity::render(s, &at, &uid, &q)).await
}

async fn schedule(State(state): Shared, at: Parts<String>, q: Params) -> Response {
    let at = read!(at, unreadable_path);
    let q = read!(q, unreadable_query);
    page(state, move |s| {
        pages::Params(&q).only(&[])?;
        pages::schedule::render(s, &at)
    })
    .await
}

async fn diff(State(state): Shared, q: Params) -> Response {
    let q = read!(q, unreadable_query);
    page(state, move |s| pages::diff::render(s, &q)).await
}

/// `{"id": newest snapshot id or null, "snapshots": how many}`: what the
/// pages poll to refresh when a snapshot lands.
async fn latest(State(state): Shared) -> Response {
    let made = tokio::task::spawn_blocking(move || state.source.snapshots()).await;
    match made {
        Ok(Ok(metas)) => {
            let body = serde_json::json!({
                "id": metas.last().map(|m| m.id),
                "snapshots": metas.len(),
            });
            (
                [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
                axum::Json(body),
            )
                .into_response()
        }
        Ok(Err(e)) => error_page(&e),
        Err(_) => error_page(&PageError::internal("reading the snapshots failed")),
    }
}

async fn asset(file: Parts<String>) -> Response {
    let file = read!(file, unreadable_path);
    match crate::assets::get(&file) {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("max-age=3600"),
                ),
            ],
            body,
        )
            .into_response(),
        None => error_page(&PageError::not_found(format!("no asset `{}`", cut(&file)))),
    }
}

async fn not_found() -> Response {
    error_page(&PageError::not_found("no such page"))
}

/// A page asked for with a method other than GET or HEAD (axum keeps the
/// `Allow` header).
async fn method_not_allowed(method: Method) -> Response {
    error_page(&PageError {
        status: 405,
        message: format!(
            "the explorer only reads: {} is not allowed here (use GET or HEAD)",
            cut(method.as_str())
        ),
    })
}

/// A request's text, cut for messages.
fn cut(s: &str) -> String {
    s.chars().take(80).collect()
}

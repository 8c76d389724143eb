//! A bucket and prefix, reached through the `object_store` crate: S3 (and
//! S3-compatible servers) from `s3://`, a local directory from `file://`,
//! memory from `memory://` (tests). The client runs on a small tokio
//! runtime of the bucket's own, so callers stay synchronous.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, ObjectStoreScheme, PutPayload,
    RetryConfig,
};

use crate::error::{BucketError, TransferError};

/// The tokio runtime that drives a bucket's client; shut down without
/// waiting when the last bucket using it goes (never a panic, even inside
/// another runtime).
struct Driver(Option<tokio::runtime::Runtime>);

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A bucket and prefix: where replicated snapshots (or bundles) live.
///
/// Credentials and settings come from the environment, as the cloud's own
/// tools read them: for S3 `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
/// `AWS_ENDPOINT_URL` (an S3-compatible server), `AWS_ALLOW_HTTP`, web
/// identity tokens (`AWS_WEB_IDENTITY_TOKEN_FILE`, as on EKS) and the
/// container or instance metadata endpoints — never from a dizzy file, and
/// never written to a log.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    driver: Arc<Driver>,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("url", &self.url).finish()
    }
}

/// `url` without user information, query or fragment (for messages).
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

/// Retries of a single request, inside the client: short, so that a
/// failure reaches the replication loop (which has its own backoff and
/// bound) within seconds.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
    }
}

fn s3(url: &str) -> Result<AmazonS3Builder, String> {
    // Settings of dizzy's own first, so that the environment can override
    // them (`AWS_CONNECT_TIMEOUT`, `AWS_TIMEOUT`).
    let mut builder = AmazonS3Builder::new()
        .with_retry(retry())
        .with_config(
            object_store::aws::AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "3s",
        )
        .with_config(
            object_store::aws::AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            "120s",
        );
    for (key, value) in std::env::vars_os() {
        if let (Some(key), Some(value)) = (key.to_str(), value.to_str())
            && key.starts_with("AWS_")
            && let Ok(config) = key.to_ascii_lowercase().parse()
        {
            builder = builder.with_config(config, value);
        }
    }
    let builder = builder.with_url(url);
    // The client refuses plain HTTP unless asked, and says only "builder
    // error" when it does, on the first request: said here instead.
    let endpoint = [
        object_store::aws::AmazonS3ConfigKey::S3Endpoint,
        object_store::aws::AmazonS3ConfigKey::Endpoint,
    ]
    .iter()
    .find_map(|key| builder.get_config_value(key));
    if let Some(endpoint) = endpoint
        && endpoint.to_ascii_lowercase().starts_with("http://")
        && !builder
            .get_config_value(&object_store::aws::AmazonS3ConfigKey::Client(
                ClientConfigKey::AllowHttp,
            ))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Err(format!(
            "the endpoint {} is plain HTTP, which the client refuses unless \
             AWS_ALLOW_HTTP=true is set (for a local S3-compatible server); use https:// otherwise",
            redact(&endpoint)
        ));
    }
    Ok(builder)
}

impl Bucket {
    /// Opens `url`: `s3://BUCKET/PREFIX` (S3, or an S3-compatible server
    /// named by `AWS_ENDPOINT_URL`), `file:///ABSOLUTE/DIR` (a local
    /// directory, created on the first write) or `memory:///PREFIX` (this
    /// process's memory, for tests). Nothing is sent over the network yet.
    ///
    /// # Errors
    /// A URL that does not parse or has another scheme, or settings the
    /// client refuses.
    pub fn open(url: &str) -> Result<Bucket, BucketError> {
        let shown = redact(url);
        let bad = |reason: String| BucketError::Url {
            url: shown.clone(),
            reason,
        };
        let mut parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        // A directory is the same directory with its slashes doubled, as
        // the file system reads it (object_store refuses the empty part).
        if parsed.scheme() == "file" && parsed.path().contains("//") {
            let mut path = parsed.path().to_owned();
            while path.contains("//") {
                path = path.replace("//", "/");
            }
            parsed.set_path(&path);
        }
        if matches!(parsed.scheme(), "s3" | "s3a") && parsed.path().contains("//") {
            return Err(bad(
                "its prefix has an empty part (`//`), which object keys keep: \
                 write it with single slashes"
                    .to_owned(),
            ));
        }
        // object_store's own messages would quote the URL as given.
        let (scheme, prefix) = ObjectStoreScheme::parse(&parsed).map_err(|_| {
            bad(match parsed.scheme() {
                "s3" | "s3a" | "file" | "memory" => "not a bucket URL".to_owned(),
                other => format!("the scheme `{other}` is not supported"),
            })
        })?;
        let client = |source| BucketError::Client {
            url: shown.clone(),
            source: Box::new(source),
        };
        let store: Arc<dyn ObjectStore> = match scheme {
            ObjectStoreScheme::AmazonS3 => {
                Arc::new(s3(&shown).map_err(bad)?.build().map_err(client)?)
            }
            ObjectStoreScheme::Local => Arc::new(LocalFileSystem::new()),
            ObjectStoreScheme::Memory => Arc::new(InMemory::new()),
            _ => {
                return Err(bad(format!(
                    "the scheme `{}` is not supported",
                    parsed.scheme()
                )));
            }
        };
        Self::with_store(store, prefix.as_ref(), &shown)
    }

    /// A bucket over any [`ObjectStore`] (another cloud, a store wrapped to
    /// inject faults in tests), under `prefix`; `label` names it in
    /// messages.
    ///
    /// # Errors
    /// The client's runtime could not start.
    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        label: &str,
    ) -> Result<Bucket, BucketError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dizzy-bucket")
            .enable_all()
            .build()
            .map_err(|source| BucketError::Runtime {
                url: label.to_owned(),
                source,
            })?;
        Ok(Bucket {
            store,
            prefix: Path::from(prefix.trim_matches('/')),
            url: label.to_owned(),
            driver: Arc::new(Driver(Some(runtime))),
        })
    }

    /// The URL, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object `name` under the prefix.
    pub(crate) fn path(&self, name: &str) -> Path {
        let mut path = self.prefix.clone();
        for part in name.split('/') {
            path = path.join(part);
        }
        path
    }

    /// Runs `f` to completion on the bucket's runtime. From inside another
    /// tokio runtime it runs on a thread of its own (blocking the caller,
    /// as every call of this crate does).
    pub(crate) fn block_on<F>(&self, f: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let Some(rt) = self.driver.0.as_ref() else {
            unreachable!("a bucket's runtime lives as long as the bucket");
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| match s.spawn(|| rt.block_on(f)).join() {
                Ok(out) => out,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        } else {
            rt.block_on(f)
        }
    }

    /// The bytes of object `name`, `None` if it does not exist.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, object_store::Error> {
        match self.store.get(&self.path(name)).await {
            Ok(r) => Ok(Some(r.bytes().await?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes object `name` whole (visible all at once, or not at all).
    pub(crate) async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<(), object_store::Error> {
        self.store
            .put(&self.path(name), PutPayload::from(bytes))
            .await
            .map(|_| ())
    }

    /// Whether object `name` exists.
    pub(crate) async fn exists(&self, name: &str) -> Result<bool, object_store::Error> {
        match self.store.head(&self.path(name)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes object `name` (a missing object is no error).
    pub(crate) async fn delete(&self, name: &str) -> Result<(), object_store::Error> {
        match self.store.delete(&self.path(name)).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// The names (under `dir`, relative to it) of the objects in `dir`.
    pub(crate) async fn list(&self, dir: &str) -> Result<Vec<String>, object_store::Error> {
        let base = self.path(dir);
        let mut names = Vec::new();
        let mut stream = self.store.list(Some(&base));
        while let Some(meta) = stream.next().await {
            let meta = meta?;
            if let Some(rest) = meta.location.prefix_match(&base) {
                let parts: Vec<String> = rest.map(|p| p.as_ref().to_owned()).collect();
                names.push(parts.join("/"));
            }
        }
        Ok(names)
    }
}

/// Splits an object URL into its bucket (the directory) and the object's name.
fn object_at(url: &str) -> Result<(Bucket, String), BucketError> {
    let shown = redact(url);
    let (dir, name) = url
        .trim_end_matches('/')
        .rsplit_once('/')
        .filter(|(dir, name)| !name.is_empty() && !dir.ends_with(':') && !dir.ends_with(":/"))
        .ok_or_else(|| BucketError::Url {
            url: shown.clone(),
            reason: "names no object".into(),
        })?;
    let bucket = match Bucket::open(dir) {
        Ok(b) => b,
        Err(BucketError::Url { reason, .. }) => {
            return Err(BucketError::Url { url: shown, reason });
        }
        Err(e) => return Err(e),
    };
    Ok((bucket, name.to_owned()))
}

/// Reads the whole object at `url` (a bundle, say).
///
/// # Errors
/// A bad URL, no object there, or a failure of the store.
pub fn read_object(url: &str) -> Result<Vec<u8>, TransferError> {
    let (bucket, name) = object_at(url)?;
    let shown = redact(url);
    match bucket.block_on(bucket.get(&name)) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(TransferError::Missing { url: shown }),
        Err(source) => Err(TransferError::Store {
            url: shown,
            source: Box::new(source),
        }),
    }
}

/// Writes `bytes` as the object at `url`, whole: a reader sees the old
/// object or the new one, never part of it.
///
/// # Errors
/// A bad URL, or a failure of the store.
pub fn write_object(url: &str, bytes: Vec<u8>) -> Result<(), TransferError> {
    let (bucket, name) = object_at(url)?;
    let failed = |source| TransferError::Store {
        url: redact(url),
        source: Box::new(source),
    };
    // A new object only: an existing one may be another export, or a
    // replica's manifest or snapshot, which a bundle must never replace.
    if bucket.block_on(bucket.exists(&name)).map_err(failed)? {
        return Err(TransferError::Exists { url: redact(url) });
    }
    bucket.block_on(bucket.put(&name, bytes)).map_err(failed)
}

/// Whether `text` names a bucket or object URL (`s3://`, `file://`,
/// `memory://`…) rather than a local path.
pub fn is_url(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            redact("s3://key:secret@bucket/prefix?token=x"),
            "s3://bucket/prefix"
        );
        assert_eq!(redact("s3://bucket/p"), "s3://bucket/p");
        let e = Bucket::open("ftp://user:pw@host/x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("scheme `ftp`") && !e.contains("pw"), "{e}");
        assert!(Bucket::open("not a url").is_err());
        assert!(is_url("s3://b/p") && is_url("file:///tmp/x") && !is_url("/tmp/x.redb"));
    }

    #[test]
    fn objects_travel_through_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/shared/photos.bundle", dir.path().display());
        write_object(&url, b"hello".to_vec()).unwrap();
        assert_eq!(read_object(&url).unwrap(), b"hello");
        let missing = format!("file://{}/shared/none.bundle", dir.path().display());
        assert!(matches!(
            read_object(&missing),
            Err(TransferError::Missing { .. })
        ));
        assert!(matches!(
            read_object("s3://"),
            Err(TransferError::Bucket(BucketError::Url { .. }))
        ));
        // Doubled slashes name the same directory, as the file system reads
        // them; in S3 they would be another key, so they are refused.
        let doubled = format!("file://{}//shared///photos.bundle", dir.path().display());
        assert_eq!(read_object(&doubled).unwrap(), b"hello");
        let e = Bucket::open("s3://bucket/runs//one")
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty part"), "{e}");
    }
}

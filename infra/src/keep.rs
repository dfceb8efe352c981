//! Kept renders of the public status pages in S3-compatible storage (AWS S3, MinIO, R2, moto):
//! one object per page under a prefix, so a server on a fresh machine can serve every page it
//! never rendered itself while both databases are down. Optional: without a bucket the renders
//! are kept on the server's disk only.

use crate::{Error, Result};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

/// The most objects [`ObjectKeep::list`] returns (and so the most pages restored).
pub const MAX_OBJECTS: usize = 10_000;

/// One object under the prefix.
#[derive(Clone, Debug)]
pub struct KeptObject {
    /// The key without the prefix.
    pub name: String,
    pub size: u64,
    pub modified: Option<std::time::SystemTime>,
}

/// A bucket and a key prefix holding kept renders.
#[derive(Clone, Debug)]
pub struct ObjectKeep {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("unknown"),
            service.message().unwrap_or_default()
        ),
        None => DisplayErrorContext(err).to_string(),
    }
}

impl ObjectKeep {
    /// `endpoint`: an S3-compatible service's URL (path-style addressing is then used, as
    /// MinIO and moto need); `None` for AWS S3 itself. Credentials come from the standard chain.
    pub async fn new(bucket: &str, prefix: &str, region: &str, endpoint: Option<&str>) -> Self {
        let shared = crate::aws_config(region, endpoint).await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        if endpoint.is_some_and(|e| !e.trim().is_empty()) {
            config = config.force_path_style(true);
        }
        let prefix = prefix.trim_matches('/');
        Self {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix, `""` or ending in `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn error(&self, operation: &'static str, name: &str, message: String) -> Error {
        Error::S3 {
            operation,
            bucket: self.bucket.clone(),
            key: self.key(name),
            message,
        }
    }

    /// Stores `body` as `name` (replacing what was there).
    pub async fn put(&self, name: &str, body: Vec<u8>, content_type: &str) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("PutObject", name, describe(&e)))?;
        Ok(())
    }

    /// The objects directly under the prefix (at most [`MAX_OBJECTS`]).
    pub async fn list(&self) -> Result<Vec<KeptObject>> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.error("ListObjectsV2", "", describe(&e)))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let name = key.strip_prefix(&self.prefix).unwrap_or(key);
                if !name.is_empty() && !name.contains('/') {
                    names.push(KeptObject {
                        name: name.to_owned(),
                        size: object.size().unwrap_or_default().max(0) as u64,
                        modified: object
                            .last_modified()
                            .and_then(|t| std::time::SystemTime::try_from(*t).ok()),
                    });
                }
                if names.len() >= MAX_OBJECTS {
                    return Ok(names);
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated().unwrap_or(false) => token = Some(next.to_owned()),
                _ => return Ok(names),
            }
        }
    }

    /// The object `name`, refused when larger than `max_bytes`.
    pub async fn get(&self, name: &str, max_bytes: u64) -> Result<Vec<u8>> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .send()
            .await
            .map_err(|e| self.error("GetObject", name, describe(&e)))?;
        let size = object.content_length().unwrap_or_default().max(0) as u64;
        if size > max_bytes {
            return Err(self.error(
                "GetObject",
                name,
                format!("{size} bytes is more than the {max_bytes} allowed"),
            ));
        }
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| self.error("GetObject", name, e.to_string()))?
            .into_bytes();
        if body.len() as u64 > max_bytes {
            return Err(self.error("GetObject", name, "body larger than announced".into()));
        }
        Ok(body.to_vec())
    }

    /// Creates the bucket when it does not exist yet (tests and first starts).
    pub async fn ensure_bucket(&self) -> Result<()> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| self.error("CreateBucket", "", describe(&e)))?;
        Ok(())
    }
}

//! Secret values of the function's environment: read from this process's environment or from
//! AWS Secrets Manager at deploy time, so they never sit on a command line or in a log.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Where one secret environment variable of the function comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `env:VAR`: the variable `VAR` of the process running `infra`.
    Env(String),
    /// `secretsmanager:ID[#field]`: the secret's string, or one field of it when it is a JSON
    /// object. `{region}` in `ID` becomes the region being deployed (per-region secrets).
    SecretsManager { id: String, field: Option<String> },
}

/// `KEY=SOURCE`, as given to `--secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVar {
    pub key: String,
    pub source: SecretSource,
}

impl std::str::FromStr for SecretVar {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let Some((key, source)) = s.split_once('=') else {
            return Err(format!(
                "expected KEY=env:VAR or KEY=secretsmanager:ID[#field], got `{s}`"
            ));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{key}` is not an environment variable name"));
        }
        let source = if let Some(var) = source.strip_prefix("env:") {
            if var.is_empty() {
                return Err(format!("{key}: env: needs a variable name"));
            }
            SecretSource::Env(var.to_owned())
        } else if let Some(rest) = source.strip_prefix("secretsmanager:") {
            let (id, field) = match rest.split_once('#') {
                Some((id, field)) => (id, Some(field.to_owned())),
                None => (rest, None),
            };
            if id.is_empty() {
                return Err(format!("{key}: secretsmanager: needs a secret name or ARN"));
            }
            SecretSource::SecretsManager {
                id: id.to_owned(),
                field,
            }
        } else {
            return Err(format!(
                "{key}: the source must start with env: or secretsmanager:"
            ));
        };
        Ok(SecretVar {
            key: key.to_owned(),
            source,
        })
    }
}

/// Resolves every secret for `region`. Errors name the key and the source, never a value.
pub async fn resolve_secrets(
    vars: &[SecretVar],
    region: &str,
    config: &aws_config::SdkConfig,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut client = None;
    for var in vars {
        let value = match &var.source {
            SecretSource::Env(name) => std::env::var(name).map_err(|_| {
                Error::InvalidInput(format!(
                    "secret {}: environment variable {name} is not set",
                    var.key
                ))
            })?,
            SecretSource::SecretsManager { id, field } => {
                let id = id.replace("{region}", region);
                let client =
                    client.get_or_insert_with(|| aws_sdk_secretsmanager::Client::new(config));
                let got = client
                    .get_secret_value()
                    .secret_id(&id)
                    .send()
                    .await
                    .map_err(|e| {
                        Error::InvalidInput(format!(
                        "secret {}: Secrets Manager GetSecretValue `{id}` in {region} failed: {}",
                        var.key,
                        crate::error::describe(&e)
                    ))
                    })?;
                let text = got.secret_string().ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "secret {}: `{id}` holds no string (binary secrets are not supported)",
                        var.key
                    ))
                })?;
                match field {
                    None => text.to_owned(),
                    Some(field) => serde_json::from_str::<serde_json::Value>(text)
                        .ok()
                        .and_then(|doc| doc.get(field.as_str())?.as_str().map(str::to_owned))
                        .ok_or_else(|| {
                            Error::InvalidInput(format!(
                                "secret {}: `{id}` is not a JSON object with a string field `{field}`",
                                var.key
                            ))
                        })?,
                }
            }
        };
        if out.insert(var.key.clone(), value).is_some() {
            return Err(Error::InvalidInput(format!(
                "secret {} is given twice",
                var.key
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        let v: SecretVar = "CHECKER_SECRET=env:SP_SECRET".parse().unwrap();
        assert_eq!(v.source, SecretSource::Env("SP_SECRET".into()));
        let v: SecretVar = "CLICKHOUSE_PASSWORD=secretsmanager:sp/{region}/ch#password"
            .parse()
            .unwrap();
        assert_eq!(
            v.source,
            SecretSource::SecretsManager {
                id: "sp/{region}/ch".into(),
                field: Some("password".into())
            }
        );
        for bad in [
            "NOEQUALS",
            "=env:X",
            "K=plain",
            "K=env:",
            "K-1=env:X",
            "K=secretsmanager:",
        ] {
            assert!(bad.parse::<SecretVar>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn env_secrets_resolve_and_missing_ones_name_the_key() {
        let config = aws_config::SdkConfig::builder().build();
        let path = std::env::var("PATH").unwrap();
        let vars = vec!["SP_PATH=env:PATH".parse().unwrap()];
        let got = resolve_secrets(&vars, "eu-west-1", &config).await.unwrap();
        assert_eq!(got["SP_PATH"], path);
        let vars = vec!["K=env:SP_SURELY_UNSET_VARIABLE_42".parse().unwrap()];
        let err = resolve_secrets(&vars, "eu-west-1", &config)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("secret K") && err.contains("SP_SURELY_UNSET_VARIABLE_42"),
            "{err}"
        );
    }
}

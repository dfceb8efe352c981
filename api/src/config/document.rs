//! The config file: a tenant's settings as one document, the types a YAML or JSON file is read
//! into and an export is written from. Names, never ids, say what refers to what.

use crate::monitors::DEFAULT_INTERVAL_SECONDS;
use crate::status_page::{Branding, Visibility};
use checker::spec::MonitorSpec;
use serde::{Deserialize, Serialize};

/// The document format this server reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The content type of an exported YAML document, with its charset: without one, clients may
/// read `text/*` as ISO-8859-1 and turn non-ASCII names into control characters.
pub const YAML_CONTENT_TYPE: &str = "text/yaml; charset=utf-8";

/// A tenant's configuration. Exports always carry every section; on import a missing section is
/// left as it is.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDocument {
    /// The format version: 1.
    pub version: u32,
    /// Import only: delete what exists but is not in the file (in the sections the file has).
    /// Without it such things are reported as `unmanaged` and left alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_page: Option<StatusPageConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_groups: Option<Vec<GroupConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<ComponentConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitors: Option<Vec<MonitorConfig>>,
}

/// The status page's settings; never its password or domain verification token. On import a
/// missing field is left as it is; `custom_domain: null` removes the domain.
#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `password` needs a password already set on the account (files never carry one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branding: Option<Branding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_maintenance: Option<bool>,
    /// Show visitors each component's regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_region_detail: Option<bool>,
    /// `24h`, `7d`, `30d` or `90d`: the uptime shown beside each component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_window: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::components::double_option::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub custom_domain: Option<Option<String>>,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub name: String,
    #[serde(default)]
    pub position: i32,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub position: i32,
    /// The name of its component group; absent: in no group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A monitor as the monitor API takes it (`type` and the spec's fields at the top level), with
/// its component by name.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfig {
    pub name: String,
    #[serde(flatten)]
    pub spec: MonitorSpec,
    #[serde(default = "default_interval")]
    pub interval_seconds: i32,
    /// Empty: every region of this deployment.
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The name of the component this monitor feeds; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// How the incident engine confirms an outage; absent: the defaults.
    #[serde(
        default,
        skip_serializing_if = "crate::engine::policy::Confirmation::is_default"
    )]
    pub confirmation: crate::engine::policy::Confirmation,
}

fn default_interval() -> i32 {
    DEFAULT_INTERVAL_SECONDS
}
fn default_true() -> bool {
    true
}

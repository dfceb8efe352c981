//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers' and types' annotations,
//! served at `/api/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "statuspage API",
        version = "1",
        description = "Monitors, components, incidents, maintenance, status pages and notifications of one tenant. \
                       Authenticate with `Authorization: Bearer <API token>`. Errors are RFC 9457 \
                       `application/problem+json`; validation errors name the fields. Creates accept \
                       `Idempotency-Key`; reads return an `ETag` that updates and deletes check in `If-Match`."
    ),
    paths(
        crate::health,
        crate::create_tenant,
        crate::own_status,
        crate::public_status,
        crate::public::public_incidents,
        crate::public::public_maintenances,
        crate::v1::create_monitor,
        crate::v1::list_monitors,
        crate::v1::get_monitor,
        crate::analytics::monitor_analytics,
        crate::v1::replace_monitor,
        crate::v1::delete_monitor,
        crate::v1::create_component,
        crate::v1::list_components,
        crate::v1::get_component,
        crate::v1::patch_component,
        crate::v1::delete_component,
        crate::v1::create_group,
        crate::v1::list_groups,
        crate::v1::get_group,
        crate::v1::patch_group,
        crate::v1::delete_group,
        crate::v1::create_incident,
        crate::v1::list_incidents,
        crate::v1::get_incident,
        crate::v1::patch_incident,
        crate::v1::add_incident_update,
        crate::v1::delete_incident,
        crate::v1::create_maintenance,
        crate::v1::list_maintenances,
        crate::v1::get_maintenance,
        crate::v1::patch_maintenance,
        crate::v1::delete_maintenance,
        crate::v1::audit_log,
        crate::v1::get_status_page,
        crate::v1::patch_status_page,
        crate::v1::verify_status_page_domain,
        crate::v1_notify::create_subscriber,
        crate::v1_notify::list_subscribers,
        crate::v1_notify::get_subscriber,
        crate::v1_notify::delete_subscriber,
        crate::v1_notify::confirm_subscription,
        crate::v1_notify::create_channel,
        crate::v1_notify::list_channels,
        crate::v1_notify::get_channel,
        crate::v1_notify::patch_channel,
        crate::v1_notify::delete_channel,
        crate::v1_notify::create_token,
        crate::v1_notify::list_tokens,
        crate::v1_notify::get_token,
        crate::v1_notify::revoke_token,
        crate::config_io::export_config,
        crate::config_io::import_config,
        crate::members::list_members,
        crate::members::add_member,
        crate::members::patch_member,
        crate::members::remove_member,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`sp_...`) from sign-up or /api/v1/api-tokens",
                    ))
                    .build(),
            ),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

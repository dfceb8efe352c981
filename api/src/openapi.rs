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
        crate::accounts::tenancy::sign_up,
        crate::status_page::routes::own_status,
        crate::status_page::routes::public_status,
        crate::status_page::public::public_incidents,
        crate::status_page::public::public_maintenances,
        crate::monitors::routes::create_monitor,
        crate::monitors::routes::list_monitors,
        crate::monitors::routes::get_monitor,
        crate::monitors::analytics::monitor_analytics,
        crate::monitors::health::monitor_health,
        crate::monitors::routes::replace_monitor,
        crate::monitors::routes::delete_monitor,
        crate::heartbeats::issue_url,
        crate::heartbeats::ping_ok,
        crate::heartbeats::ping_fail,
        crate::custom_metrics::routes::create_metric,
        crate::custom_metrics::routes::list_metrics,
        crate::custom_metrics::routes::get_metric,
        crate::custom_metrics::routes::patch_metric,
        crate::custom_metrics::routes::delete_metric,
        crate::components::routes::create_component,
        crate::components::routes::list_components,
        crate::components::routes::get_component,
        crate::components::routes::patch_component,
        crate::components::routes::delete_component,
        crate::components::routes::create_group,
        crate::components::routes::list_groups,
        crate::components::routes::get_group,
        crate::components::routes::patch_group,
        crate::components::routes::delete_group,
        crate::incidents::routes::create_incident,
        crate::incidents::routes::list_incidents,
        crate::incidents::routes::get_incident,
        crate::incidents::routes::patch_incident,
        crate::incidents::routes::add_incident_update,
        crate::incidents::routes::delete_incident,
        crate::engine::publish::publish_incident,
        crate::maintenance::routes::create_maintenance,
        crate::maintenance::routes::list_maintenances,
        crate::maintenance::routes::get_maintenance,
        crate::maintenance::routes::patch_maintenance,
        crate::maintenance::routes::delete_maintenance,
        crate::rest::audit_log::audit_log,
        crate::status_page::routes::get_status_page,
        crate::status_page::routes::patch_status_page,
        crate::status_page::routes::verify_status_page_domain,
        crate::subscribers::routes::create_subscriber,
        crate::subscribers::routes::list_subscribers,
        crate::subscribers::routes::get_subscriber,
        crate::subscribers::routes::delete_subscriber,
        crate::subscribers::routes::confirm_subscription,
        crate::subscribers::routes::show_confirmation,
        crate::subscribers::routes::show_unsubscribe,
        crate::subscribers::routes::unsubscribe_one_click,
        crate::channels::routes::create_channel,
        crate::channels::routes::list_channels,
        crate::channels::routes::get_channel,
        crate::channels::routes::patch_channel,
        crate::channels::routes::delete_channel,
        crate::channels::routes::test_channel,
        crate::alerts::routes::create_rule,
        crate::alerts::routes::list_rules,
        crate::alerts::routes::get_rule,
        crate::alerts::routes::patch_rule,
        crate::alerts::routes::delete_rule,
        crate::alerts::routes::list_alerts,
        crate::alerts::routes::get_alert,
        crate::alerts::routes::acknowledge_alert,
        crate::alerts::routes::ack_page,
        crate::alerts::routes::ack_by_link,
        crate::outbox::routes::list_deliveries,
        crate::outbox::routes::retry_delivery,
        crate::accounts::tokens::create_token,
        crate::accounts::tokens::list_tokens,
        crate::accounts::tokens::get_token,
        crate::accounts::tokens::revoke_token,
        crate::config::export_config,
        crate::config::import_config,
        crate::accounts::members::list_members,
        crate::accounts::members::add_member,
        crate::accounts::members::patch_member,
        crate::accounts::members::remove_member,
        crate::accounts::invitations::create_invitation,
        crate::accounts::invitations::list_invitations,
        crate::accounts::invitations::revoke_invitation,
        crate::accounts::invitations::accept_invitation,
        crate::accounts::email::confirm_email,
        crate::accounts::email::resend_email_verification,
        crate::accounts::email::request_reset,
        crate::accounts::email::confirm_reset,
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

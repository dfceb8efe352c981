//! What a confirmed change does: the team alert (same dedup key from trigger to recovery, so
//! PagerDuty and Opsgenie resolve what they opened), the incident that opens, follows the regions
//! and resolves itself, and the subscribers' notice, all in the transaction of the change.

use super::state::{duration_words, Facts, MonitorState, Reading, RegionRow, Stored};
use crate::alerts::{self, Alert};
use crate::notify::{EventKind, Message};
use crate::subscribers::notify::{incident_changed, IncidentChange};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

/// Evidence keys only tenant admins see (addresses and raw errors).
pub const ADMIN_ONLY_EVIDENCE: &[&str] = &["resolved_ip", "error"];

/// The evidence as a role may see it: without [`ADMIN_ONLY_EVIDENCE`] unless `admin`.
pub fn evidence_for(evidence: Option<Value>, admin: bool) -> Option<Value> {
    let mut evidence = evidence?;
    if !admin {
        for list in ["failing", "healthy"] {
            if let Some(Value::Array(regions)) = evidence.get_mut(list) {
                for region in regions.iter_mut().filter_map(Value::as_object_mut) {
                    for key in ADMIN_ONLY_EVIDENCE {
                        region.remove(*key);
                    }
                }
            }
        }
    }
    Some(evidence)
}

/// The phase a failure happened in, from its kind.
fn phase_of(failure: &checker::failure::Failure) -> &'static str {
    use checker::failure::{Failure as F, TimeoutPhase as P};
    match failure {
        F::DnsFailure
        | F::Timeout {
            phase: Some(P::Dns),
        } => "dns",
        F::Blocked | F::ConnectionRefused | F::ConnectionFailed => "connect",
        F::Timeout {
            phase: Some(P::Connect),
        } => "connect",
        F::TlsError { .. }
        | F::Timeout {
            phase: Some(P::TlsHandshake),
        } => "tls_handshake",
        F::Timeout {
            phase: Some(P::WaitingForResponse),
        }
        | F::HttpError
        | F::HttpStatus { .. }
        | F::Redirect => "response",
        F::Timeout {
            phase: Some(P::Transfer),
        } => "transfer",
        F::AssertionFailed => "assertion",
        F::DependencyDown => "dependency",
        F::Slow => "timing",
        F::InvalidSpec => "configuration",
        F::Timeout { phase: None } | F::Other => "unknown",
    }
}

fn region_evidence(row: &RegionRow) -> Value {
    let failure: Option<checker::failure::Failure> = row
        .last_failure
        .as_ref()
        .and_then(|f| serde_json::from_value(f.clone()).ok());
    let detail = &row.detail;
    let mut v = json!({
        "region": row.region,
        "status": row.status,
        "since": row.since,
        "checked_at": row.last_checked_at,
        "timings": detail.get("timings"),
    });
    let o = v.as_object_mut().expect("object");
    if row.status != "up" {
        if let Some(f) = failure {
            o.insert("failure".into(), json!(f));
            o.insert("failure_text".into(), json!(f.sentence()));
            o.insert("phase".into(), json!(phase_of(&f)));
        }
        o.insert("error".into(), json!(row.last_error));
    }
    for key in [
        "status_code",
        "resolved_ip",
        "http_version",
        "tls_version",
        "tls_cipher",
        "cert_expires_at",
        "cert_days_left",
        "attempt",
    ] {
        if let Some(value) = detail.get(key) {
            o.insert(key.into(), value.clone());
        }
    }
    v
}

/// Accumulates the effects of one evaluation.
pub(crate) struct Effects {
    facts: Facts,
    reading: Reading,
    rows: Vec<RegionRow>,
    now: DateTime<Utc>,
}

fn component_status(state: MonitorState) -> &'static str {
    match state {
        MonitorState::MajorOutage => "major_outage",
        MonitorState::RegionalOutage => "partial_outage",
        MonitorState::Degraded => "degraded_performance",
        _ => "operational",
    }
}

fn impact(state: MonitorState) -> &'static str {
    match state {
        MonitorState::MajorOutage => "major",
        _ => "minor",
    }
}

impl Effects {
    pub(crate) fn new(
        facts: &Facts,
        reading: &Reading,
        rows: &[RegionRow],
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            facts: facts.clone(),
            reading: reading.clone(),
            rows: rows.to_vec(),
            now,
        }
    }

    fn evidence(&self, state: MonitorState) -> Value {
        let of = |regions: &[String]| -> Vec<Value> {
            regions
                .iter()
                .map(|r| match self.rows.iter().find(|row| &row.region == r) {
                    Some(row) => region_evidence(row),
                    None => json!({ "region": r, "status": "no_data" }),
                })
                .collect()
        };
        let mut bad = self.reading.failing.clone();
        bad.extend(self.reading.degraded.iter().cloned());
        let mut healthy = self.reading.healthy.clone();
        healthy.extend(self.reading.suspect.iter().cloned());
        json!({
            "state": state.as_str(),
            "at": self.now,
            "quorum": self.reading.quorum,
            "regions": self.facts.regions.len(),
            "failing": of(&bad),
            "healthy": of(&healthy),
        })
    }

    /// "eu (timeout (connect)), us (HTTP status 503)".
    fn regions_text(&self, regions: &[String]) -> String {
        regions
            .iter()
            .map(|r| {
                let why = self
                    .rows
                    .iter()
                    .find(|row| &row.region == r)
                    .and_then(|row| row.last_failure.clone())
                    .and_then(|f| serde_json::from_value::<checker::failure::Failure>(f).ok())
                    .map(|f| f.sentence());
                match why {
                    Some(why) => format!("{r} ({why})"),
                    None => r.clone(),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn bad_regions(&self) -> Vec<String> {
        let mut bad = self.reading.failing.clone();
        bad.extend(self.reading.degraded.iter().cloned());
        bad.sort();
        bad
    }

    fn summary(&self, state: MonitorState) -> String {
        let bad = self.bad_regions();
        let mut healthy = self.reading.healthy.clone();
        healthy.extend(self.reading.suspect.iter().cloned());
        healthy.sort();
        let mut text = match state {
            MonitorState::MajorOutage => format!(
                "{} is down: failing in {} of {} regions (quorum {}): {}.",
                self.facts.name,
                self.reading.failing.len(),
                self.facts.regions.len(),
                self.reading.quorum,
                self.regions_text(&bad)
            ),
            MonitorState::RegionalOutage => format!(
                "{} has a regional outage: failing in {} (below the quorum of {} of {} regions).",
                self.facts.name,
                self.regions_text(&bad),
                self.reading.quorum,
                self.facts.regions.len()
            ),
            MonitorState::Degraded => format!(
                "{} is degraded in {}.",
                self.facts.name,
                self.regions_text(&bad)
            ),
            _ => format!("{} is operational again.", self.facts.name),
        };
        if state.is_problem() && !healthy.is_empty() {
            // A region whose re-check has not come back yet is still "up" here: say what is known.
            text.push_str(&format!(" Up at their last check: {}.", healthy.join(", ")));
        }
        text
    }

    fn title(&self, state: MonitorState) -> String {
        match state {
            MonitorState::MajorOutage => format!("{} is down", self.facts.name),
            MonitorState::RegionalOutage => format!(
                "{}: regional outage ({})",
                self.facts.name,
                self.bad_regions().join(", ")
            ),
            MonitorState::Degraded => format!("{} is degraded", self.facts.name),
            _ => format!("{} recovered", self.facts.name),
        }
    }

    async fn alert(
        &self,
        conn: &mut PgConnection,
        stored: &Stored,
        event: EventKind,
        title: String,
        text: String,
        resolved: bool,
    ) -> Result<(), sqlx::Error> {
        let problem = stored.problem_id.unwrap_or(self.facts.id);
        let message = Message {
            id: Uuid::new_v4(),
            tenant_id: self.facts.tenant_id,
            event,
            title,
            text,
            url: None,
            dedup_key: format!("monitor-{}-{problem}", self.facts.id),
            resolved,
            created_at: self.now,
            unsubscribe_url: None,
        };
        alerts::raise(
            conn,
            &Alert {
                message,
                monitor_ids: vec![self.facts.id],
                component_ids: self.facts.component_id.into_iter().collect(),
                incident_id: stored.incident_id,
            },
        )
        .await?;
        Ok(())
    }

    /// The one alert (and timeline entry) a monitor gets when it starts to flap.
    pub(crate) async fn flapping_started(
        &mut self,
        conn: &mut PgConnection,
        stored: &mut Stored,
        held: MonitorState,
        changes: i32,
    ) -> Result<(), sqlx::Error> {
        if held == MonitorState::UnderMaintenance {
            return Ok(());
        }
        let text = format!(
            "{} is flapping: {changes} state changes within {} min. Holding it {} and sending no \
             more alerts until it settles.",
            self.facts.name,
            self.facts.policy.flapping_window_minutes,
            held.label()
        );
        let event = match held {
            MonitorState::MajorOutage => EventKind::Down,
            MonitorState::RegionalOutage => EventKind::RegionalOutage,
            _ => EventKind::Degraded,
        };
        self.alert(
            conn,
            stored,
            event,
            format!("{} is flapping", self.facts.name),
            text.clone(),
            false,
        )
        .await?;
        if let Some(incident) = stored.incident_id {
            self.add_update(conn, incident, "investigating", &text)
                .await?;
        }
        Ok(())
    }

    /// A confirmed change from `from` (the held state) to `to`.
    pub(crate) async fn transition(
        &mut self,
        conn: &mut PgConnection,
        stored: &mut Stored,
        from: MonitorState,
        to: MonitorState,
    ) -> Result<(), sqlx::Error> {
        if to == MonitorState::UnderMaintenance {
            // No alerts, no incidents: the problem (if any) waits for the window to end.
            return Ok(());
        }
        if from == to {
            // Back from maintenance as it was before it.
            return self.regions_moved(conn, stored).await;
        }
        if to.is_problem() {
            if stored.problem_id.is_none() {
                stored.problem_id = Some(Uuid::new_v4());
                stored.problem_since = Some(self.now);
            }
            stored.problem_state = Some(to.as_str().to_owned());
            let event = match to {
                MonitorState::MajorOutage => EventKind::Down,
                MonitorState::RegionalOutage => EventKind::RegionalOutage,
                _ => EventKind::Degraded,
            };
            if to.is_outage() && self.facts.auto_incidents != "off" {
                match stored.incident_id {
                    None => self.open_incident(conn, stored, to).await?,
                    Some(incident) => self.escalate(conn, incident, to).await?,
                }
            } else if let Some(incident) = stored.incident_id {
                self.escalate(conn, incident, to).await?;
            }
            self.alert(conn, stored, event, self.title(to), self.summary(to), false)
                .await?;
        } else if from.is_problem() {
            let lasted = self.now - stored.problem_since.unwrap_or(self.now);
            let text = format!(
                "{} Resolved automatically after {}.",
                self.summary(MonitorState::Operational),
                duration_words(lasted)
            );
            self.alert(
                conn,
                stored,
                EventKind::Recovery,
                self.title(MonitorState::Operational),
                text.clone(),
                true,
            )
            .await?;
            if let Some(incident) = stored.incident_id.take() {
                self.resolve(conn, incident, &text).await?;
            }
            stored.problem_id = None;
            stored.problem_state = None;
            stored.problem_since = None;
        }
        Ok(())
    }

    /// Same state, other regions: the open incident's timeline follows them.
    pub(crate) async fn regions_moved(
        &mut self,
        conn: &mut PgConnection,
        stored: &mut Stored,
    ) -> Result<(), sqlx::Error> {
        let now_bad = self.bad_regions();
        let Some(incident) = stored.incident_id else {
            return Ok(());
        };
        let before = &stored.failing_regions;
        if &now_bad == before {
            return Ok(());
        }
        let recovered: Vec<String> = before
            .iter()
            .filter(|r| !now_bad.contains(r))
            .cloned()
            .collect();
        let newly: Vec<String> = now_bad
            .iter()
            .filter(|r| !before.contains(r))
            .cloned()
            .collect();
        let mut parts = Vec::new();
        if !newly.is_empty() {
            parts.push(format!("Now failing in {}.", self.regions_text(&newly)));
        }
        if !recovered.is_empty() {
            parts.push(format!("Recovered in {}.", recovered.join(", ")));
        }
        if !now_bad.is_empty() {
            parts.push(format!("Still failing in {}.", now_bad.join(", ")));
        }
        let state = stored
            .problem_state
            .as_deref()
            .and_then(MonitorState::parse)
            .unwrap_or(MonitorState::MajorOutage);
        self.set_evidence(conn, incident, state).await?;
        self.add_update(conn, incident, "identified", &parts.join(" "))
            .await
    }

    async fn published(
        &self,
        conn: &mut PgConnection,
        incident: Uuid,
    ) -> Result<bool, sqlx::Error> {
        let published: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
            "SELECT published_at FROM incidents WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.facts.tenant_id)
        .bind(incident)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(matches!(published, Some(Some(_))))
    }

    async fn open_incident(
        &mut self,
        conn: &mut PgConnection,
        stored: &mut Stored,
        state: MonitorState,
    ) -> Result<(), sqlx::Error> {
        // The tenant's plan bounds open incidents; past it the alerts still go out.
        let room: bool = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM incidents WHERE tenant_id = $1 AND status <> 'resolved') \
             < (SELECT max_open_incidents FROM tenants WHERE id = $1)",
        )
        .bind(self.facts.tenant_id)
        .fetch_one(&mut *conn)
        .await?;
        if !room {
            tracing::warn!(tenant = %self.facts.tenant_id, monitor = %self.facts.id,
                "open incident limit reached; the engine raised the alert without an incident");
            return Ok(());
        }
        let id = stored.problem_id.unwrap_or_else(Uuid::new_v4);
        let publish = self.facts.auto_incidents == "publish";
        let started = stored.problem_since.unwrap_or(self.now);
        sqlx::query(
            "INSERT INTO incidents (id, tenant_id, title, status, impact, started_at, source, \
             monitor_id, evidence, published_at) \
             VALUES ($1, $2, $3, 'investigating', $4, $5, 'engine', $6, $7, $8)",
        )
        .bind(id)
        .bind(self.facts.tenant_id)
        .bind(self.title(state))
        .bind(impact(state))
        .bind(started)
        .bind(self.facts.id)
        .bind(self.evidence(state))
        .bind(publish.then_some(self.now))
        .execute(&mut *conn)
        .await?;
        if let Some(component) = self.facts.component_id {
            sqlx::query(
                "INSERT INTO incident_components (tenant_id, incident_id, component_id, status) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(self.facts.tenant_id)
            .bind(id)
            .bind(component)
            .bind(component_status(state))
            .execute(&mut *conn)
            .await?;
        }
        stored.incident_id = Some(id);
        self.insert_update(conn, id, "investigating", &self.summary(state))
            .await?;
        if publish {
            incident_changed(conn, self.facts.tenant_id, id, IncidentChange::Created).await?;
        }
        Ok(())
    }

    async fn set_evidence(
        &self,
        conn: &mut PgConnection,
        incident: Uuid,
        state: MonitorState,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE incidents SET evidence = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.facts.tenant_id)
        .bind(incident)
        .bind(self.evidence(state))
        .bind(self.now)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// A change of level within one open incident (regional ↔ major, degraded).
    async fn escalate(
        &self,
        conn: &mut PgConnection,
        incident: Uuid,
        state: MonitorState,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE incidents SET title = $3, impact = $4, evidence = $5, updated_at = $6, \
             version = version + 1 WHERE tenant_id = $1 AND id = $2 AND status <> 'resolved'",
        )
        .bind(self.facts.tenant_id)
        .bind(incident)
        .bind(self.title(state))
        .bind(impact(state))
        .bind(self.evidence(state))
        .bind(self.now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE incident_components SET status = $3 WHERE tenant_id = $1 AND incident_id = $2",
        )
        .bind(self.facts.tenant_id)
        .bind(incident)
        .bind(component_status(state))
        .execute(&mut *conn)
        .await?;
        self.add_update(conn, incident, "identified", &self.summary(state))
            .await
    }

    async fn resolve(
        &self,
        conn: &mut PgConnection,
        incident: Uuid,
        text: &str,
    ) -> Result<(), sqlx::Error> {
        let done = sqlx::query(
            "UPDATE incidents SET status = 'resolved', resolved_at = $3, updated_at = $3, \
             version = version + 1 WHERE tenant_id = $1 AND id = $2 AND status <> 'resolved'",
        )
        .bind(self.facts.tenant_id)
        .bind(incident)
        .bind(self.now)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            // Resolved by a person already: nothing more to say.
            return Ok(());
        }
        sqlx::query(
            "UPDATE incident_components SET status = 'operational' WHERE tenant_id = $1 AND incident_id = $2",
        )
        .bind(self.facts.tenant_id)
        .bind(incident)
        .execute(&mut *conn)
        .await?;
        self.insert_update(conn, incident, "resolved", text).await?;
        if self.published(conn, incident).await? {
            incident_changed(
                conn,
                self.facts.tenant_id,
                incident,
                IncidentChange::Resolved,
            )
            .await?;
        }
        Ok(())
    }

    /// A timeline entry on an open incident (and the subscribers' notice when published).
    async fn add_update(
        &self,
        conn: &mut PgConnection,
        incident: Uuid,
        status: &str,
        message: &str,
    ) -> Result<(), sqlx::Error> {
        let open: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM incidents WHERE tenant_id = $1 AND id = $2 AND status <> 'resolved')",
        )
        .bind(self.facts.tenant_id)
        .bind(incident)
        .fetch_one(&mut *conn)
        .await?;
        if !open {
            return Ok(());
        }
        if self.insert_update(conn, incident, status, message).await?
            && self.published(conn, incident).await?
        {
            incident_changed(
                conn,
                self.facts.tenant_id,
                incident,
                IncidentChange::Updated,
            )
            .await?;
        }
        Ok(())
    }

    /// Inserts a timeline entry within the plan's bound; false when the bound is reached.
    async fn insert_update(
        &self,
        conn: &mut PgConnection,
        incident: Uuid,
        status: &str,
        message: &str,
    ) -> Result<bool, sqlx::Error> {
        let room: bool = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM incident_updates WHERE tenant_id = $1 AND incident_id = $2) \
             < (SELECT max_updates_per_incident FROM tenants WHERE id = $1)",
        )
        .bind(self.facts.tenant_id)
        .bind(incident)
        .fetch_one(&mut *conn)
        .await?;
        if !room {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO incident_updates (id, tenant_id, incident_id, status, message, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::new_v4())
        .bind(self.facts.tenant_id)
        .bind(incident)
        .bind(status)
        .bind(message)
        .bind(self.now)
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE incidents SET status = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2 AND status <> 'resolved' AND $3 <> 'resolved'")
            .bind(self.facts.tenant_id)
            .bind(incident)
            .bind(status)
            .bind(self.now)
            .execute(&mut *conn)
            .await?;
        Ok(true)
    }
}

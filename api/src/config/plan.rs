//! The plan: what an import changes, per kind and by name, worked out against the account as
//! it is, with every problem in the file found at once. A dry run reports it; [`super::apply`]
//! carries it out.

use super::account::{Current, Limits};
use super::document::{
    ComponentConfig, ConfigDocument, GroupConfig, MonitorConfig, FORMAT_VERSION,
};
use super::monitors::plan_monitors;
use super::page::plan_page;
use crate::rest::error::{ApiError, ApiResult, FieldProblem};
use crate::status_page::{Branding, Visibility};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// What an import does (or did, with `applied: true`), per kind, by name.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct ImportPlan {
    pub dry_run: bool,
    /// Whether the plan was carried out (only ever all of it).
    pub applied: bool,
    pub prune: bool,
    pub status_page: StatusPagePlan,
    pub component_groups: KindPlan,
    pub components: KindPlan,
    pub monitors: KindPlan,
    pub summary: PlanCounts,
}

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageAction {
    Update,
    Unchanged,
    /// The file has no `status_page` section.
    Unmanaged,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct StatusPagePlan {
    pub action: PageAction,
    /// The settings that change, e.g. `title`.
    pub changes: Vec<String>,
}

/// Names per action, each list sorted by name.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Serialize)]
pub struct KindPlan {
    /// In the file, not in the account.
    pub create: Vec<String>,
    /// In both, different.
    pub update: Vec<PlannedUpdate>,
    /// In the account, not in the file, with `prune: true`.
    pub delete: Vec<String>,
    /// In both, the same.
    pub unchanged: Vec<String>,
    /// In the account, not in the file, without `prune` (or the file has no such section).
    pub unmanaged: Vec<String>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct PlannedUpdate {
    pub name: String,
    /// The fields that change, as the file names them (`url`, `interval_seconds`, `group`...).
    pub changes: Vec<String>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    pub unmanaged: usize,
}

impl KindPlan {
    fn sort(&mut self) {
        self.create.sort();
        self.update.sort_by(|a, b| a.name.cmp(&b.name));
        self.delete.sort();
        self.unchanged.sort();
        self.unmanaged.sort();
    }

    fn counts(&self) -> PlanCounts {
        PlanCounts {
            create: self.create.len(),
            update: self.update.len(),
            delete: self.delete.len(),
            unchanged: self.unchanged.len(),
            unmanaged: self.unmanaged.len(),
        }
    }
}

impl std::ops::Add for PlanCounts {
    type Output = Self;

    fn add(self, o: Self) -> Self {
        Self {
            create: self.create + o.create,
            update: self.update + o.update,
            delete: self.delete + o.delete,
            unchanged: self.unchanged + o.unchanged,
            unmanaged: self.unmanaged + o.unmanaged,
        }
    }
}

pub(super) fn problem(field: String, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field,
        message: message.into(),
    }
}

pub(super) fn name_problem(at: &str, name: &str) -> Option<FieldProblem> {
    crate::components::name_problem_at(&format!("{at}.name"), name)
}

/// `kind[i].name` for every name that an earlier entry already has.
pub(super) fn duplicate_problems<'a>(
    kind: &str,
    names: impl Iterator<Item = &'a str>,
) -> Vec<FieldProblem> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut problems = Vec::new();
    for (i, name) in names.enumerate() {
        let name = name.trim();
        if let Some(first) = seen.get(name) {
            problems.push(problem(
                format!("{kind}[{i}].name"),
                format!("{name:?} appears twice in the file (also {kind}[{first}])"),
            ));
        } else {
            seen.insert(name, i);
        }
    }
    problems
}

/// The status page's settings after the import.
pub(super) struct PageWrite {
    pub(super) title: String,
    pub(super) description: String,
    pub(super) visibility: Visibility,
    pub(super) branding: Branding,
    pub(super) exclude_maintenance: bool,
    pub(super) custom_domain: Option<String>,
    pub(super) domain_changed: bool,
    pub(super) show_region_detail: bool,
    pub(super) uptime_window: String,
}

/// The rows one kind's part of the plan writes.
pub(super) struct Writes<T> {
    pub(super) creates: Vec<T>,
    pub(super) updates: Vec<(Uuid, T)>,
    pub(super) deletes: Vec<Uuid>,
}

impl<T> Default for Writes<T> {
    fn default() -> Self {
        Self {
            creates: Vec::new(),
            updates: Vec::new(),
            deletes: Vec::new(),
        }
    }
}

/// One kind's part of the plan, its writes, and the names the kind has after the import.
pub(super) struct Section<T> {
    pub(super) plan: KindPlan,
    pub(super) writes: Writes<T>,
    pub(super) after: HashSet<String>,
}

/// The plan and the writes that carry it out.
pub(super) struct Work {
    pub(super) plan: ImportPlan,
    pub(super) page: Option<PageWrite>,
    pub(super) groups: Writes<GroupConfig>,
    pub(super) components: Writes<ComponentConfig>,
    pub(super) monitors: Writes<MonitorConfig>,
}

/// Existing things the file does not name: deleted with prune, left alone otherwise. Answers
/// the names the kind has after the import: the file's, plus what exists and is not deleted.
pub(super) fn leftovers<'a>(
    existing: impl Iterator<Item = (&'a str, Uuid)>,
    in_file: Option<HashSet<String>>,
    prune: bool,
    plan: &mut KindPlan,
    deletes: &mut Vec<Uuid>,
) -> HashSet<String> {
    let mut after = in_file.clone().unwrap_or_default();
    for (name, id) in existing {
        match &in_file {
            Some(names) if names.contains(name) => {}
            Some(_) if prune => {
                plan.delete.push(name.to_owned());
                deletes.push(id);
            }
            _ => {
                plan.unmanaged.push(name.to_owned());
                after.insert(name.to_owned());
            }
        }
    }
    after
}

pub(super) fn trimmed_names<'a>(names: impl Iterator<Item = &'a str>) -> HashSet<String> {
    names.map(|n| n.trim().to_owned()).collect()
}

/// Validates the document against the account and works out the plan. Every problem in the file
/// is reported at once (422); then the plan's limits (403).
#[allow(clippy::too_many_arguments)]
pub(super) async fn plan(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    doc: ConfigDocument,
    tree: &Value,
    current: &Current,
    limits: &Limits,
    regions: &[String],
    base_domain: &str,
    sees_secrets: bool,
) -> ApiResult<Work> {
    let mut problems: Vec<FieldProblem> = Vec::new();
    if doc.version != FORMAT_VERSION {
        problems.push(problem(
            "version".into(),
            format!(
                "unsupported version {}; this server reads version {FORMAT_VERSION}",
                doc.version
            ),
        ));
    }
    let prune = doc.prune;
    let (page_plan, page) = match &doc.status_page {
        Some(page) => {
            plan_page(
                conn,
                tenant_id,
                page,
                &current.page,
                base_domain,
                &mut problems,
            )
            .await?
        }
        None => (
            StatusPagePlan {
                action: PageAction::Unmanaged,
                changes: Vec::new(),
            },
            None,
        ),
    };
    let mut groups = plan_groups(
        doc.component_groups.as_deref(),
        current,
        prune,
        &mut problems,
    );
    let mut components = plan_components(
        doc.components.as_deref(),
        current,
        &groups.after,
        prune,
        &mut problems,
    );
    let mut monitors = plan_monitors(
        doc.monitors,
        &tree["monitors"],
        current,
        &components.after,
        limits,
        regions,
        prune,
        sees_secrets,
        &mut problems,
    );

    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    let after = |existing: usize, plan: &KindPlan| existing - plan.delete.len() + plan.create.len();
    if !components.plan.create.is_empty()
        && after(current.components.len(), &components.plan) > limits.max_components as usize
    {
        return Err(ApiError::Forbidden(format!(
            "your plan allows {} components and the file would make {}; remove some or upgrade the plan",
            limits.max_components,
            after(current.components.len(), &components.plan)
        )));
    }
    if !monitors.plan.create.is_empty()
        && after(current.monitors.len(), &monitors.plan) > limits.max_monitors as usize
    {
        return Err(ApiError::Forbidden(format!(
            "your plan allows {} monitors and the file would make {}; remove some or upgrade the plan",
            limits.max_monitors,
            after(current.monitors.len(), &monitors.plan)
        )));
    }

    for kind in [&mut groups.plan, &mut components.plan, &mut monitors.plan] {
        kind.sort();
    }
    let summary = groups.plan.counts() + components.plan.counts() + monitors.plan.counts();
    Ok(Work {
        plan: ImportPlan {
            dry_run: true,
            applied: false,
            prune,
            status_page: page_plan,
            component_groups: groups.plan,
            components: components.plan,
            monitors: monitors.plan,
            summary,
        },
        page,
        groups: groups.writes,
        components: components.writes,
        monitors: monitors.writes,
    })
}

/// The component groups section.
fn plan_groups(
    groups: Option<&[GroupConfig]>,
    current: &Current,
    prune: bool,
    problems: &mut Vec<FieldProblem>,
) -> Section<GroupConfig> {
    let mut plan = KindPlan::default();
    let mut writes = Writes::default();
    let in_file = groups.map(|gs| trimmed_names(gs.iter().map(|g| g.name.as_str())));
    if let Some(groups) = groups {
        problems.extend(duplicate_problems(
            "component_groups",
            groups.iter().map(|g| g.name.as_str()),
        ));
        for (i, group) in groups.iter().enumerate() {
            problems.extend(name_problem(&format!("component_groups[{i}]"), &group.name));
            let group = GroupConfig {
                name: group.name.trim().to_owned(),
                position: group.position,
            };
            match current.groups.iter().find(|g| g.name == group.name) {
                None => {
                    plan.create.push(group.name.clone());
                    writes.creates.push(group);
                }
                Some(now) if now.position != group.position => {
                    plan.update.push(PlannedUpdate {
                        name: group.name.clone(),
                        changes: vec!["position".into()],
                    });
                    writes.updates.push((now.id, group));
                }
                Some(_) => plan.unchanged.push(group.name),
            }
        }
    }
    let after = leftovers(
        current.groups.iter().map(|g| (g.name.as_str(), g.id)),
        in_file,
        prune,
        &mut plan,
        &mut writes.deletes,
    );
    Section {
        plan,
        writes,
        after,
    }
}

/// The components section; a component's group must exist after the import.
fn plan_components(
    components: Option<&[ComponentConfig]>,
    current: &Current,
    groups_after: &HashSet<String>,
    prune: bool,
    problems: &mut Vec<FieldProblem>,
) -> Section<ComponentConfig> {
    let mut plan = KindPlan::default();
    let mut writes = Writes::default();
    let in_file = components.map(|cs| trimmed_names(cs.iter().map(|c| c.name.as_str())));
    if let Some(components) = components {
        problems.extend(duplicate_problems(
            "components",
            components.iter().map(|c| c.name.as_str()),
        ));
        for (i, component) in components.iter().enumerate() {
            let at = format!("components[{i}]");
            problems.extend(name_problem(&at, &component.name));
            problems.extend(crate::components::description_problem_at(
                &format!("{at}.description"),
                &component.description,
            ));
            let group = component.group.as_deref().map(|g| g.trim().to_owned());
            if let Some(group) = &group {
                if !groups_after.contains(group) {
                    problems.push(problem(
                        format!("{at}.group"),
                        format!("no component group named {group:?} (in the file or the account)"),
                    ));
                }
            }
            let component = ComponentConfig {
                name: component.name.trim().to_owned(),
                description: component.description.clone(),
                position: component.position,
                group,
            };
            match current.components.iter().find(|c| c.name == component.name) {
                None => {
                    plan.create.push(component.name.clone());
                    writes.creates.push(component);
                }
                Some(now) => {
                    let changes: Vec<String> = [
                        ("description", now.description != component.description),
                        ("position", now.position != component.position),
                        (
                            "group",
                            current.group_name(now.group_id) != component.group.as_deref(),
                        ),
                    ]
                    .into_iter()
                    .filter(|(_, changed)| *changed)
                    .map(|(name, _)| name.to_owned())
                    .collect();
                    if changes.is_empty() {
                        plan.unchanged.push(component.name);
                    } else {
                        plan.update.push(PlannedUpdate {
                            name: component.name.clone(),
                            changes,
                        });
                        writes.updates.push((now.id, component));
                    }
                }
            }
        }
    }
    let after = leftovers(
        current.components.iter().map(|c| (c.name.as_str(), c.id)),
        in_file,
        prune,
        &mut plan,
        &mut writes.deletes,
    );
    Section {
        plan,
        writes,
        after,
    }
}
